"""Test helpers for the exchange simulator: a fresh ``SimExchange`` per test and a real
ccxt ``binance`` client pointed at it (as ``/work/shared/LOOPBACK-PROTOCOLS.md`` says).

    from simkit import binance_client, sim_fixture  # noqa: F401 (the `sim` fixture)

    def test_something(sim: SimExchange) -> None:
        client = binance_client(sim)
        client.create_order("BTC/USDT", "market", "buy", 0.01)
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from livetrade.simexchange import FaultConfig, SimExchange, SimExchangeConfig


@contextmanager
def running_sim(state_dir: Path | None = None, *, symbols: tuple[str, ...] = ("BTC/USDT",
                "ETH/USDT"), balances: dict[str, Decimal] | None = None,
                faults: FaultConfig | None = None, wall_ms: Callable[[], int] | None = None,
                **overrides: Any) -> Iterator[SimExchange]:
    """A started simulator on 127.0.0.1, ports 0, manual prices (BTC 30000, ETH 2000),
    100,000 USDT; stopped on exit. Keyword overrides go to ``SimExchangeConfig``;
    ``wall_ms`` replaces the venue's wall clock (epoch milliseconds)."""
    config = SimExchangeConfig(
        host="127.0.0.1", port=overrides.pop("port", 0), ws_port=overrides.pop("ws_port", 0),
        state_dir=state_dir, symbols=symbols, price_source=overrides.pop("price_source",
                                                                         "manual"),
        balances=balances if balances is not None else {"USDT": Decimal("100000")},
        faults=faults or FaultConfig(), **overrides)
    sim = SimExchange(config, wall_ms=wall_ms)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(name="sim")
def sim_fixture() -> Iterator[SimExchange]:
    """A fresh simulator per test (see ``running_sim``)."""
    with running_sim() as started:
        yield started


def binance_client(sim: SimExchange, *, timeout_ms: int = 5000,
                   api_key: str | None = None, secret: str | None = None) -> ccxt.binance:
    """ccxt's real ``binance`` class talking to ``sim`` (no rate limiter, spot only)."""
    client = ccxt.binance({
        "apiKey": api_key if api_key is not None else sim.api_key,
        "secret": secret if secret is not None else sim.api_secret,
        "enableRateLimit": False,
        "timeout": timeout_ms,
        "options": {
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "warnOnFetchOpenOrdersWithoutSymbol": False,
        },
    })
    base = sim.rest_url + "/api/v3"
    client.urls["api"] = {"public": base, "private": base}
    return client


def admin(sim: SimExchange, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the simulator's admin endpoint (``path`` like ``"/faults"``) over HTTP."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(sim.admin_url + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as reply:
        return json.loads(reply.read())


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0,
               message: str = "condition") -> None:
    """Poll ``condition`` until true; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {message}")
