"""``SimExchange``: the venue core wired to Binance's REST and websocket front doors.

One object a test or the CLI starts and stops. It owns the threads (HTTP server, stream
server, price driver) and the state directory; everything else is injected into the
parts it builds. The server clock is the wall clock plus the clock-skew fault, so a skew
makes signed requests fail with -1021 exactly as a drifting client clock does.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import structlog

from livetrade.errors import ConfigError, StateError
from livetrade.simexchange import admin
from livetrade.simexchange.addresses import ServedAddresses
from livetrade.simexchange.binance import shapes
from livetrade.simexchange.binance.api import BinanceApi
from livetrade.simexchange.binance.auth import Signer, WeightLimiter
from livetrade.simexchange.binance.rest import RestServer
from livetrade.simexchange.binance.ws import USER, StreamServer
from livetrade.simexchange.config import SimExchangeConfig
from livetrade.simexchange.faults import FaultInjector
from livetrade.simexchange.prices import PriceDriver
from livetrade.simexchange.records import Kline, MarketTick, VenueOrder, VenueTrade
from livetrade.simexchange.store import VenueStore
from livetrade.simexchange.venue import Venue

log = structlog.get_logger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _StreamPublisher:
    """Turns venue changes into Binance stream payloads (runs under the venue lock)."""

    def __init__(self, streams: StreamServer, now_ms: Callable[[], int]) -> None:
        self._streams = streams
        self._now_ms = now_ms

    def on_order(self, order: VenueOrder, trade: VenueTrade | None, execution: str) -> None:
        report = shapes.execution_report(order, trade, execution, self._now_ms())
        self._streams.publish({USER: report})

    def on_balances(self, balances: dict[str, tuple[Decimal, Decimal]], time_ms: int) -> None:
        self._streams.publish({USER: shapes.account_position(balances, time_ms)})

    def on_tick(self, tick: MarketTick, kline: Kline, closed: Kline | None) -> None:
        name = shapes.venue_id(tick.symbol).lower()
        if closed is not None:  # the finished candle's last update, x = true
            self._streams.publish({f"{name}@kline_1m": shapes.kline_event(
                tick.symbol, closed, tick.time_ms)})
        self._streams.publish({
            f"{name}@trade": shapes.trade_event(tick),
            f"{name}@bookTicker": shapes.book_ticker_event(tick),
            f"{name}@kline_1m": shapes.kline_event(tick.symbol, kline, tick.time_ms),
        })


class SimExchange(ServedAddresses):
    """A Binance-spot-compatible exchange on loopback, for tests and ``livetrade
    sim-exchange``. Also a context manager (``with SimExchange(cfg) as sim:``).

    Thread-safe. ``set_price`` is the deterministic price step tests use; ``faults`` (and
    ``/admin/faults``) changes misbehaviour at runtime. The API secret is never logged
    nor shown in ``repr``.
    """

    def __init__(self, config: SimExchangeConfig | None = None,
                 wall_ms: Callable[[], int] | None = None) -> None:
        self.config = config or SimExchangeConfig()
        if self.config.host not in LOOPBACK and not self.config.allow_remote:
            raise ConfigError(f"sim-exchange binds loopback only, not {self.config.host!r} "
                              "(allow_remote to override)")
        self._wall_ms = wall_ms or (lambda: int(time.time() * 1000))
        self.faults = FaultInjector(self.config.faults)
        self._stopping = threading.Event()
        self._store = (VenueStore(self.config.state_dir)
                       if self.config.state_dir is not None else None)
        self.api_key, self.api_secret = self._credentials()
        self.venue = Venue(self.config, self.server_ms, self._store,
                           fill_faults=self.faults.fill_faults)
        self._api = BinanceApi(self.venue, self.server_ms)
        self._streams = StreamServer(self.config.host, self.config.ws_port,
                                     self._api.is_listen_key, self.faults,
                                     self.config.ws_queue_size)
        self.venue.add_listener(_StreamPublisher(self._streams, self.server_ms))
        self._limiter = WeightLimiter(self.config.request_weight_limit,
                                      self.config.ban_after_429, self.server_ms)
        self._http = RestServer(
            (self.config.host, self.config.port), api=self._api,
            signer=Signer(self.api_key, self.api_secret, self.server_ms),
            limiter=self._limiter, faults=self.faults,
            admin=lambda m, p, b: admin.handle(self, m, p, b), stopping=self._stopping)
        self._http_thread = threading.Thread(target=self._http.serve_forever,
                                             kwargs={"poll_interval": 0.05},
                                             name="sim-rest", daemon=True)
        self._prices = PriceDriver(
            self.set_price, symbols=self.config.symbols, prices=self.venue.market.price,
            source=self.config.price_source, interval_s=self.config.tick_interval_s,
            seed=self.config.seed)
        self._started = False
        self._stopped = False

    def __repr__(self) -> str:
        return f"SimExchange(rest_url={self.rest_url!r}, ws_url={self.ws_url!r})"

    def _credentials(self) -> tuple[str, str]:
        """Configured, else the ones stored with the state, else new (and stored)."""
        if self.config.api_key and self.config.api_secret:
            return self.config.api_key, self.config.api_secret
        stored = self._store.credentials() if self._store is not None else None
        if stored is not None and not self.config.api_key:
            return stored
        key = self.config.api_key or secrets.token_hex(32)
        secret = self.config.api_secret or secrets.token_hex(32)
        if self._store is not None:
            self._store.save_credentials(key, secret)
        return key, secret

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> SimExchange:
        if self._started:
            raise StateError("SimExchange already started")
        self._started = True
        self._http_thread.start()
        self._streams.start()
        self._prices.start()
        log.info("sim-exchange started", rest_url=self.rest_url, ws_url=self.ws_url)
        return self

    def stop(self) -> None:
        """Stop prices, cut every connection, persist the last prices, close the store."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._prices.stop()
        if self._started:
            self._http.shutdown()
        self._http.close_all()
        self._http.server_close()
        self._streams.stop()
        self.venue.close()
        if self._store is not None:
            self._store.close()
        log.info("sim-exchange stopped")

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def ws_port(self) -> int:
        return self._streams.port

    # -- control and inspection ----------------------------------------------------------

    def server_ms(self) -> int:
        """The venue's clock: wall clock plus the clock-skew fault."""
        return self._wall_ms() + self.faults.clock_skew_ms()

    def set_price(self, symbol: str, price: Decimal, volume: Decimal = Decimal(0)) -> None:
        """One price step: publish trade/bookTicker/kline, then match resting orders."""
        self.venue.set_price(self._unified(symbol), price, volume)

    def _unified(self, symbol: str) -> str:
        if "/" in symbol:
            return symbol
        for unified, spec in self.venue.specs.items():
            if spec.venue_id == symbol.upper():
                return unified
        return symbol

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        return self.venue.balances()

    def orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Every order ever accepted, in ``GET /api/v3/order`` shape."""
        return [shapes.order_json(o) for o in self.venue.orders(symbol)]

    def trades(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Every fill, in ``GET /api/v3/myTrades`` shape."""
        return [shapes.my_trade_json(t) for t in self.venue.trades(symbol)]

    def drop_streams(self) -> int:
        """Force-close every websocket connection; returns how many were open."""
        return self._streams.drop_all()

    def stream_connections(self) -> int:
        return self._streams.connections()

    def state(self) -> dict[str, Any]:
        return {
            "balances": {a: {"free": str(f), "locked": str(lk)}
                         for a, (f, lk) in self.balances().items()},
            "open_orders": [shapes.order_json(o) for o in self.venue.open_orders()],
            "prices": {s: str(p) for s, p in self.venue.market.prices().items()},
            "stream_connections": self.stream_connections(),
        }

