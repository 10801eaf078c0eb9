"""Hyperliquid market data over websocket: the venue part of :class:`WebSocketFeed`.

Works against Hyperliquid (``wss://api.hyperliquid.xyz/ws``, testnet
``wss://api.hyperliquid-testnet.xyz/ws``) and ``livetrade sim-exchange --dialect
hyperliquid``. Symbols are ccxt-unified perpetuals ("BTC/USDC:USDC"); on the wire a coin
is its base ("BTC"). Subscriptions:

* ``{"type": "trades", "coin": C}`` → a tick per trade: ``price`` px, ``volume`` sz, at
  ``time``;
* ``{"type": "allMids"}`` → one tick per configured coin: ``price`` the mid, volume 0, at
  receive time (the frame carries no timestamp). Coins we do not trade are ignored.

After a reconnect, ``POST /info {"type": "allMids"}`` gives the resync ticks. Heartbeats
are websocket pings (the base class); Hyperliquid closes connections silent for 60 s,
which a subscribed ``allMids`` channel never is.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from livetrade.clock import Clock
from livetrade.config import HyperliquidStreamFeedSection
from livetrade.errors import ConfigError, DataFeedError
from livetrade.events import MarketData, trade_tick, trusted
from livetrade.feeds.base import DataFeed
from livetrade.feeds.stream_settings import StreamSettings, stream_settings
from livetrade.feeds.wire import BadFrame, as_object, decimal_field, fetch_json, ms_field
from livetrade.feeds.ws_base import WebSocketFeed

KINDS = ("trades", "allMids")


def coin_of(symbol: str) -> str:
    """"BTC/USDC:USDC" → "BTC"."""
    return symbol.split("/", 1)[0].upper()


class HyperliquidStreamFeed(WebSocketFeed):
    """Hyperliquid ``trades``/``allMids`` channels → ``MarketData``; robust (``ws_base``)."""

    name = "hyperliquid_stream"

    def __init__(self, ws_url: str, symbols: Sequence[str], *, rest_url: str | None = None,
                 kinds: Sequence[str] = ("trades",),
                 settings: StreamSettings | None = None, clock: Clock | None = None,
                 sleep: Callable[[float], object] | None = None) -> None:
        super().__init__(settings or StreamSettings(), clock=clock, sleep=sleep)
        if not symbols or not kinds:
            raise ConfigError("HyperliquidStreamFeed needs at least one symbol and one kind")
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ConfigError(f"unsupported Hyperliquid channel {bad[0]!r}",
                              [f"kinds: use {', '.join(KINDS)}"])
        url = ws_url.rstrip("/")
        self.ws_url = url if url.endswith("/ws") else url + "/ws"
        self.rest_url = rest_url.rstrip("/") if rest_url else None
        self.symbols = tuple(symbols)
        self.kinds = tuple(kinds)
        self._by_coin = {coin_of(s): s for s in self.symbols}

    # -- WebSocketFeed hooks ------------------------------------------------------------------
    def stream_url(self) -> str:
        return self.ws_url

    def subscribe_frames(self) -> list[str]:
        frames = []
        if "trades" in self.kinds:
            frames += [json.dumps({"method": "subscribe",
                                   "subscription": {"type": "trades", "coin": coin}})
                       for coin in self._by_coin]
        if "allMids" in self.kinds:
            frames.append(json.dumps({"method": "subscribe",
                                      "subscription": {"type": "allMids"}}))
        return frames

    def decode(self, payload: Any) -> list[MarketData]:
        frame = as_object(payload, "frame")
        channel = frame.get("channel")
        if channel in ("subscriptionResponse", "pong"):
            return []
        if channel == "error":
            raise BadFrame("venue_error", str(frame.get("data"))[:200])
        if channel == "trades":
            trades = frame.get("data")
            if not isinstance(trades, list):
                raise BadFrame("bad_shape", "trades data is not a list")
            return [self._trade(as_object(t, "trade")) for t in trades]
        if channel == "allMids":
            mids = as_object(as_object(frame.get("data"), "data").get("mids"), "mids")
            return self._mids(mids)
        raise BadFrame("unknown_stream", str(channel)[:80])

    def resync(self, timeout_s: float) -> list[MarketData]:
        if self.rest_url is None:
            return []
        answer = self._post({"type": "allMids"}, timeout_s)
        try:
            return self._mids(as_object(answer, "allMids"))
        except BadFrame as bad:
            raise DataFeedError("bad /info allMids answer", reason=bad.reason,
                                detail=bad.detail) from bad

    # -- shapes -------------------------------------------------------------------------------
    def _trade(self, t: dict[str, Any]) -> MarketData:
        symbol = self._by_coin.get(str(t.get("coin")))
        if symbol is None:
            raise BadFrame("unknown_stream", f"trade of coin {str(t.get('coin'))[:20]!r}")
        return trade_tick(symbol, ms_field(t, "time"), decimal_field(t, "px", positive=True),
                          decimal_field(t, "sz", positive=False))

    def _mids(self, mids: dict[str, Any]) -> list[MarketData]:
        now = self._clock.now()
        return [trusted(MarketData, symbol=symbol, timestamp=now,
                        price=decimal_field(mids, coin, positive=True))
                for coin, symbol in self._by_coin.items() if coin in mids]

    def _post(self, body: dict[str, str], timeout_s: float) -> Any:
        """``POST /info``, bounded by ``timeout_s``. Blocks."""
        request = urllib.request.Request(
            f"{self.rest_url}/info", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"})
        started = time.monotonic()
        answer = fetch_json(request, timeout_s)
        if time.monotonic() - started > timeout_s:
            raise DataFeedError("REST resync answer too late")
        return answer


def hyperliquid_feed_from_section(section: HyperliquidStreamFeedSection, clock: Clock) -> DataFeed:
    """The feed a ``[[feeds]] type = "hyperliquid_stream"`` table describes."""
    settings = stream_settings(section, "hyperliquid_stream")
    return HyperliquidStreamFeed(section.ws_url, section.symbols, rest_url=section.rest_url,
                 kinds=section.kinds, settings=settings, clock=clock)
