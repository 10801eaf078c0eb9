"""One engine per state directory: a second process is refused, a dead one frees it.

Real processes and the real kernel lock: the holder is a child Python process, the second
engine is ``livetrade run`` as a user starts it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kit import RecordingPaperBroker, manual_clock, md

from livetrade.brokers.base import EventSink
from livetrade.brokers.paper import PaperBrokerConfig
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.errors import StateError, TransientBrokerError
from livetrade.state.lock import holder, lock_directory, lock_file
from livetrade.state.manager import StateManager, StateSettings
from livetrade.strategy import Strategy

ROOT = Path(__file__).resolve().parent.parent

_HOLD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from livetrade.state.lock import lock_directory
    lock_directory(Path(sys.argv[1]))
    print("held", flush=True)
    sys.stdin.read()
""")


@contextmanager
def held_by_another_process(directory: Path) -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen([sys.executable, "-c", _HOLD, str(directory)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)


def probe_from_another_process(directory: Path) -> str:
    """What another process sees: ``holder()``'s answer, or 'free'."""
    code = ("import sys; from pathlib import Path; from livetrade.state.lock import holder; "
            "print(holder(Path(sys.argv[1])) or 'free')")
    out = subprocess.run([sys.executable, "-c", code, str(directory)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


class Idle(Strategy):
    def on_market_data(self, event: object) -> None:
        pass


def state_settings(directory: Path) -> StateSettings:
    return StateSettings(directory=directory, account_id="acct", strategy_id="idle")


def engine_on(directory: Path, broker: RecordingPaperBroker | None = None
              ) -> LiveTradingEngine:
    """A drive-mode engine with its state in ``directory`` (a paper broker by default)."""
    clock = manual_clock()
    return LiveTradingEngine(Idle(), broker=broker or RecordingPaperBroker(PaperBrokerConfig(),
                                                                           clock),
                             clock=clock, settings=EngineSettings(market_data_policy="unbounded"),
                             state=StateManager(state_settings(directory), clock))


def test_a_directory_another_process_holds_is_refused_naming_that_process(
        tmp_path: Path) -> None:
    directory = tmp_path / "state"
    with held_by_another_process(directory) as child:
        with pytest.raises(StateError, match="in use by another engine") as refused:
            StateManager(state_settings(directory), manual_clock())
        assert f"pid {child.pid} " in str(refused.value)
        assert "stop that engine first" in refused.value.context["hint"]
        assert holder(directory) is not None and f"pid {child.pid} " in str(holder(directory))
    assert not (directory / "cache.db").exists()  # refused before the store was opened


def test_kill_9_of_the_holder_frees_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    with held_by_another_process(directory) as child:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert lock_file(directory).exists()  # the file stays; the kernel dropped the lock
    assert holder(directory) is None
    claim = lock_directory(directory)
    claim.release()


def test_one_process_may_hold_a_directory_for_several_engines_until_the_last_lets_go(
        tmp_path: Path) -> None:
    """An engine abandoned in-process (a simulated crash) and the one restored after it
    share the process's lock; another process is refused until both released it."""
    directory = tmp_path / "state"
    first = lock_directory(directory)
    second = lock_directory(directory)
    assert holder(directory) is None  # this process: not "another engine"
    first.release()
    first.release()  # twice is a no-op, not a second release
    assert probe_from_another_process(directory).startswith(f"pid {os.getpid()} ")
    second.release()
    assert probe_from_another_process(directory) == "free"


def test_an_engine_holds_its_directory_while_it_runs_and_frees_it_when_it_stops(
        tmp_path: Path) -> None:
    directory = tmp_path / "state"
    engine = engine_on(directory)
    engine.start_sync()
    engine.process(md("AAA", 100))
    assert probe_from_another_process(directory).startswith(f"pid {os.getpid()} ")
    engine.stop_sync()
    assert probe_from_another_process(directory) == "free"


def test_state_reset_refuses_while_an_engine_holds_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir()

    def reset() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "livetrade", "state", "reset", "--dir",
                               str(directory), "--yes"], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, check=False)

    with held_by_another_process(directory):
        refused = reset()
        assert refused.returncode == 1, refused
        assert "in use by another engine" in refused.stdout + refused.stderr
        assert directory.exists()
    assert reset().returncode == 0 and not directory.exists()


def test_a_second_livetrade_run_on_the_same_state_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "engine.toml"
    config.write_text(textwrap.dedent(f"""
        [broker]
        type = "paper"
        [[feeds]]
        type = "simulated"
        symbols = ["BTC-USD"]
        rate_hz = 20
        [strategy]
        path = "{ROOT / 'examples' / 'sma_crossover.py'}:SmaCrossover"
        [state]
        directory = "{tmp_path / 'state'}"
    """))
    first = subprocess.Popen([sys.executable, "-m", "livetrade", "run", str(config),
                              "--duration", "60", "--json"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert first.stdout is not None
        assert first.stdout.readline()  # its first status line: running, directory held
        second = subprocess.run([sys.executable, "-m", "livetrade", "run", str(config),
                                 "--duration", "1"], cwd=ROOT, capture_output=True, text=True,
                                timeout=60, check=False)
        assert second.returncode != 0
        assert f"in use by another engine (pid {first.pid} " in second.stderr + second.stdout
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    deadline = time.monotonic() + 5
    while holder(tmp_path / "state") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert holder(tmp_path / "state") is None


class _DownOnce(RecordingPaperBroker):
    """A paper broker whose first connect fails, as a broker that is down at start."""

    def __init__(self) -> None:
        super().__init__(PaperBrokerConfig(), manual_clock())
        self.attempts = 0

    def connect(self, sink: EventSink) -> None:
        self.attempts += 1
        if self.attempts == 1:
            raise TransientBrokerError("broker down at start")
        super().connect(sink)


def test_a_start_that_fails_gives_the_directory_up_and_a_retried_start_takes_it_again(
        tmp_path: Path) -> None:
    directory = tmp_path / "state"
    engine = engine_on(directory, _DownOnce())
    with pytest.raises(TransientBrokerError):
        engine.start_sync()
    assert probe_from_another_process(directory) == "free"
    engine.start_sync()
    assert probe_from_another_process(directory).startswith(f"pid {os.getpid()} ")
    engine.stop_sync()
    assert probe_from_another_process(directory) == "free"


def test_nothing_is_written_to_the_directory_after_the_stop_gave_it_up(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    engine = engine_on(directory)
    engine.start_sync()
    engine.stop_sync()
    assert engine.state is not None
    written = engine.state.checkpoints_written
    with pytest.raises(StateError, match="gave its state directory up"):
        engine.checkpoint("late")
    assert engine.state.checkpoints_written == written
