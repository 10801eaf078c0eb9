"""Suite 4, overload: market data above saturation, conflation on, high-priority events injected.

Producer threads publish ticks for 16 symbols as fast as they can (live settings: the
"conflate" policy with the default 10,000-event watermark). Meanwhile an injector thread
publishes ``OrderFill`` and ``SystemErrorEvent`` events at a paced rate; every one of them
must reach the strategy (fills are for orders the engine never sent: it books them and
reports each with a warning event, which is what a late fill after a restart looks like).
A sampler thread records the queue depth every 5 ms. The baseline is the same injection
into an idle engine, measured just before.
"""

from __future__ import annotations

import threading
import time
from time import perf_counter_ns

from benchmarks.config import Sizes
from benchmarks.results import JsonObject, Row, SuiteResult, Target, fmt_rate, latency_text
from benchmarks.stats import rss_mb, settle, summarize_ns
from benchmarks.workloads import (
    InjectionProbe,
    Progress,
    TickSource,
    build_engine,
    injected_error,
    injected_fill,
)
from livetrade.engine import EngineSettings, LiveTradingEngine

TITLE = "overload: flat-out market data with conflation, fills and errors injected"
SYMBOLS_16 = tuple(f"S{k:02d}" for k in range(16))
_JOIN_S = 30.0


class _Injector:
    """Publishes a fill, then an error, alternately, at ``rate_hz`` in total, until stopped."""

    def __init__(self, engine: LiveTradingEngine, probe: InjectionProbe, rate_hz: int) -> None:
        self._engine = engine
        self._probe = probe
        self._interval = 1.0 / rate_hz
        self.stop = threading.Event()
        self.fills = 0
        self.errors = 0
        self.publish_call_ns: list[int] = []
        self.thread = threading.Thread(target=self._run, name="bench-injector", daemon=True)

    def _run(self) -> None:
        publish = self._engine.dispatcher.publish  # as a broker thread is given
        i = 0
        next_due = time.perf_counter()
        while not self.stop.is_set():
            if i % 2 == 0:
                fill = injected_fill(i)
                sent = self._probe.fill_sent_ns[fill.fill_id] = perf_counter_ns()
                publish(fill)
                self.fills += 1
            else:
                error = injected_error(i)
                sent = self._probe.error_sent_ns[str(i)] = perf_counter_ns()
                publish(error)
                self.errors += 1
            self.publish_call_ns.append(perf_counter_ns() - sent)
            i += 1
            next_due += self._interval
            delay = next_due - time.perf_counter()
            if delay > 0:
                self.stop.wait(delay)


def _wait_delivered(engine: LiveTradingEngine, probe: InjectionProbe, injector: _Injector,
                    timeout_s: float) -> float:
    started = time.perf_counter()
    deadline = started + timeout_s
    while time.perf_counter() < deadline:
        if (engine.dispatcher.queue_depth == 0
                and len(probe.fill_latency_ns) >= injector.fills
                and len(probe.error_latency_ns) >= injector.errors):
            break
        time.sleep(0.002)
    return time.perf_counter() - started


def idle_baseline(sizes: Sizes) -> JsonObject:
    """Injection alone into an idle engine: the latency fills have with no market data."""
    probe = InjectionProbe()
    engine = build_engine(probe, EngineSettings())
    injector = _Injector(engine, probe, sizes.overload_inject_hz)
    engine.start()
    try:
        injector.thread.start()
        time.sleep(sizes.overload_idle_s)
        injector.stop.set()
        injector.thread.join(_JOIN_S)
        _wait_delivered(engine, probe, injector, sizes.drain_timeout_s)
    finally:
        engine.stop()
    return {"fills_injected": injector.fills, "fills_delivered": len(probe.fill_latency_ns),
            "publish_call": summarize_ns(injector.publish_call_ns),
            "fill_latency": summarize_ns(probe.fill_latency_ns),
            "error_latency": summarize_ns(probe.error_latency_ns)}


def run(sizes: Sizes, progress: Progress) -> SuiteResult:
    result = SuiteResult("overload", TITLE)
    settle()
    idle = idle_baseline(sizes)
    idle_fill = idle["fill_latency"]
    assert isinstance(idle_fill, dict)
    progress(f"idle baseline: fill p99 {idle_fill['p99_us']} us")

    settle()
    probe = InjectionProbe()
    engine = build_engine(probe, EngineSettings(stop_timeout_s=sizes.drain_timeout_s))
    source = TickSource(SYMBOLS_16)
    stop = threading.Event()
    published = [0] * sizes.overload_producers
    depth_max = [0]

    def produce(k: int) -> None:
        publish = engine.dispatcher.publish  # what engine.start() hands every feed
        make = source.trusted
        i = k
        step = sizes.overload_producers
        n = 0
        while not stop.is_set():
            publish(make(i))
            i += step
            n += 1
            if n & 1023 == 0:
                published[k] = n
        published[k] = n

    def sample() -> None:
        while not stop.wait(0.005):
            depth = engine.dispatcher.queue_depth
            if depth > depth_max[0]:
                depth_max[0] = depth

    producers = [threading.Thread(target=produce, args=(k,), daemon=True,
                                  name=f"bench-flood-{k}")
                 for k in range(sizes.overload_producers)]
    sampler = threading.Thread(target=sample, name="bench-sampler", daemon=True)
    injector = _Injector(engine, probe, sizes.overload_inject_hz)
    rss_before = rss_mb()
    engine.start()
    try:
        started = time.perf_counter()
        for thread in (*producers, sampler, injector.thread):
            thread.start()
        progress(f"flooding for {sizes.overload_duration_s:g} s")
        stop.wait(sizes.overload_duration_s)
        stop.set()
        injector.stop.set()
        for thread in (*producers, sampler, injector.thread):
            thread.join(_JOIN_S)
        flood_s = time.perf_counter() - started
        handled_during = probe.seen
        rss_after = rss_mb()
        depth_at_stop = engine.dispatcher.queue_depth
        drain_s = _wait_delivered(engine, probe, injector, sizes.drain_timeout_s)
        rss_drained = rss_mb()
    finally:
        report = engine.stop()
    md_published = sum(published)
    conflated = engine.dispatcher.conflated
    fills_ok = len(probe.fill_latency_ns)
    errors_ok = len(probe.error_latency_ns)
    fill_latency = summarize_ns(probe.fill_latency_ns)
    publish_call = summarize_ns(injector.publish_call_ns)
    idle_call = idle["publish_call"]
    assert isinstance(idle_call, dict)

    result.figures.update(
        duration_s=round(flood_s, 3),
        producers=sizes.overload_producers,
        symbols=len(SYMBOLS_16),
        conflate_depth=engine.settings.conflate_depth,
        md_published=md_published,
        md_offered_per_s=round(md_published / flood_s),
        md_handled=probe.seen,
        md_handled_per_s_during_flood=round(handled_during / flood_s),
        conflated=conflated,
        md_accounted=probe.seen + conflated == md_published,
        max_queue_depth=depth_max[0],
        queue_depth_at_stop=depth_at_stop,
        drain_s=round(drain_s, 3),
        fills_injected=injector.fills,
        fills_delivered=fills_ok,
        errors_injected=injector.errors,
        errors_delivered=errors_ok,
        fill_latency=fill_latency,
        error_latency=summarize_ns(probe.error_latency_ns),
        injector_publish_call=publish_call,
        idle_baseline=idle,
        rss_before_mb=round(rss_before, 1),
        rss_after_mb=round(rss_after, 1),
        rss_after_drain_mb=round(rss_drained, 1),
        undelivered_at_stop=len(report.undelivered),
    )
    result.targets["fills_delivered"] = Target(fills_ok, injector.fills, "==")
    result.targets["errors_delivered"] = Target(errors_ok, injector.errors, "==")
    result.targets["market_data_accounted"] = Target(
        probe.seen + conflated == md_published, True, "==",
        note="handled + conflated == published")
    result.rows += [
        Row("market data offered / handled during flood",
            f"{fmt_rate(md_published / flood_s)} / {fmt_rate(handled_during / flood_s)}"),
        Row("conflated / max queue depth (sampled 5 ms)",
            f"{conflated:,} / {depth_max[0]:,}",
            baseline=f"watermark {engine.settings.conflate_depth:,}"),
        Row("handled + conflated == published", str(probe.seen + conflated == md_published),
            target="market_data_accounted"),
        Row("fills delivered / injected", f"{fills_ok:,} / {injector.fills:,}",
            target="fills_delivered"),
        Row("system errors delivered / injected", f"{errors_ok:,} / {injector.errors:,}",
            target="errors_delivered"),
        Row("fill publish->on_fill p50/p99/p99.9/max", latency_text(fill_latency),
            baseline=f"idle {latency_text(idle_fill)}"),
        Row("injector: time inside publish() p50/p99/p99.9/max", latency_text(publish_call),
            baseline=f"idle {latency_text(idle_call)}"),
        Row("RSS before / after flood / after drain",
            f"{rss_before:,.1f} / {rss_after:,.1f} / {rss_drained:,.1f} MB"),
    ]
    result.notes.append(
        "Fill latency is stamped just before publish(), so it includes any wait to get into "
        "the queue (its lock and the GIL) as well as the wait to be dispatched.")
    result.notes.append(
        f"{sizes.overload_producers} producer threads, unpaced, trusted ticks over 16 symbols; "
        f"injector {sizes.overload_inject_hz}/s alternating OrderFill and SystemErrorEvent.")
    return result
