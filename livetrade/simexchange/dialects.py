"""The simulator with a Bybit or Hyperliquid front door: ``open_sim_exchange(config, dialect)``.

Why a second lifecycle class instead of editing ``SimExchange``: that class is wired to
Binance's REST server, signer and stream server. ``DialectExchange`` assembles the same
core (``DerivativesVenue`` = the core ``Venue`` plus linear perpetuals, ``FaultInjector``,
``VenueStore``, ``PriceDriver``, the admin endpoint) behind a dialect's ``FrontDoor``
(router, fault replies, websocket frames and pushes), so every dialect matches orders with
the PaperBroker's rules and persists the same way.

Credentials: Bybit takes an API key and secret (generated when absent, kept with the
state). Hyperliquid has none: the "key" is the account's wallet address and the "secret"
its private key (a fresh secp256k1 key when absent), which a client hands to ccxt as
``walletAddress`` / ``privateKey``; the simulator checks each ``/exchange`` signature
recovers to that address.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any, Protocol

import structlog

from livetrade.errors import ConfigError, StateError
from livetrade.simexchange import admin
from livetrade.simexchange.addresses import ServedAddresses
from livetrade.simexchange.config import DEFAULT_START_PRICES, SimExchangeConfig, SymbolSpec
from livetrade.simexchange.faults import FaultInjector, HttpFault
from livetrade.simexchange.jsonhttp import HttpReply, HttpRequest, JsonHttpServer
from livetrade.simexchange.perps import DerivativesVenue, PerpSpec, Position
from livetrade.simexchange.prices import PriceDriver
from livetrade.simexchange.records import VenueOrder, VenueTrade
from livetrade.simexchange.server import LOOPBACK, SimExchange
from livetrade.simexchange.store import VenueStore
from livetrade.simexchange.topic_ws import FrameOutcome, TopicStreamServer
from livetrade.simexchange.venue import VenueListener

log = structlog.get_logger(__name__)

DIALECTS = ("binance", "bybit", "hyperliquid")
DEFAULT_SYMBOLS = {
    "bybit": ("BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"),
    "hyperliquid": ("BTC/USDC:USDC", "ETH/USDC:USDC"),
}


class FrontDoor(Protocol):
    """What a dialect provides on top of the core."""

    ws_paths: tuple[str, ...]

    def route(self, request: HttpRequest) -> HttpReply: ...

    def fault_reply(self, fault: HttpFault, value: int) -> HttpReply: ...

    def on_frame(self, path: str, message: str | bytes) -> FrameOutcome: ...

    def publisher(self, publish: Callable[[dict[str, str]], None]) -> VenueListener: ...


def open_sim_exchange(config: SimExchangeConfig, dialect: str = "binance",
                      wall_ms: Callable[[], int] | None = None) -> SimExchange | DialectExchange:
    """A simulator speaking ``dialect`` (binance | bybit | hyperliquid); not started."""
    if dialect == "binance":
        return SimExchange(config, wall_ms=wall_ms)
    if dialect not in DIALECTS:
        raise ConfigError(f"unknown sim-exchange dialect {dialect!r} (one of {DIALECTS})")
    return DialectExchange(config, dialect, wall_ms=wall_ms)


def dialect_config(config: SimExchangeConfig, dialect: str) -> SimExchangeConfig:
    """Fill in what a dialect needs: its default symbols and collateral when the config
    still has Binance's defaults, perpetual specs for ``"BASE/QUOTE:SETTLE"`` symbols, and
    start prices of perpetuals from their spot twin's."""
    defaults = SimExchangeConfig()
    symbols = config.symbols
    if symbols == defaults.symbols and dialect in DEFAULT_SYMBOLS:
        symbols = DEFAULT_SYMBOLS[dialect]
    balances = config.balances
    if dialect == "hyperliquid" and balances == defaults.balances:
        balances = {"USDC": Decimal("100000")}
    specs: list[SymbolSpec] = []
    starts = dict(config.start_prices)
    for symbol in symbols:
        start = starts.get(symbol, _start_price(config, symbol))
        starts[symbol] = start
        spec = config.spec(symbol)
        if dialect == "hyperliquid":
            spec = _hyperliquid_spec(spec, start)
        if ":" in symbol and not isinstance(spec, PerpSpec):
            fields = {f: getattr(spec, f) for f in SymbolSpec.__dataclass_fields__}
            spec = PerpSpec(**fields)
        specs.append(spec)
    return replace(config, symbols=symbols, balances=balances, specs=tuple(specs),
                   start_prices=starts)


def _start_price(config: SimExchangeConfig, symbol: str) -> Decimal:
    """A perpetual starts where its spot twin does; any quote of the same base will do
    ("BTC/USDC:USDC" starts at BTC/USDT's price)."""
    spot = symbol.split(":", maxsplit=1)[0]
    base = spot.split("/")[0]
    for known, price in {**DEFAULT_START_PRICES, **config.start_prices}.items():
        if known == spot or (spot not in config.start_prices and known.split("/")[0] == base):
            return price
    return config.start_price(spot)


def _hyperliquid_spec(spec: SymbolSpec, start: Decimal) -> SymbolSpec:
    """Hyperliquid prices have at most 5 significant figures: the tick follows the price
    (BTC at 30000 -> 1, ETH at 2000 -> 0.1); orders must be worth at least $10."""
    exponent = start.adjusted() - 4
    tick = Decimal(1).scaleb(exponent) if exponent < 0 else Decimal(10) ** exponent
    fields = {f: getattr(spec, f) for f in SymbolSpec.__dataclass_fields__}
    fields.update(tick_size=tick, min_price=tick, min_notional=Decimal(10))
    return PerpSpec(**fields)


class DialectExchange(ServedAddresses):
    """A Bybit- or Hyperliquid-speaking exchange on loopback, for tests and ``livetrade
    sim-exchange --dialect``. The same surface as :class:`SimExchange` where it makes sense
    (start/stop, URLs, ``set_price``, ``faults``, ``/admin``). Thread-safe; the secret is
    never logged nor shown in ``repr``."""

    def __init__(self, config: SimExchangeConfig, dialect: str,
                 wall_ms: Callable[[], int] | None = None) -> None:
        self.dialect = dialect
        self.config = dialect_config(config, dialect)
        if self.config.host not in LOOPBACK and not self.config.allow_remote:
            raise ConfigError(f"sim-exchange binds loopback only, not {self.config.host!r} "
                              "(allow_remote to override)")
        self._wall_ms = wall_ms or (lambda: int(time.time() * 1000))
        self.faults = FaultInjector(self.config.faults)
        self._stopping = threading.Event()
        self._store = (VenueStore(self.config.state_dir)
                       if self.config.state_dir is not None else None)
        self.api_key, self.api_secret = self._credentials()
        self.venue = DerivativesVenue(self.config, self.server_ms, self._store,
                                      fill_faults=self.faults.fill_faults)
        self.door = self._door()
        self._streams = TopicStreamServer(self.config.host, self.config.ws_port,
                                          paths=self.door.ws_paths, on_frame=self.door.on_frame,
                                          faults=self.faults,
                                          queue_size=self.config.ws_queue_size)
        self.venue.add_listener(self.door.publisher(self._streams.publish))
        self._http = JsonHttpServer(
            (self.config.host, self.config.port), router=self.door.route,
            fault_reply=self.door.fault_reply, faults=self.faults,
            admin=lambda m, p, b: admin.handle(self, m, p, b), stopping=self._stopping)
        self._http_thread = threading.Thread(target=self._http.serve_forever,
                                             kwargs={"poll_interval": 0.05},
                                             name=f"sim-{dialect}-rest", daemon=True)
        self._prices = PriceDriver(
            self.set_price, symbols=self.config.symbols, prices=self.venue.market.price,
            source=self.config.price_source, interval_s=self.config.tick_interval_s,
            seed=self.config.seed)
        self._started = False
        self._stopped = False

    def __repr__(self) -> str:
        return f"DialectExchange({self.dialect!r}, rest_url={self.rest_url!r})"

    def _door(self) -> FrontDoor:
        if self.dialect == "bybit":
            from livetrade.simexchange.bybit.door import BybitDoor

            return BybitDoor(self.venue, self.api_key, self.api_secret, self.server_ms,
                             self.config.commission_bps)
        from livetrade.simexchange.hyperliquid.door import HyperliquidDoor

        return HyperliquidDoor(self.venue, self.api_key, self.server_ms,
                               self.config.commission_bps)

    def _credentials(self) -> tuple[str, str]:
        if self.config.api_key and self.config.api_secret:
            return self.config.api_key, self.config.api_secret
        stored = self._store.credentials() if self._store is not None else None
        if stored is not None:
            return stored
        if self.dialect == "hyperliquid":
            from livetrade.simexchange.hyperliquid.signing import new_wallet

            key, secret = new_wallet()
        else:
            key, secret = secrets.token_hex(18), secrets.token_hex(18)
        if self._store is not None:
            self._store.save_credentials(key, secret)
        return key, secret

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> DialectExchange:
        if self._started:
            raise StateError("sim-exchange already started")
        self._started = True
        self._http_thread.start()
        self._streams.start()
        self._prices.start()
        log.info("sim-exchange started", dialect=self.dialect, rest_url=self.rest_url,
                 ws_url=self.ws_url)
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
        log.info("sim-exchange stopped", dialect=self.dialect)

    @property
    def port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def ws_port(self) -> int:
        return self._streams.port

    # -- control and inspection ----------------------------------------------------------

    def server_ms(self) -> int:
        return self._wall_ms() + self.faults.clock_skew_ms()

    def set_price(self, symbol: str, price: Decimal, volume: Decimal = Decimal(0)) -> None:
        """One price step (unified symbol): publish it, then match resting orders."""
        self.venue.set_price(symbol, price, volume)

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        return self.venue.balances()

    def venue_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        return self.venue.orders(symbol)

    def venue_trades(self, symbol: str | None = None) -> list[VenueTrade]:
        return self.venue.trades(symbol)

    def positions(self) -> dict[str, Position]:
        """Non-flat perpetual positions by unified symbol."""
        return {p.symbol: p for p in self.venue.positions() if p.quantity != 0}

    def drop_streams(self) -> int:
        return self._streams.drop_all()

    def stream_connections(self) -> int:
        return self._streams.connections()

    def state(self) -> dict[str, Any]:
        return {
            "dialect": self.dialect,
            "balances": {a: {"free": str(f), "locked": str(lk)}
                         for a, (f, lk) in self.balances().items()},
            "open_orders": [o.to_json() for o in self.venue.open_orders()],
            "positions": {s: {"quantity": str(p.quantity), "entry_price": str(p.entry_price)}
                          for s, p in self.positions().items()},
            "prices": {s: str(p) for s, p in self.venue.market.prices().items()},
            "stream_connections": self.stream_connections(),
        }

