"""Retry policies, deadlines and breakers, each on its own: the rules every broker call obeys."""

from __future__ import annotations

import threading
import time

import pytest

from livetrade.errors import (
    AmbiguousOutcomeError,
    BrokerUnavailableError,
    OrderRejectedError,
    PermanentBrokerError,
    TransientBrokerError,
)
from livetrade.resilience import (
    BreakerGroup,
    BreakerSettings,
    BrokerBreakers,
    RetryPolicy,
    ShutdownSleep,
    build_retrying,
    call_with_deadline,
)
from livetrade.resilience.breakers import BreakerStateChange
from livetrade.resilience.retry import RetryAbandoned


class Failing:
    """Fails with ``error`` for the first ``times`` calls, then returns ``"ok"``."""

    def __init__(self, error: Exception, times: int) -> None:
        self.error = error
        self.times = times
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return "ok"


def test_default_backoff_waits_1_2_4_8_16_seconds_then_gives_up_with_the_last_error() -> None:
    waits: list[float] = []
    call = Failing(TransientBrokerError("503"), times=100)
    retrying = build_retrying(RetryPolicy(), shutdown=threading.Event(), operation="t",
                              sleep=waits.append)
    with pytest.raises(TransientBrokerError, match="503"):
        retrying(call)
    assert waits == [1, 2, 4, 8, 16]
    assert call.calls == 6


def test_a_transient_error_that_passes_is_retried_until_success() -> None:
    waits: list[float] = []
    call = Failing(TransientBrokerError("timeout"), times=2)
    assert build_retrying(RetryPolicy(), shutdown=threading.Event(), operation="t",
                          sleep=waits.append)(call) == "ok"
    assert waits == [1, 2]


@pytest.mark.parametrize("error", [PermanentBrokerError("bad key"), OrderRejectedError("funds"),
                                   AmbiguousOutcomeError("sent, no answer"),
                                   ValueError("a bug")])
def test_permanent_ambiguous_and_unexpected_errors_are_never_retried(error: Exception) -> None:
    waits: list[float] = []
    call = Failing(error, times=1)
    with pytest.raises(type(error)):
        build_retrying(RetryPolicy(), shutdown=threading.Event(), operation="t",
                       sleep=waits.append)(call)
    assert call.calls == 1 and waits == []


def test_retry_after_from_the_venue_is_honoured_when_longer_than_the_backoff() -> None:
    waits: list[float] = []
    call = Failing(TransientBrokerError("429", retry_after_s=7), times=2)
    build_retrying(RetryPolicy(), shutdown=threading.Event(), operation="t",
                   sleep=waits.append)(call)
    assert waits == [7, 7]
    short = Failing(TransientBrokerError("429", retry_after_s=0.5), times=2)
    waits.clear()
    build_retrying(RetryPolicy(), shutdown=threading.Event(), operation="t",
                   sleep=waits.append)(short)
    assert waits == [1, 2]


def test_jitter_and_cap_stay_within_bounds() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=8, initial_s=1, max_s=4, jitter_s=0.5)
    with pytest.raises(TransientBrokerError):
        build_retrying(policy, shutdown=threading.Event(), operation="t",
                       sleep=waits.append)(Failing(TransientBrokerError("x"), times=100))
    assert len(waits) == 7
    assert all(base <= w <= base + 0.5 for w, base in zip(waits, [1, 2, 4, 4, 4, 4, 4],
                                                          strict=True))


def test_shutdown_during_a_16_second_wait_ends_the_retry_within_100_ms() -> None:
    shutdown = threading.Event()
    waits: list[float] = []
    policy = RetryPolicy(initial_s=16, max_s=16)
    retrying = build_retrying(policy, shutdown=shutdown, operation="t",
                              sleep=ShutdownSleep(shutdown, record=waits.append))
    call = Failing(TransientBrokerError("down"), times=100)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            retrying(call)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 5
    while not waits and time.monotonic() < deadline:
        time.sleep(0.005)
    assert waits == [16]
    stopped_at = time.monotonic()
    shutdown.set()
    worker.join(5)
    assert time.monotonic() - stopped_at < 0.1
    assert isinstance(outcome[0], RetryAbandoned)
    assert call.calls == 1  # woken, and no further call was made


def test_a_deadline_bounds_the_whole_operation_waits_included() -> None:
    policy = RetryPolicy(attempts=100, initial_s=0.02, max_s=0.02, deadline_s=0.1)
    call = Failing(TransientBrokerError("x"), times=1000)
    started = time.monotonic()
    with pytest.raises(TransientBrokerError):
        build_retrying(policy, shutdown=threading.Event(), operation="t")(call)
    assert time.monotonic() - started < 2
    assert call.calls < 100


# ----------------------------------------------------------------------------- deadline
def test_a_hung_call_times_out_at_its_deadline_with_a_transient_error() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(TransientBrokerError, match=r"within 0\.2 s") as info:
        call_with_deadline(lambda: release.wait(10), 0.2, operation="positions")
    assert not isinstance(info.value, AmbiguousOutcomeError)
    assert 0.15 < time.monotonic() - started < 2
    release.set()


def test_a_hung_submit_is_ambiguous_not_failed() -> None:
    release = threading.Event()
    with pytest.raises(AmbiguousOutcomeError):
        call_with_deadline(lambda: release.wait(10), 0.1, operation="submit", ambiguous=True)
    release.set()


def test_a_call_within_its_deadline_returns_its_value_or_raises_its_own_error() -> None:
    assert call_with_deadline(lambda: 42, 5, operation="x") == 42
    with pytest.raises(OrderRejectedError, match="funds"):
        call_with_deadline(Failing(OrderRejectedError("funds"), 1), 5, operation="x")


# ----------------------------------------------------------------------------- breakers
def test_breaker_trips_after_n_transient_failures_then_refuses_fast_then_probes() -> None:
    changes: list[BreakerStateChange] = []
    breakers = BrokerBreakers("venue", BreakerSettings(fail_max=3, reset_timeout_s=0.2),
                              changes.append)
    call = Failing(TransientBrokerError("503"), times=3)
    for _ in range(3):
        with pytest.raises(TransientBrokerError, match="503"):  # its own error, even the 3rd
            breakers.call(BreakerGroup.ORDERS, call)
    assert breakers.state(BreakerGroup.ORDERS) == "open"
    with pytest.raises(BrokerUnavailableError, match="orders circuit is open"):
        breakers.call(BreakerGroup.ORDERS, call)
    assert call.calls == 3  # refused without calling
    assert breakers.state(BreakerGroup.ACCOUNT) == "closed"  # groups are independent
    time.sleep(0.25)
    assert breakers.call(BreakerGroup.ORDERS, call) == "ok"  # the half-open probe
    assert breakers.state(BreakerGroup.ORDERS) == "closed"
    assert [(c.old_state, c.new_state) for c in changes] == [
        ("closed", "open"), ("open", "half-open"), ("half-open", "closed")]
    assert all(c.group is BreakerGroup.ORDERS and c.broker == "venue" for c in changes)


def test_a_failed_half_open_probe_opens_the_breaker_again() -> None:
    breakers = BrokerBreakers("venue", BreakerSettings(fail_max=1, reset_timeout_s=0.1))
    call = Failing(TransientBrokerError("503"), times=2)
    with pytest.raises(TransientBrokerError):
        breakers.call(BreakerGroup.ORDERS, call)
    time.sleep(0.15)
    with pytest.raises(TransientBrokerError):
        breakers.call(BreakerGroup.ORDERS, call)
    assert breakers.state(BreakerGroup.ORDERS) == "open"
    assert call.calls == 2


def test_rejections_and_permanent_errors_do_not_count_as_venue_failures() -> None:
    breakers = BrokerBreakers("venue", BreakerSettings(fail_max=2, reset_timeout_s=60))
    for error in [OrderRejectedError("funds"), PermanentBrokerError("bad symbol")] * 3:
        with pytest.raises(type(error)):
            breakers.call(BreakerGroup.ORDERS, Failing(error, 1))
    assert breakers.state(BreakerGroup.ORDERS) == "closed"
    assert breakers.open_for_s(BreakerGroup.ORDERS) is None


def test_failed_probes_do_not_restart_the_outage_clock() -> None:
    breakers = BrokerBreakers("venue", BreakerSettings(fail_max=1, reset_timeout_s=0.05))
    call = Failing(TransientBrokerError("503"), times=100)
    with pytest.raises(TransientBrokerError):
        breakers.call(BreakerGroup.ORDERS, call)
    for _ in range(4):  # a caller keeps probing every reset timeout; every probe fails
        time.sleep(0.07)
        with pytest.raises(TransientBrokerError):
            breakers.call(BreakerGroup.ORDERS, call)
    open_for = breakers.open_for_s(BreakerGroup.ORDERS)
    assert open_for is not None and open_for >= 0.25
