"""The engine under the real supervisord: kill -9 → restarted → recovered; stop → clean.

Starts supervisord (from the `supervisor` package) on a unix socket in a temp directory,
runs `livetrade run` under it, and drives it with supervisorctl. Bounded: every wait has a
deadline, and supervisord is shut down whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(shutil.which("supervisord") is None,
                                 reason="supervisor is a test dependency: pip install -e .[test]")]


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Callable[..., str], Path]]:
    state = tmp_path / "state"
    config = tmp_path / "engine.toml"
    config.write_text(f"""
[[feeds]]
type = "simulated"
symbols = ["A", "B"]
rate_hz = 200

[strategy]
path = "{ROOT / 'examples' / 'sma_crossover.py'}:SmaCrossover"
params = {{ fast = 2, slow = 4, quantity = "1" }}

[state]
directory = "{state}"
account_id = "drill"
checkpoint_interval_s = 1
debounce_s = 0.1
""")
    conf = tmp_path / "supervisord.conf"
    conf.write_text(f"""
[unix_http_server]
file = {tmp_path}/s.sock
[supervisord]
logfile = {tmp_path}/supervisord.log
pidfile = {tmp_path}/supervisord.pid
childlogdir = {tmp_path}
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl = unix://{tmp_path}/s.sock
[program:livetrade]
directory = {ROOT}
command = {sys.executable} -m livetrade run {config} --log-format json
stopsignal = TERM
stopwaitsecs = 60
autorestart = unexpected
exitcodes = 0
startsecs = 1
startretries = 5
stdout_logfile = {tmp_path}/status.log
stderr_logfile = {tmp_path}/engine.log
""")

    def ctl(*args: str) -> str:
        return subprocess.run(["supervisorctl", "-c", str(conf), *args], capture_output=True,
                              text=True, timeout=90, check=False).stdout

    subprocess.run(["supervisord", "-c", str(conf)], check=True, timeout=30)
    try:
        yield ctl, tmp_path
    finally:
        ctl("shutdown")
        pid_file = tmp_path / "supervisord.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def engine_pid(ctl: Callable[..., str]) -> int | None:
    line = ctl("status", "livetrade")
    if "RUNNING" not in line:
        return None
    return int(line.split("pid ")[1].split(",")[0])


def log_events(path: Path) -> list[dict[str, object]]:
    """Every JSON log object in the file. A process killed with SIGKILL can leave half a
    line, which the restarted process then continues: such a line holds a torn object
    followed by whole ones, and the whole ones still count."""
    decoder = json.JSONDecoder()
    events = []
    for line in path.read_text().splitlines():
        start = line.find("{")
        while start != -1:
            try:
                event, end = decoder.raw_decode(line, start)
            except json.JSONDecodeError:
                start = line.find("{", start + 1)
                continue
            events.append(event)
            start = line.find("{", end)
    return events


def test_kill_9_is_restarted_and_recovers_then_stop_is_clean(
        supervised: tuple[Callable[..., str], Path]) -> None:
    ctl, tmp = supervised
    log = tmp / "engine.log"
    wait_for(lambda: engine_pid(ctl) is not None, 30, "the engine to run")
    first = engine_pid(ctl)
    assert first is not None
    wait_for(lambda: log.exists() and any(e.get("event") == "checkpoint_written"
                                          for e in log_events(log)), 60, "a checkpoint")
    wait_for(lambda: sum(e.get("event") == "fill" for e in log_events(log)) >= 3, 60,
             "some fills")

    os.kill(first, signal.SIGKILL)
    wait_for(lambda: engine_pid(ctl) not in (None, first), 60, "supervisord's restart")
    wait_for(lambda: sum(e.get("event") == "recovered" for e in log_events(log)) >= 2, 60,
             "the restarted engine's recovery")
    recovered = [e for e in log_events(log) if e.get("event") == "recovered"][-1]
    assert recovered["checkpoint"] is not None or recovered["journal_entries_replayed"]

    before_stop = len(log_events(log))
    assert "stopped" in ctl("stop", "livetrade")
    after = log_events(log)[before_stop:]
    finals = [e for e in after if e.get("event") == "checkpoint_written"]
    assert finals and finals[-1]["reason"] == "shutdown"
    stopped = [e for e in after if e.get("event") == "engine_stopped"]
    assert stopped and stopped[-1]["clean"] is True
    assert "EXITED" not in ctl("status", "livetrade")  # stopped on request, exit 0
    shown = subprocess.run([sys.executable, "-m", "livetrade", "state", "verify", "--dir",
                            str(tmp / "state")], capture_output=True, text=True, timeout=60,
                           check=False)
    assert shown.returncode == 0, shown.stdout + shown.stderr
