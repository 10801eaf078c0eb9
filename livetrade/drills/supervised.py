"""The crash drill under a real supervisord: the drill only pulls the trigger, supervisord
brings the engine back, and the drill checks what came back against the simulator.

    python -m livetrade.drills.crash --venue sim --supervisord --kills 100

supervisord (the ``supervisor`` package, a test dependency) runs from a generated config
on a unix socket in the work directory, with ``autorestart``, ``startsecs = 0`` and a high
``startretries``, and inherits the venue credentials through its environment (never written
to the config). The engine's PID comes from supervisord's XML-RPC ``getProcessInfo``.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

from livetrade.drills.crash_sim import (
    MarketDriver,
    SimDrillReport,
    SimVenue,
    start_venue,
    verify_round,
    write_config,
)
from livetrade.drills.kill_points import kill_soon, wait_for_event
from livetrade.errors import StateError

PROGRAM = "livetrade"


def supervisord_conf(work: Path, engine_config: Path) -> Path:
    """A supervisord config running ``livetrade run <engine_config> --log-format json``."""
    conf = work / "supervisord.conf"
    conf.write_text(f"""
[unix_http_server]
file = {work}/supervisor.sock
chmod = 0700
[supervisord]
logfile = {work}/supervisord.log
pidfile = {work}/supervisord.pid
childlogdir = {work}
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl = unix://{work}/supervisor.sock
[program:{PROGRAM}]
directory = {Path.cwd()}
command = {sys.executable} -m livetrade run {engine_config} --log-format json
stopsignal = TERM
stopwaitsecs = 60
autostart = true
autorestart = true
startsecs = 0
startretries = 1000
stdout_logfile = {work}/engine.status.log
stderr_logfile = {work}/engine.log
stdout_logfile_maxbytes = 0
stderr_logfile_maxbytes = 0
""")
    return conf


class Supervisor:
    """One supervisord process and its XML-RPC interface over the unix socket; why a class:
    the drill needs the engine's current PID many times and a clean shutdown at the end."""

    def __init__(self, work: Path, conf: Path, env: dict[str, str]) -> None:
        from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

        self._work = work
        subprocess.run(["supervisord", "-c", str(conf)], check=True, timeout=30, env=env)
        transport = SupervisorTransport("", "", f"unix://{work}/supervisor.sock")
        self._rpc: Any = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def engine_pid(self) -> int | None:
        """The engine's PID while supervisord reports it RUNNING, else None."""
        info = self._rpc.supervisor.getProcessInfo(PROGRAM)
        return int(info["pid"]) if info["statename"] == "RUNNING" and info["pid"] else None

    def wait_for_new_pid(self, old: int | None, deadline_s: float) -> int:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            pid = self.engine_pid()
            if pid is not None and pid != old:
                return pid
            time.sleep(0.05)
        raise StateError(f"supervisord did not restart the engine within {deadline_s}s")

    def shutdown(self) -> None:
        pid_file = self._work / "supervisord.pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        with contextlib.suppress(OSError, xmlrpc.client.Fault):
            self._rpc.supervisor.shutdown()
        deadline = time.monotonic() + 60
        while pid is not None and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def run_supervised_drill(kills: int, seed: int, work: Path, *, min_s: float = 0.3,
                         max_s: float = 3.0, settle_s: float = 6.0,
                         progress: bool = False) -> SimDrillReport:
    """``kills`` rounds of: SIGKILL the supervised engine at a random instant, let
    supervisord restart it, wait until it has recovered and trades again, pause the
    market and verify against the venue, resume. Bounded: every wait has a deadline."""
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    report = SimDrillReport()
    log = work / "engine.log"
    with (work / "venue.log").open("a") as venue_log:
        venue = start_venue(work, seed, venue_log)
        driver = MarketDriver(venue, seed)
        supervisor: Supervisor | None = None
        try:
            conf = supervisord_conf(work, write_config(work, venue, seed))
            driver.resume()
            supervisor = Supervisor(work, conf, venue.env())
            pid = supervisor.wait_for_new_pid(None, 60)
            if not wait_for_event(log, 0, "engine_started", 120):
                raise StateError("the supervised engine did not start within 120s")
            for round_no in range(1, kills + 1):
                pid = _round(supervisor, venue, driver, report, round_no=round_no,
                             pid=pid, rng=rng, min_s=min_s, max_s=max_s, settle_s=settle_s,
                             progress=progress)
        except StateError as exc:
            report.failures.append(f"drill stopped: {exc}")
        finally:
            if supervisor is not None:
                supervisor.shutdown()
            driver.close()
            venue.stop()
    return report


def _round(supervisor: Supervisor, venue: SimVenue, driver: MarketDriver,
           report: SimDrillReport, *, round_no: int, pid: int, rng: random.Random,
           min_s: float, max_s: float, settle_s: float, progress: bool) -> int:
    work = venue.state_dir.parent
    log = work / "engine.log"
    mode = kill_soon(lambda: os.kill(pid, signal.SIGKILL), work / "state", log, _size(log),
                     rng, min_s=min_s, max_s=max_s, startup_share=0,
                     wait_started=False)
    report.kills += 1
    offset = _size(log)
    new_pid = supervisor.wait_for_new_pid(pid, 60)
    if not wait_for_event(log, offset, "engine_started", 120):
        raise StateError(f"round {round_no}: the restarted engine did not recover in 120s")
    driver.pause()
    failures_before = len(report.failures)
    try:
        verify_round(work / "state", venue, report, round_no, settle_s=settle_s)
    finally:
        driver.resume()
    if progress:
        for failure in report.failures[failures_before:]:
            print(f"  FAILURE {failure}", file=sys.stderr)
    if progress:
        print(f"round {round_no}: killed pid {pid} ({mode}), supervisord restarted it as "
              f"{new_pid}, recovered, verified: {report.orders_at_venue} orders, "
              f"{report.fills_at_venue} fills at the venue, failures {len(report.failures)}",
              file=sys.stderr)
    return new_pid
