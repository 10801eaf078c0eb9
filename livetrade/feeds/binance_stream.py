"""Binance spot market data over websocket: the venue part of :class:`WebSocketFeed`.

Works against Binance itself and ``livetrade sim-exchange``. Symbols are ccxt-unified
("BTC/USDT") in our events and Binance ids on the wire ("btcusdt" in stream names,
"BTCUSDT" in payloads). One combined connection carries every ``<id>@<kind>`` stream:

* ``trade`` / ``aggTrade`` → a tick: ``price`` p, ``volume`` q, at the trade time T;
* ``bookTicker`` → a quote: ``bid`` b, ``ask`` a, ``price`` their mid, volume 0, at the
  event time if the venue sends one (spot does not: then receive time);
* ``kline_<interval>`` → a bar (``open/high/low/close``, ``price`` = close, ``volume`` v)
  stamped at the bar's end (T + 1 ms); only closed bars unless ``klines_closed_only`` is off.

After a reconnect, ``GET /api/v3/ticker/24hr?symbol=...`` per symbol gives the resync
tick: ``price`` lastPrice, ``bid``/``ask`` from the book, volume 0, at closeTime.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from livetrade.clock import Clock
from livetrade.config import BinanceStreamFeedSection
from livetrade.errors import ConfigError, DataFeedError
from livetrade.events import MarketData, trade_tick, trusted
from livetrade.feeds.base import DataFeed
from livetrade.feeds.stream_settings import StreamSettings, stream_settings
from livetrade.feeds.wire import BadFrame, as_object, decimal_field, fetch_json, ms_field
from livetrade.feeds.ws_base import WebSocketFeed

KLINE_INTERVALS = frozenset({"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h",
                             "8h", "12h", "1d", "3d", "1w", "1M"})


def venue_id(symbol: str) -> str:
    """"BTC/USDT" (or "BTC/USDT:USDT") → "BTCUSDT"."""
    return symbol.split(":", 1)[0].replace("/", "").replace("-", "").upper()


def check_stream_kind(kind: str) -> str:
    """``kind`` if this feed can read it, else ``ConfigError``."""
    if kind in ("trade", "aggTrade", "bookTicker"):
        return kind
    if kind.startswith("kline_") and kind[len("kline_"):] in KLINE_INTERVALS:
        return kind
    raise ConfigError(f"unsupported Binance stream kind {kind!r}",
                      ["streams: use trade, aggTrade, bookTicker or kline_<interval>"])


class BinanceStreamFeed(WebSocketFeed):
    """Binance-shaped combined streams → ``MarketData``; robust (see ``ws_base``)."""

    name = "binance_stream"

    def __init__(self, ws_url: str, symbols: Sequence[str], *, rest_url: str | None = None,
                 streams: Sequence[str] = ("trade",),
                 settings: StreamSettings | None = None, klines_closed_only: bool = True,
                 clock: Clock | None = None,
                 sleep: Callable[[float], object] | None = None) -> None:
        super().__init__(settings or StreamSettings(), clock=clock, sleep=sleep)
        if not symbols or not streams:
            raise ConfigError("BinanceStreamFeed needs at least one symbol and one stream")
        self.ws_url = ws_url.rstrip("/")
        for suffix in ("/stream", "/ws"):
            if self.ws_url.endswith(suffix):
                self.ws_url = self.ws_url[: -len(suffix)]
        self.rest_url = rest_url.rstrip("/") if rest_url else None
        self.symbols = tuple(symbols)
        self.kinds = tuple(check_stream_kind(k) for k in streams)
        self.klines_closed_only = klines_closed_only
        self._by_id = {venue_id(s): s for s in self.symbols}
        self._streams: dict[str, tuple[str, str, str]] = {
            f"{venue_id(s).lower()}@{kind}": (s, kind, venue_id(s))
            for s in self.symbols for kind in self.kinds}
        self._subscribe_id = 0

    # -- WebSocketFeed hooks ------------------------------------------------------------------
    def stream_url(self) -> str:
        return f"{self.ws_url}/stream?streams={'/'.join(self._streams)}"

    def subscribe_frames(self) -> list[str]:
        # The URL already names the streams; SUBSCRIBE again so a venue that restarted its
        # subscription state (or a bare /stream endpoint) still sends them. Idempotent.
        self._subscribe_id += 1
        return [json.dumps({"method": "SUBSCRIBE", "params": list(self._streams),
                            "id": self._subscribe_id})]

    def decode(self, payload: Any) -> list[MarketData]:
        frame = as_object(payload, "frame")
        if "result" in frame and "id" in frame:
            return []  # an answer to SUBSCRIBE
        if "error" in frame or "code" in frame:
            raise BadFrame("venue_error", json.dumps(frame, default=str)[:200])
        name = frame.get("stream")
        if not isinstance(name, str):
            raise BadFrame("bad_shape", "no 'stream' in a combined-stream frame")
        target = self._streams.get(name)
        if target is None:
            raise BadFrame("unknown_stream", name[:80])
        symbol, kind, wire_id = target
        data = as_object(frame.get("data"), "data")
        if data.get("s") != wire_id:
            raise BadFrame("bad_shape", f"payload symbol {str(data.get('s'))[:20]!r} "
                                        f"on stream {name}")
        if kind in ("trade", "aggTrade"):
            return [trade_tick(symbol, ms_field(data, "T"),
                               decimal_field(data, "p", positive=True),
                               decimal_field(data, "q", positive=False))]
        if kind == "bookTicker":
            return [self._quote(symbol, data)]
        return self._bar(symbol, as_object(data.get("k"), "kline"))

    def resync(self, timeout_s: float) -> list[MarketData]:
        if self.rest_url is None:
            return []
        deadline = time.monotonic() + timeout_s
        out = []
        for symbol in self.symbols:
            if self.stopping:
                break
            ticker = self._get("/api/v3/ticker/24hr", {"symbol": venue_id(symbol)}, deadline)
            try:
                out.append(self._snapshot(symbol, as_object(ticker, "ticker")))
            except BadFrame as bad:
                raise DataFeedError("bad ticker/24hr answer", symbol=symbol,
                                    reason=bad.reason, detail=bad.detail) from bad
        return out

    # -- shapes -------------------------------------------------------------------------------
    def _quote(self, symbol: str, data: dict[str, Any]) -> MarketData:
        bid = decimal_field(data, "b", positive=True)
        ask = decimal_field(data, "a", positive=True)
        stamp = data.get("T", data.get("E"))
        when = ms_field(data, "T" if "T" in data else "E") if stamp is not None \
            else self._clock.now()
        return trusted(MarketData, symbol=symbol, timestamp=when, price=(bid + ask) / 2,
                       bid=bid, ask=ask)

    def _bar(self, symbol: str, k: dict[str, Any]) -> list[MarketData]:
        closed = k.get("x")
        if not isinstance(closed, bool):
            raise BadFrame("bad_shape", "kline without a boolean 'x'")
        o, h = decimal_field(k, "o", positive=True), decimal_field(k, "h", positive=True)
        low, c = decimal_field(k, "l", positive=True), decimal_field(k, "c", positive=True)
        volume = decimal_field(k, "v", positive=False)
        end = ms_field(k, "T") + timedelta(milliseconds=1)
        if self.klines_closed_only and not closed:
            return []
        return [trusted(MarketData, symbol=symbol, timestamp=end, price=c, volume=volume,
                        open=o, high=h, low=low, close=c)]

    def _snapshot(self, symbol: str, t: dict[str, Any]) -> MarketData:
        bid = decimal_field(t, "bidPrice", positive=False)
        ask = decimal_field(t, "askPrice", positive=False)
        when = ms_field(t, "closeTime") if "closeTime" in t else self._clock.now()
        return trusted(MarketData, symbol=symbol, timestamp=when,
                       price=decimal_field(t, "lastPrice", positive=True),
                       bid=bid if bid > 0 else None, ask=ask if ask > 0 else None)

    def _get(self, path: str, params: dict[str, str], deadline: float) -> Any:
        """One public REST GET, bounded by ``deadline`` (monotonic). Blocks."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DataFeedError("resync ran out of time", path=path)
        assert self.rest_url is not None
        url = f"{self.rest_url}{path}?{urllib.parse.urlencode(params)}"
        return fetch_json(url, remaining, path=path)


def binance_feed_from_section(section: BinanceStreamFeedSection, clock: Clock) -> DataFeed:
    """The feed a ``[[feeds]] type = "binance_stream"`` table describes."""
    settings = stream_settings(section, "binance_stream")
    return BinanceStreamFeed(section.ws_url, section.symbols, rest_url=section.rest_url,
                             streams=section.streams, settings=settings,
                             klines_closed_only=section.klines_closed_only, clock=clock)
