"""``livetrade sim-exchange`` as its own process, for drills: start, fault, stop, restart.

Why a process and not the in-process ``SimExchange``: an outage should look like one to
the engine — the venue's sockets gone, connections refused — and come back as a fresh
process on the same ports and the same state directory, exactly as an operator would
restart it. Faults go through the simulator's admin endpoint, as they would from a shell.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from livetrade.errors import StateError
from livetrade.simexchange import FaultConfig, SimExchange, SimExchangeConfig
from livetrade.simexchange.admin import fault_json


def free_port() -> int:
    """A port nothing listens on now (the simulator binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class VenueView:
    """What the venue holds, read from its state directory after it stopped."""

    orders: list[dict[str, Any]]
    trades: list[dict[str, Any]]
    balances: dict[str, tuple[Decimal, Decimal]]


class SimProcess:
    """One ``livetrade sim-exchange`` subprocess on fixed ports over a state directory.

    The API key and secret are given on the command line of a loopback-only child process
    and never logged. :meth:`start` blocks until the simulator listens.
    """

    def __init__(self, state_dir: Path, *, api_key: str, api_secret: str,
                 balances: dict[str, Decimal], tick_interval_s: float = 0.05,
                 seed: int = 1) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.ws_port = free_port()
        self._api_key = api_key
        self._api_secret = api_secret
        self._balances = balances
        self._tick_interval_s = tick_interval_s
        self._seed = seed
        self._process: subprocess.Popen[str] | None = None
        self.starts = 0

    def __repr__(self) -> str:
        return f"SimProcess(port={self.port}, ws_port={self.ws_port})"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start (or restart) the simulator on the same ports and state. Blocks."""
        if self.running:
            raise StateError("the simulator is already running")
        args = [sys.executable, "-m", "livetrade", "sim-exchange", "--json",
                "--port", str(self.port), "--ws-port", str(self.ws_port),
                "--state", str(self.state_dir), "--price-source", "random",
                "--tick-interval", str(self._tick_interval_s), "--seed",
                str(self._seed + self.starts), "--api-key", self._api_key,
                "--api-secret", self._api_secret, "--log-level", "error"]
        for asset, amount in self._balances.items():
            args += ["--balance", f"{asset}={amount}"]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   text=True)
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once it listens
        if not line:
            process.wait(5)
            raise StateError(f"sim-exchange exited with {process.returncode} at start")
        json.loads(line)
        self._process = process
        self.starts += 1

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM and wait: the simulator closes every socket and its store."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout_s)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.rest_url}/admin{path}", data=data,
                                         method=method)
        with urllib.request.urlopen(request, timeout=5) as reply:
            return json.loads(reply.read())

    def set_faults(self, faults: FaultConfig | None) -> None:
        if faults is None:
            self._admin("DELETE", "/faults")
        else:
            self._admin("POST", "/faults", fault_json(faults))

    def drop_streams(self) -> None:
        self._admin("POST", "/drop_streams")

    def open_orders(self) -> list[Any]:
        orders: list[Any] = self._admin("GET", "/state")["open_orders"]
        return orders

    def read_venue(self) -> VenueView:
        """The stopped venue's orders, trades and balances, from its state directory."""
        if self.running:
            raise StateError("stop the simulator before reading its state")
        venue = SimExchange(SimExchangeConfig(state_dir=self.state_dir,
                                              api_key=self._api_key,
                                              api_secret=self._api_secret,
                                              balances=self._balances))
        try:
            return VenueView(venue.orders(), venue.trades(), venue.balances())
        finally:
            venue.stop()
