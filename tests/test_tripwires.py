"""Kill-switch tripwires and the [resilience] config that builds the guarded broker."""

from __future__ import annotations

from decimal import Decimal

from kit import at, manual_clock, md

from livetrade.app import build_engine, guard_broker
from livetrade.brokers.paper import PaperBroker
from livetrade.config import parse_config
from livetrade.events import OrderReject
from livetrade.resilience.guarded import ResilientBroker
from livetrade.resilience.shadow import ShadowingBroker
from livetrade.resilience.tripwires import TripWires


def reject(seconds: float) -> OrderReject:
    return OrderReject(order_id="o", client_order_id="c", reason="insufficient balance",
                       timestamp=at(seconds))


def test_n_rejects_within_the_window_trip_the_kill_switch_once() -> None:
    clock = manual_clock()
    kills: list[str] = []
    wires = TripWires(kill=kills.append, clock=clock, equity=lambda: Decimal(0),
                      max_rejects=3, reject_window_s=60)
    for step in (0, 50, 120, 130):  # the first one ages out before the third arrives
        clock.advance_to(at(step))
        wires.on_reject(reject(step))
    assert kills == []
    clock.advance_to(at(140))
    wires.on_reject(reject(140))
    clock.advance_to(at(141))
    wires.on_reject(reject(141))
    assert len(kills) == 1 and "3 order rejects within 60 s" in kills[0]


def test_a_drawdown_past_the_limit_from_the_peak_trips_the_kill_switch() -> None:
    equity = [Decimal(100)]
    kills: list[str] = []
    wires = TripWires(kill=kills.append, clock=manual_clock(), equity=lambda: equity[0],
                      max_drawdown=Decimal("0.1"))
    for value in ("100", "120", "109", "108.5"):
        equity[0] = Decimal(value)
        wires.on_market_data(md("X", 1))
    assert kills == []
    equity[0] = Decimal(108)  # 10% below the peak of 120
    wires.on_market_data(md("X", 1))
    assert len(kills) == 1 and "below its peak 120" in kills[0]


def test_unconfigured_tripwires_never_trip() -> None:
    kills: list[str] = []
    wires = TripWires(kill=kills.append, clock=manual_clock(), equity=lambda: Decimal(0))
    for n in range(100):
        wires.on_reject(reject(n))
        wires.on_market_data(md("X", 1))
    assert kills == []


def test_the_paper_broker_is_never_wrapped_and_live_brokers_always_are() -> None:
    config = parse_config("[resilience]\nsubmit_timeout_s = 5\nretry_max_s = 8\n")
    paper = PaperBroker()
    assert guard_broker(paper, config.resilience, manual_clock()) is paper
    live = guard_broker(_NotPaper(), config.resilience, manual_clock())
    assert isinstance(live, ShadowingBroker)
    assert live.live.settings.submit_timeout_s == 5
    assert live.live.settings.retry.max_s == 8
    plain = guard_broker(_NotPaper(), parse_config(
        "[resilience]\ndegrade_to_paper = false\n").resilience, manual_clock())
    assert isinstance(plain, ResilientBroker)


def test_configured_tripwires_are_wired_into_the_engine() -> None:
    engine = build_engine(parse_config("feeds = []\n[resilience]\nkill_after_rejects = 2\n"),
                          manual_clock())
    engine.start_sync()
    engine.process(reject(1), reject(2))
    assert engine.mode == "halted"
    engine.release_kill_switch("checked the venue")
    assert engine.mode == "live"
    engine.process(reject(3))
    assert engine.mode == "live"  # re-armed from scratch: one reject is not two
    engine.process(reject(4))
    assert engine.mode == "halted"
    engine.stop_sync()


class _NotPaper(PaperBroker):
    """Stands for any live adapter: not inline, so it is wrapped."""

    name = "venue"
    inline = False
