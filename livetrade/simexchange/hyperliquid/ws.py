"""Hyperliquid's websocket (``/ws``): ``trades`` and ``allMids`` subscriptions.

Frames: ``{"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}}``
or ``{"type": "allMids"}``, answered ``{"channel": "subscriptionResponse", "data":
{...the request...}}``; ``{"method": "ping"}`` answered ``{"channel": "pong"}``. Pushes:
``{"channel": "trades", "data": [{"coin", "side", "px", "sz", "time", "hash", "tid",
"users"}]}`` and ``{"channel": "allMids", "data": {"mids": {"BTC": "30000.0"}}}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

from livetrade.simexchange.hyperliquid import shapes
from livetrade.simexchange.perps import PerpSpec
from livetrade.simexchange.records import Kline, MarketTick, VenueOrder, VenueTrade
from livetrade.simexchange.topic_ws import FrameOutcome
from livetrade.simexchange.venue import Venue

PATHS: tuple[str, ...] = ("/ws",)


def on_frame(path: str, message: str | bytes) -> FrameOutcome:
    try:
        frame = json.loads(message)
        method = frame["method"]
    except (ValueError, KeyError, TypeError):
        return FrameOutcome(replies=[json.dumps({"channel": "error",
                                                 "data": "Invalid subscription"})])
    if method == "ping":
        return FrameOutcome(replies=[json.dumps({"channel": "pong"})])
    subscription = frame.get("subscription")
    topic = _topic(subscription)
    if method not in ("subscribe", "unsubscribe") or topic is None:
        return FrameOutcome(replies=[json.dumps({"channel": "error",
                                                 "data": f"Invalid subscription {message!r}"})])
    reply = json.dumps({"channel": "subscriptionResponse",
                        "data": {"method": method, "subscription": subscription}})
    if method == "subscribe":
        return FrameOutcome(subscribe=[topic], replies=[reply])
    return FrameOutcome(unsubscribe=[topic], replies=[reply])


def _topic(subscription: object) -> str | None:
    if not isinstance(subscription, dict):
        return None
    if subscription.get("type") == "allMids":
        return "allMids"
    if subscription.get("type") == "trades" and isinstance(subscription.get("coin"), str):
        return f"trades:{subscription['coin']}"
    return None


class HyperliquidPublisher:
    """Turns price steps into ``trades``/``allMids`` pushes (under the venue lock:
    enqueue only). User channels (orderUpdates, userFills) are not simulated."""

    def __init__(self, venue: Venue, publish: Callable[[dict[str, str]], None]) -> None:
        self._venue = venue
        self._publish = publish

    def on_order(self, order: VenueOrder, trade: VenueTrade | None, execution: str) -> None:
        """User channels are not simulated: orders are polled over ``/info``."""

    def on_balances(self, balances: dict[str, tuple[Decimal, Decimal]], time_ms: int) -> None:
        """User channels are not simulated: the account is polled over ``/info``."""

    def on_tick(self, tick: MarketTick, kline: Kline, closed: Kline | None) -> None:
        spec = self._venue.specs[tick.symbol]
        if not isinstance(spec, PerpSpec):
            return
        trade = {"coin": spec.base, "side": "B", "px": shapes.text(tick.price),
                 "sz": shapes.text(tick.volume), "time": tick.time_ms,
                 "hash": "0x" + f"{tick.trade_id:064x}", "tid": tick.trade_id,
                 "users": ["0x0000000000000000000000000000000000000000"] * 2}
        prices = self._venue.market.prices()
        mids = {s.base: shapes.text(prices[s.symbol]) for s in self._venue.specs.values()
                if isinstance(s, PerpSpec)}
        self._publish({
            f"trades:{spec.base}": json.dumps({"channel": "trades", "data": [trade]}),
            "allMids": json.dumps({"channel": "allMids", "data": {"mids": mids}}),
        })
