"""The shipped deployment examples run as shipped: ``examples/supervisord.conf`` under the
real supervisord (the third deployment of the architecture doc, §11.3), and every example
config builds an engine. The supervisord run is bounded: every wait has a deadline and
supervisord is shut down whatever happens."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_supervisord import engine_pid, log_events, wait_for

from livetrade.app import build_engine
from livetrade.config import load_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def shipped_tree(tmp_path: Path) -> Iterator[Path]:
    """A copy of the repository's ``examples/`` with the ``state/`` directory the example
    supervisord.conf writes to (next to it, through ``%(here)s/..``)."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples", repo / "examples")
    (repo / "state").mkdir()
    yield repo
    pid_file = repo / "state" / "supervisord.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


@pytest.mark.timeout(240)
@pytest.mark.skipif(shutil.which("supervisord") is None or shutil.which("livetrade") is None,
                    reason="supervisor and the livetrade command: pip install -e .[test]")
def test_the_example_supervisord_conf_runs_the_example_engine_and_stops_it_cleanly(
        shipped_tree: Path) -> None:
    conf = shipped_tree / "examples" / "supervisord.conf"

    def ctl(*args: str) -> str:
        return subprocess.run(["supervisorctl", "-c", str(conf), *args], capture_output=True,
                              text=True, timeout=90, check=False).stdout

    subprocess.run(["supervisord", "-c", str(conf)], check=True, timeout=30)
    try:
        log = shipped_tree / "state" / "livetrade.json.log"
        wait_for(lambda: engine_pid(ctl) is not None, 60, "supervisord to run the engine")
        wait_for(lambda: log.exists() and any(e.get("event") == "engine_started"
                                              for e in log_events(log)), 60,
                 "the engine to start from examples/paper-state.toml")
        assert "stopped" in ctl("stop", "livetrade")
        events = log_events(log)
        finals = [e for e in events if e.get("event") == "checkpoint_written"]
        assert finals and finals[-1]["reason"] == "shutdown"
        stopped = [e for e in events if e.get("event") == "engine_stopped"]
        assert stopped and stopped[-1]["clean"] is True
        assert "EXITED" not in ctl("status", "livetrade")  # stopped on request, exit 0
        verified = subprocess.run(
            [sys.executable, "-m", "livetrade", "state", "verify", "--dir",
             str(shipped_tree / "state" / "paper")],
            capture_output=True, text=True, timeout=60, check=False)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    finally:
        ctl("shutdown")


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples").glob("*.toml")))
def test_every_example_config_builds_an_engine(name: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative state/ directories land here
    monkeypatch.setenv("LIVETRADE_API_KEY", "example-key")
    monkeypatch.setenv("LIVETRADE_API_SECRET", "example-secret")
    engine = build_engine(load_config(ROOT / "examples" / name))
    assert engine.strategy is not None and engine.broker.name
