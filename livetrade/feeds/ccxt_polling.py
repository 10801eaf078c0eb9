"""Tickers polled through a synchronous ccxt exchange: market data for venues without a stream.

Every ``interval_s`` the feed asks for all its symbols at once (``fetch_tickers``) when the
venue can, else one ``fetch_ticker`` each, and publishes a ``MarketData`` for a symbol only
when its last price, bid or ask changed since the previous poll. ``volume`` is 0: a ticker's
volume is a 24-hour total, not the size of a trade.

The ccxt client is told to return numbers as strings (``exchange.number = str``), so
prices go from the venue's JSON to ``Decimal`` without passing through float.

Failures: a ccxt error starts a streak; its first failure is reported as a ``FeedError``
(warning for network and "operation failed" errors, error for the others, which a retry
is unlikely to cure) and polling continues with capped exponential backoff; the first
good poll after a streak says "FeedRecovered". Staleness is the websocket feeds' rule:
no changed ticker for ``stale_after_s`` (a failing venue or a frozen one) → one
``FeedStale`` warning.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import ccxt
import structlog

from livetrade.brokers.base import EventSink
from livetrade.clock import Clock
from livetrade.config import CCXTPollingFeedSection
from livetrade.errors import ConfigError
from livetrade.events import FeedError, MarketData, Severity, trusted
from livetrade.feeds.base import DataFeed
from livetrade.feeds.health import (
    Backoff,
    FeedHealth,
    FeedHealthTracker,
    StaleWatchdog,
    recovered_event,
    stale_event,
)
from livetrade.feeds.wire import BadFrame, decimal_field, ms_field

_log = structlog.get_logger("livetrade.feeds.ccxt_polling")

BINANCE_LOOPBACK_OPTIONS: dict[str, Any] = {
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
    "warnOnFetchOpenOrdersWithoutSymbol": False,
}
"""What ccxt's ``binance`` needs to stay on spot public endpoints (LOOPBACK-PROTOCOLS)."""

Quote = tuple[Decimal, Decimal | None, Decimal | None]


class CCXTPollingFeed(DataFeed):
    """Polls ``symbols`` (ccxt-unified) through ``exchange`` every ``interval_s``.

    ``exchange`` is a synchronous ccxt instance built by the caller (see
    :func:`ccxt_exchange`); the feed thread is its only user. ``sleep`` must return early
    when the feed stops (the default waits on the stop event). A poll in flight ends within
    the exchange's own ``timeout`` (ms): that bounds how long :meth:`stop` can take.
    """

    name = "ccxt_poll"

    def __init__(self, exchange: ccxt.Exchange, symbols: Sequence[str], *,
                 interval_s: float = 1.0, stale_after_s: float = 30.0,
                 backoff: Backoff | None = None, clock: Clock | None = None,
                 sleep: Callable[[float], object] | None = None) -> None:
        super().__init__(clock)
        if not symbols or interval_s <= 0 or stale_after_s <= 0:
            raise ConfigError("CCXTPollingFeed needs symbols, interval_s > 0, stale_after_s > 0")
        self.exchange = exchange
        self.symbols = tuple(symbols)
        self.interval_s = interval_s
        self.backoff = backoff or Backoff(initial_s=interval_s, max_s=max(30.0, interval_s))
        self._sleep: Callable[[float], object] = sleep or self._stop.wait
        self._health = FeedHealthTracker(self.name, stale_after_s)
        self._last: dict[str, Quote] = {}
        self._sink: EventSink | None = None

    def health(self) -> FeedHealth:
        """Connected (last poll succeeded), stale, last data age, counters; any thread."""
        return self._health.snapshot()

    def run(self, sink: EventSink) -> None:
        self._sink = sink
        watchdog = StaleWatchdog(self._health, self._on_stale)
        watchdog.start()
        failures = 0
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    tickers = self._fetch()
                except ccxt.BaseError as exc:
                    failures += 1
                    self._failed(exc, first=failures == 1)
                    self._sleep(self.backoff.delay_s(failures - 1))
                    continue
                if failures:
                    self._health.reconnected()
                self._health.set_connected(True)
                self._publish_changes(tickers, streak_ended=failures > 0)
                failures = 0
                self._sleep(max(0.0, self.interval_s - (time.monotonic() - started)))
        finally:
            watchdog.close()
            self._health.set_connected(False)

    def _fetch(self) -> dict[str, Any]:
        """Every symbol's ticker: one call when the venue can, else one per symbol. Blocks."""
        self._health.count("polls")
        if self.exchange.has.get("fetchTickers"):
            return dict(self.exchange.fetch_tickers(list(self.symbols)))
        return {s: self.exchange.fetch_ticker(s) for s in self.symbols}

    def _failed(self, exc: ccxt.BaseError, *, first: bool) -> None:
        self._health.count("poll_errors")
        self._health.set_connected(False)
        # OperationFailed (NetworkError's parent in ccxt 4.5) is what a venue's "internal
        # error, try again" (Binance -1001, 5xx) becomes: as transient as a timeout.
        transient = isinstance(exc, ccxt.NetworkError | ccxt.OperationFailed)
        # ccxt messages can echo request URLs; keep only the class and a short head.
        text = f"{type(exc).__name__}: {str(exc)[:160]}"
        _log.warning("feed_poll_failed", feed=self.name, error=text, transient=transient)
        if first:
            self._publish(trusted(
                FeedError, error_type=type(exc).__name__, message=f"ticker poll failed: {text}",
                severity=Severity.WARNING if transient else Severity.ERROR,
                source=f"feed:{self.name}", timestamp=self._clock.now(),
                context={"transient": str(transient)}))

    def _publish_changes(self, tickers: dict[str, Any], *, streak_ended: bool) -> None:
        changed: list[MarketData] = []
        for symbol in self.symbols:
            ticker = tickers.get(symbol)
            try:
                event = self._to_event(symbol, ticker)
            except BadFrame as bad:
                self._health.garbage(bad.reason, f"{symbol}: {bad.detail}")
                continue
            quote = (event.price, event.bid, event.ask)
            if self._last.get(symbol) != quote:
                self._last[symbol] = quote
                changed.append(event)
        stale_cleared = self._health.message() if changed else False
        if streak_ended or stale_cleared:
            self._publish(recovered_event(self.name, self._clock))
        for event in changed:
            self._publish(event)
            self.published += 1
            self._health.count("events")

    def _to_event(self, symbol: str, ticker: Any) -> MarketData:
        if not isinstance(ticker, dict):
            raise BadFrame("bad_shape", "no ticker")
        last_key = "last" if ticker.get("last") is not None else "close"
        price = decimal_field(ticker, last_key, positive=True)
        bid = decimal_field(ticker, "bid", positive=False) if ticker.get("bid") else None
        ask = decimal_field(ticker, "ask", positive=False) if ticker.get("ask") else None
        when = (ms_field(ticker, "timestamp") if ticker.get("timestamp") is not None
                else self._clock.now())
        return trusted(MarketData, symbol=symbol, timestamp=when, price=price,
                       bid=bid if bid else None, ask=ask if ask else None)

    def _publish(self, event: Any) -> None:
        sink = self._sink
        if sink is not None:
            sink(event)

    def _on_stale(self, silence_s: float) -> None:
        self._publish(stale_event(self.name, silence_s, self._health.snapshot().connected,
                                  self._clock))


def ccxt_exchange(exchange_id: str, *, rest_url: str | None = None, timeout_ms: int = 10_000,
                  options: dict[str, Any] | None = None,
                  enable_rate_limit: bool = True) -> ccxt.Exchange:
    """A synchronous ccxt client for public market data, numbers as strings.

    ``rest_url`` points it at another host (``livetrade sim-exchange``, a testnet): for
    ``binance`` the spot API lives under ``/api/v3``; for any other venue every entry of
    ``urls["api"]`` becomes ``rest_url``. Unlisted API families then fail instead of
    reaching the internet.
    """
    cls = getattr(ccxt, exchange_id, None)
    if not isinstance(cls, type) or not issubclass(cls, ccxt.Exchange):
        raise ConfigError(f"unknown ccxt exchange {exchange_id!r}")
    merged = dict(BINANCE_LOOPBACK_OPTIONS) if exchange_id == "binance" else {}
    merged.update(options or {})
    exchange: ccxt.Exchange = cls({"enableRateLimit": enable_rate_limit, "timeout": timeout_ms,
                                   "options": merged})
    exchange.number = str  # ccxt's documented switch: unified numbers stay strings
    if rest_url:
        base = rest_url.rstrip("/")
        api = exchange.urls.get("api")
        if exchange_id == "binance":
            exchange.urls["api"] = {"public": base + "/api/v3", "private": base + "/api/v3"}
        elif isinstance(api, dict):
            exchange.urls["api"] = {key: base for key in api}
        else:
            exchange.urls["api"] = base
    return exchange


def ccxt_polling_feed_from_section(section: CCXTPollingFeedSection, clock: Clock) -> DataFeed:
    """The feed a ``[[feeds]] type = "ccxt_poll"`` table describes."""
    exchange = ccxt_exchange(section.exchange, rest_url=section.rest_url,
                             timeout_ms=section.timeout_ms, options=dict(section.options))
    return CCXTPollingFeed(exchange, section.symbols, interval_s=section.interval_s,
                           stale_after_s=section.stale_after_s,
                           backoff=Backoff(initial_s=section.interval_s,
                                           max_s=max(section.error_backoff_max_s,
                                                     section.interval_s)),
                           clock=clock)
