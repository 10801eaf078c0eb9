"""Bybit v5 public websockets: ``/v5/public/spot`` and ``/v5/public/linear``.

Frames: ``{"op": "subscribe", "args": ["publicTrade.BTCUSDT", "tickers.BTCUSDT"],
"req_id": "1"}`` (and ``unsubscribe``) answered ``{"success": true, "op": ..., "req_id":
..., "conn_id": ...}``; ``{"op": "ping"}`` answered ``{"op": "pong", ...}``. Pushes:
``{"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts", "data": [{"T", "s", "S",
"v", "p", "L", "i", "BT"}]}`` and ``{"topic": "tickers.BTCUSDT", "type": "snapshot",
"ts", "data": {...}}``. Spot and linear share wire names (``BTCUSDT``), so topics are
kept internally as ``"<category>:<topic>"``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

from livetrade.simexchange.bybit import shapes
from livetrade.simexchange.perps import PerpSpec
from livetrade.simexchange.records import Kline, MarketTick, VenueOrder, VenueTrade
from livetrade.simexchange.topic_ws import FrameOutcome
from livetrade.simexchange.venue import Venue

PATHS: tuple[str, ...] = ("/v5/public/spot", "/v5/public/linear")
KNOWN = ("publicTrade.", "tickers.")


def on_frame(path: str, message: str | bytes) -> FrameOutcome:
    category = path.rsplit("/", 1)[-1]
    try:
        frame = json.loads(message)
        op = frame["op"]
        args = frame.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise TypeError("args must be a list of topics")
    except (ValueError, KeyError, TypeError) as exc:
        return FrameOutcome(replies=[json.dumps({"success": False, "ret_msg": f"error:{exc}",
                                                 "op": "", "conn_id": "sim"})])
    reply = {"success": True, "ret_msg": "", "conn_id": "sim", "req_id": frame.get("req_id"),
             "op": op}
    if op == "ping":
        reply.update({"ret_msg": "pong", "op": "pong"})
        return FrameOutcome(replies=[json.dumps(reply)])
    if op not in ("subscribe", "unsubscribe"):
        reply.update({"success": False, "ret_msg": f"error:unknown op {op}"})
        return FrameOutcome(replies=[json.dumps(reply)])
    bad = [a for a in args if not a.startswith(KNOWN)]
    if bad:
        reply.update({"success": False, "ret_msg": f"error:handler not found,topic:{bad[0]}"})
        return FrameOutcome(replies=[json.dumps(reply)])
    topics = [f"{category}:{a}" for a in args]
    if op == "subscribe":
        return FrameOutcome(subscribe=topics, replies=[json.dumps(reply)])
    return FrameOutcome(unsubscribe=topics, replies=[json.dumps(reply)])


class BybitPublisher:
    """Turns price steps into Bybit topic pushes (runs under the venue lock: enqueue only).
    Private topics (order/execution/position) are not simulated."""

    def __init__(self, venue: Venue, publish: Callable[[dict[str, str]], None]) -> None:
        self._venue = venue
        self._publish = publish

    def on_order(self, order: VenueOrder, trade: VenueTrade | None, execution: str) -> None:
        """Private streams are not simulated: orders are polled over REST."""

    def on_balances(self, balances: dict[str, tuple[Decimal, Decimal]], time_ms: int) -> None:
        """Private streams are not simulated: balances are polled over REST."""

    def on_tick(self, tick: MarketTick, kline: Kline, closed: Kline | None) -> None:
        spec = self._venue.specs[tick.symbol]
        category = shapes.category(spec)
        name = spec.venue_id
        trade = {"T": tick.time_ms, "s": name, "S": "Buy", "v": shapes.text(tick.volume),
                 "p": shapes.text(tick.price), "L": "PlusTick", "i": str(tick.trade_id),
                 "BT": False}
        data = shapes.ticker(spec, tick.price, (tick.bid, tick.ask), high=kline.high,
                             low=kline.low, volume=kline.volume, open_=kline.open)
        if isinstance(spec, PerpSpec):
            data["bid1Price"], data["ask1Price"] = shapes.text(tick.bid), shapes.text(tick.ask)
        self._publish({
            f"{category}:publicTrade.{name}": json.dumps(
                {"topic": f"publicTrade.{name}", "type": "snapshot", "ts": tick.time_ms,
                 "data": [trade]}),
            f"{category}:tickers.{name}": json.dumps(
                {"topic": f"tickers.{name}", "type": "snapshot", "ts": tick.time_ms,
                 "cs": tick.trade_id, "data": data}),
        })
