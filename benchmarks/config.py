"""How big each suite runs in each mode. One frozen value per mode; suites read, never write.

``full`` aims at a few minutes per suite (memory: up to 10M events, at most 5 minutes),
``quick`` at about a minute in all (instructions are counted in full mode only), ``smoke``
at a few seconds (the test suite checks the JSON shape with it; its figures mean nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["smoke", "quick", "full"]


@dataclass(frozen=True)
class Sizes:
    """Per-mode sizes. Durations are wall-clock seconds; rates are events per second."""

    mode: Mode
    # 1. floor
    floor_events: int
    floor_reps: int
    floor_latency_duration_s: float
    # 2. engine_throughput
    throughput_events: int
    throughput_reps: int
    # 3. latency
    latency_rates_hz: tuple[int, ...]
    latency_duration_s: float
    sustain_rate_hz: int
    sustain_duration_s: float
    # 4. overload
    overload_duration_s: float
    overload_idle_s: float
    overload_producers: int
    overload_inject_hz: int
    # 5. order_round_trip
    round_trip_duration_s: float
    round_trip_md_rate_hz: int
    round_trip_order_every: int
    # 6. checkpoints
    checkpoint_books: tuple[int, ...]  # book sizes: N positions and N orders each
    checkpoint_reps: int  # checkpoint write repetitions per book ...
    checkpoint_rep_budget_s: float  # ... cut after this long (at least 5 reps)
    checkpoint_latency_books: tuple[int, ...]  # books for the dispatcher-impact runs
    checkpoint_latency_duration_s: float  # per run, at checkpoint_latency_rate_hz
    restore_kill_books: tuple[int, ...]  # books for the kill -9 drill (persisted venue)
    # 7. replay
    replay_bars: int
    replay_ticks: int
    # 8. memory
    memory_max_events: int
    memory_duration_s: float
    memory_warmup_events: int
    memory_order_every: int
    # hotpath
    hotpath_events: int
    # 13. instructions: events per counted phase (under callgrind, ~50x slower than native)
    instructions_events: int
    # every wait for a consumer to catch up is bounded by this
    drain_timeout_s: float = 60.0
    # 6. checkpoints, the same in every mode
    checkpoint_latency_rate_hz: int = 10_000
    checkpoint_interval_s: float = 0.05

    @property
    def quick(self) -> bool:
        return self.mode != "full"


_RATES = (1_000, 10_000, 50_000)

SIZES: dict[Mode, Sizes] = {
    "full": Sizes(
        mode="full",
        floor_events=200_000, floor_reps=5, floor_latency_duration_s=3.0,
        throughput_events=100_000, throughput_reps=5,
        latency_rates_hz=_RATES, latency_duration_s=4.0,
        sustain_rate_hz=100_000, sustain_duration_s=3.0,
        overload_duration_s=10.0, overload_idle_s=2.0, overload_producers=2,
        overload_inject_hz=200,
        round_trip_duration_s=10.0, round_trip_md_rate_hz=2_000, round_trip_order_every=2,
        checkpoint_books=(10, 1_000, 10_000), checkpoint_reps=20, checkpoint_rep_budget_s=20.0,
        checkpoint_latency_books=(10, 1_000, 10_000), checkpoint_latency_duration_s=3.0,
        restore_kill_books=(10, 1_000),
        replay_bars=6_300, replay_ticks=1_000_000,
        memory_max_events=10_000_000, memory_duration_s=300.0, memory_warmup_events=100_000,
        memory_order_every=1_000,
        hotpath_events=50_000,
        instructions_events=20_000,
    ),
    "quick": Sizes(
        mode="quick",
        floor_events=50_000, floor_reps=3, floor_latency_duration_s=0.5,
        throughput_events=10_000, throughput_reps=1,
        latency_rates_hz=_RATES, latency_duration_s=0.5,
        sustain_rate_hz=100_000, sustain_duration_s=1.0,
        overload_duration_s=2.0, overload_idle_s=0.5, overload_producers=2,
        overload_inject_hz=200,
        round_trip_duration_s=1.0, round_trip_md_rate_hz=2_000, round_trip_order_every=2,
        checkpoint_books=(10, 1_000), checkpoint_reps=10, checkpoint_rep_budget_s=5.0,
        checkpoint_latency_books=(10,), checkpoint_latency_duration_s=1.0,
        restore_kill_books=(10,),
        replay_bars=6_300, replay_ticks=50_000,
        memory_max_events=100_000, memory_duration_s=30.0, memory_warmup_events=20_000,
        memory_order_every=1_000,
        hotpath_events=5_000,
        instructions_events=2_000,
        drain_timeout_s=30.0,
    ),
    "smoke": Sizes(
        mode="smoke",
        floor_events=3_000, floor_reps=1, floor_latency_duration_s=0.05,
        throughput_events=1_000, throughput_reps=1,
        latency_rates_hz=(1_000, 10_000), latency_duration_s=0.1,
        sustain_rate_hz=100_000, sustain_duration_s=0.05,
        overload_duration_s=0.3, overload_idle_s=0.1, overload_producers=2,
        overload_inject_hz=200,
        round_trip_duration_s=0.2, round_trip_md_rate_hz=1_000, round_trip_order_every=2,
        checkpoint_books=(10,), checkpoint_reps=3, checkpoint_rep_budget_s=1.0,
        checkpoint_latency_books=(10,), checkpoint_latency_duration_s=0.2,
        restore_kill_books=(10,),
        replay_bars=300, replay_ticks=1_000,
        memory_max_events=5_000, memory_duration_s=5.0, memory_warmup_events=1_000,
        memory_order_every=500,
        hotpath_events=500,
        instructions_events=200,
        drain_timeout_s=10.0,
    ),
}
