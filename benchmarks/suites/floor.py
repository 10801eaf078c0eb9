"""Suite 1, floor: a bare PriorityQueue between two threads, the limit of everything else."""

from __future__ import annotations

from benchmarks.baseline import candidate_throughput, floor_latency, floor_throughput
from benchmarks.config import Sizes
from benchmarks.results import JsonObject, Row, SuiteResult, fmt_rate, latency_text
from benchmarks.stats import median, settle, spread, summarize_ns
from benchmarks.workloads import Progress

TITLE = "floor: bare queue.PriorityQueue, 1 producer -> 1 do-nothing consumer"


def run(sizes: Sizes, progress: Progress) -> SuiteResult:
    result = SuiteResult("floor", TITLE)
    rates: list[float] = []
    candidate: list[float] = []
    for rep in range(sizes.floor_reps):
        settle()
        rates.append(floor_throughput(sizes.floor_events, producers=1))
        settle()
        candidate.append(candidate_throughput(sizes.floor_events))
        progress(f"throughput rep {rep + 1}/{sizes.floor_reps}: {rates[-1]:,.0f} events/s "
                 f"(candidate SimpleQueue hand-off {candidate[-1]:,.0f})")
    ratios = [c / r for c, r in zip(candidate, rates, strict=True) if r]
    result.figures["events"] = sizes.floor_events
    result.figures["throughput_events_per_s"] = spread(rates)
    result.figures["candidate_simplequeue_events_per_s"] = spread(candidate)
    result.figures["candidate_ratio_to_floor"] = round(median(ratios), 2)
    result.rows.append(Row(f"throughput, median of {len(rates)} ({sizes.floor_events:,} ev)",
                           f"{fmt_rate(median(rates))} (min {min(rates):,.0f}, "
                           f"max {max(rates):,.0f})"))
    result.rows.append(Row("(candidate, not the floor) SimpleQueue + consumer-side heap",
                           fmt_rate(median(candidate)),
                           baseline=f"floor {fmt_rate(median(rates))}", ratio=median(ratios)))
    latency: JsonObject = {}
    for rate in (*sizes.latency_rates_hz, sizes.sustain_rate_hz):
        settle()
        paced, samples = floor_latency(rate, sizes.floor_latency_duration_s)
        summary = summarize_ns(samples)
        summary.update(offered_hz=round(paced.offered_hz), batch=paced.batch,
                       max_depth=paced.max_depth)
        latency[str(rate)] = summary
        progress(f"latency @ {rate:,}/s: p99 {summary['p99_us']} us")
        result.rows.append(Row(f"publish->consumer @ {rate:,}/s  p50/p99/p99.9/max",
                               latency_text(summary)))
    result.figures["latency_by_rate_hz"] = latency
    result.notes.append("Payload is one pre-built MarketData; tuples are (priority, seq, t_ns, "
                        "obj) as Dispatcher.publish puts them. Paced runs publish "
                        "0.5 ms worth of events per batch, then sleep.")
    result.notes.append("The candidate row measures a possible dispatcher hand-off (producers "
                        "put into queue.SimpleQueue; the one consumer heaps what has arrived "
                        "before each pop): same priority order, no Python-level lock.")
    return result
