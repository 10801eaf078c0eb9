"""The loopback admin endpoint: set faults, step prices, drop streams, read the state.

JSON over the REST port under ``/admin/``, so the CLI process can be steered from tests
and shells (``curl -X POST localhost:PORT/admin/faults -d '{"error_rate":0.2}'``):

* ``GET /admin/faults`` / ``POST /admin/faults`` (fields of ``FaultConfig``; unnamed
  fields take their defaults) / ``DELETE /admin/faults``
* ``POST /admin/price`` ``{"symbol": "BTC/USDT", "price": "30000", "volume": "1"}``
* ``POST /admin/drop_streams``
* ``GET /admin/state``: balances, open orders, prices
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from livetrade.simexchange.config import FaultConfig
from livetrade.simexchange.faults import FaultInjector
from livetrade.simexchange.records import VenueReject


class AdminTarget(Protocol):
    faults: FaultInjector

    def set_price(self, symbol: str, price: Decimal, volume: Decimal = ...) -> None: ...

    def drop_streams(self) -> int: ...

    def state(self) -> dict[str, Any]: ...


def fault_json(config: FaultConfig) -> dict[str, Any]:
    data = dataclasses.asdict(config)
    data["scope"] = list(config.scope)
    return data


def fault_from_json(data: dict[str, Any]) -> FaultConfig:
    """A ``FaultConfig`` from JSON; raises ``ValueError``/``TypeError`` on bad fields."""
    known = {f.name for f in dataclasses.fields(FaultConfig)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown fault fields: {sorted(unknown)}")
    if "scope" in data:
        data = {**data, "scope": tuple(data["scope"])}
    return FaultConfig(**data)


def handle(target: AdminTarget, method: str, path: str, body: bytes) -> tuple[int, Any]:
    """One admin request: (HTTP status, JSON reply). Never raises for bad input."""
    try:
        data: Any = json.loads(body) if body.strip() else {}
    except ValueError:
        return 400, {"error": "body is not JSON"}
    if not isinstance(data, dict):
        return 400, {"error": "body must be a JSON object"}
    try:
        if path == "/admin/faults":
            if method == "POST":
                target.faults.set(fault_from_json(data))
            elif method == "DELETE":
                target.faults.clear()
            elif method != "GET":
                return 405, {"error": f"{method} not allowed"}
            return 200, fault_json(target.faults.config)
        if path == "/admin/price" and method == "POST":
            symbol = str(data["symbol"])
            target.set_price(symbol, Decimal(str(data["price"])),
                             Decimal(str(data.get("volume", "0"))))
            return 200, {"symbol": symbol, "price": str(data["price"])}
        if path == "/admin/drop_streams" and method == "POST":
            return 200, {"dropped": target.drop_streams()}
        if path == "/admin/state" and method == "GET":
            return 200, target.state()
    except (KeyError, ValueError, TypeError, InvalidOperation, VenueReject) as exc:
        return 400, {"error": f"bad admin request: {exc}"}
    return 404, {"error": f"no admin endpoint {method} {path}"}
