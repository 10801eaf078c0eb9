"""Suite 2, engine_throughput: market data from 1 and 4 producer threads, flat out.

Each cell is (variant, event construction, producer count). Producers build their events
in the timed loop (``trusted`` as feeds do, or validated ``MarketData(...)`` as the CSV
reader does) and call ``publish``. Repetitions are interleaved with the floor (a bare
PriorityQueue with the same producer count), and each cell's ratio is the median of the
per-repetition ratios to the floor measured next to it, which cancels slow drift in the
machine's load. A variant that names another in ``compare_to`` (a layer on top of it) is
also reported as the median of its per-repetition ratios to that variant: what the layer
costs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import perf_counter_ns

from benchmarks.baseline import floor_throughput
from benchmarks.config import Sizes
from benchmarks.results import JsonObject, Row, SuiteResult, Target, fmt_rate
from benchmarks.stats import median, settle, spread
from benchmarks.variants import VARIANTS, Pipeline
from benchmarks.workloads import Progress, TickSource
from livetrade.events import MarketData

TITLE = "engine_throughput: MarketData through Dispatcher / LiveTradingEngine (events/s)"
PRODUCERS = (1, 4)
CONSTRUCTIONS = ("trusted", "validated")
RATIO_TARGET = 0.5


def measure(pipeline: Pipeline, make: Callable[[int], MarketData], events: int,
            producers: int, timeout_s: float) -> tuple[float, bool]:
    """Events/s from release of the producers to the handling of the last event. Blocks."""
    publish = pipeline.publish
    gate = threading.Barrier(producers + 1)
    share, extra = divmod(events, producers)

    def produce(first: int, count: int) -> None:
        gate.wait()
        for i in range(first, first + count):
            publish(make(i))

    threads = []
    first = 0
    for k in range(producers):
        count = share + (1 if k < extra else 0)
        threads.append(threading.Thread(target=produce, args=(first, count), daemon=True,
                                        name=f"bench-producer-{k}"))
        first += count
    pipeline.start()
    try:
        for thread in threads:
            thread.start()
        gate.wait()
        started = perf_counter_ns()
        finished = pipeline.wait_done(timeout_s)
        for thread in threads:
            thread.join(timeout_s)
    finally:
        pipeline.stop()
    if finished is None:
        elapsed = (perf_counter_ns() - started) / 1e9
        return pipeline.handled() / elapsed, False
    return events / ((finished - started) / 1e9), True


def run(sizes: Sizes, progress: Progress) -> SuiteResult:
    result = SuiteResult("engine_throughput", TITLE)
    n = sizes.throughput_events
    source = TickSource()
    makers: dict[str, Callable[[int], MarketData]] = {
        "trusted": source.trusted, "validated": source.validated}
    available = [v for v in VARIANTS if v.build is not None]
    floors: dict[int, list[float]] = {p: [] for p in PRODUCERS}
    rates: dict[str, list[float]] = {}
    ratios: dict[str, list[float]] = {}
    layer_ratios: dict[str, list[float]] = {}
    incomplete: list[str] = []
    for rep in range(sizes.throughput_reps):
        for producers in PRODUCERS:
            settle()
            floors[producers].append(floor_throughput(n, producers))
            for variant in available:
                assert variant.build is not None
                for construction in CONSTRUCTIONS:
                    key = f"{variant.name}/{construction}/{producers}p"
                    settle()
                    rate, complete = measure(variant.build(n), makers[construction], n,
                                             producers, sizes.drain_timeout_s)
                    if not complete:
                        incomplete.append(key)
                    rates.setdefault(key, []).append(rate)
                    floor = floors[producers][-1]
                    ratios.setdefault(key, []).append(rate / floor if floor else 0.0)
                    base_key = f"{variant.compare_to}/{construction}/{producers}p"
                    if variant.compare_to and rates.get(base_key):
                        base = rates[base_key][-1]  # same rep: the base variant ran first
                        layer_ratios.setdefault(key, []).append(rate / base if base else 0.0)
        progress(f"rep {rep + 1}/{sizes.throughput_reps}: floor 1p "
                 f"{floors[1][-1]:,.0f}/s, full_engine/trusted/1p "
                 f"{rates.get('full_engine/trusted/1p', [0.0])[-1]:,.0f}/s")

    result.figures["events_per_cell"] = n
    result.figures["reps"] = sizes.throughput_reps
    result.figures["floor"] = {f"{p}p": spread(floors[p]) for p in PRODUCERS}
    variants_json: JsonObject = {}
    for variant in VARIANTS:
        entry: JsonObject = {"description": variant.description,
                             "available": variant.build is not None}
        if variant.build is None:
            entry["unavailable"] = variant.unavailable
        else:
            cells: JsonObject = {}
            for construction in CONSTRUCTIONS:
                for producers in PRODUCERS:
                    key = f"{variant.name}/{construction}/{producers}p"
                    cell: JsonObject = {
                        "events_per_s": spread(rates[key]),
                        "ratio_to_floor": round(median(ratios[key]), 3),
                    }
                    if key in layer_ratios:
                        cell["ratio_to_compare_to"] = round(median(layer_ratios[key]), 3)
                    cells[f"{construction}/{producers}p"] = cell
            entry["cells"] = cells
            if variant.compare_to:
                entry["compare_to"] = variant.compare_to
        variants_json[variant.name] = entry
    result.figures["variants"] = variants_json

    for producers in PRODUCERS:
        result.rows.append(Row(f"floor (bare PriorityQueue), {producers} producer(s)",
                               fmt_rate(median(floors[producers]))))
    for variant in VARIANTS:
        if variant.build is None:
            result.rows.append(Row(f"{variant.name}", "not yet available"))
            continue
        for construction in CONSTRUCTIONS:
            for producers in PRODUCERS:
                key = f"{variant.name}/{construction}/{producers}p"
                target_name = ""
                if variant.name == "full_engine" and construction == "trusted":
                    target_name = f"full_engine_trusted_{producers}p_ratio_to_floor"
                    result.targets[target_name] = Target(
                        round(median(ratios[key]), 3), RATIO_TARGET, ">=")
                result.rows.append(Row(
                    f"{variant.name}, {construction} events, {producers}p",
                    fmt_rate(median(rates[key])),
                    baseline=f"floor {fmt_rate(median(floors[producers]))}",
                    ratio=median(ratios[key]), target=target_name))
        for producers in PRODUCERS:
            key = f"{variant.name}/trusted/{producers}p"
            if key not in layer_ratios:
                continue
            base_key = f"{variant.compare_to}/trusted/{producers}p"
            result.rows.append(Row(
                f"  layer cost: {variant.name} vs {variant.compare_to}, trusted, "
                f"{producers}p", fmt_rate(median(rates[key])),
                baseline=f"{variant.compare_to} {fmt_rate(median(rates[base_key]))}",
                ratio=median(layer_ratios[key])))
    result.notes.append(
        "Producers build events inside the timed loop (floor producers reuse one pre-built "
        "event), so construction is billed to the engine side. The conflation watermark is "
        "set beyond reach so every event is handled; overload covers conflation.")
    result.notes.append(
        "MarkToMarket strategy: ctx.last_price(symbol) + Portfolio.equity() over 4 seeded "
        "positions per tick; the paper broker's on_market_data also runs per tick.")
    for variant in available:
        if variant.compare_to:
            result.notes.append(f"{variant.name}: {variant.description}. Layer cost = median "
                                f"per-rep ratio to {variant.compare_to}.")
    if incomplete:
        result.notes.append(f"timed out before handling every event: {', '.join(incomplete)}")
    return result
