"""The paper broker: the embedded default venue, filling orders against the market data.

It does no I/O, so it is ``inline``: the engine calls it on the dispatcher thread. That is
what makes a replay deterministic: its last price is the last ``MarketData`` the dispatcher
processed, a market order sent while handling bar *t* fills at bar *t*'s price, and its fill
event (higher priority than market data) reaches the strategy before bar *t+1*.

The matching rules are in :mod:`livetrade.matching`; this class adds the account (its own
:class:`~livetrade.portfolio.Portfolio`, the "broker side" of a reconciliation), commission,
ids and events. Commission is ``commission_bps`` of each fill's notional plus
``commission_per_order`` on an order's first fill. DAY orders expire when the first market
data of a later UTC date arrives.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from livetrade.brokers.base import AccountInfo, BrokerAdapter, BrokerOrder, EventSink
from livetrade.clock import Clock, SystemClock
from livetrade.errors import EngineStateError, OrderRejectedError
from livetrade.events import (
    Event,
    MarketData,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFill,
    OrderType,
    TimeInForce,
    trusted,
)
from livetrade.matching import FillModel, MatchOutcome, Quote, SimOrder, on_arrival, on_quote
from livetrade.orders import OrderRequest
from livetrade.portfolio import Portfolio

_BPS = Decimal(10_000)


@dataclass(frozen=True)
class PaperBrokerConfig:
    """Settings of the simulated venue. ``symbols`` empty means any symbol is tradable."""

    initial_cash: Decimal = Decimal(100_000)
    currency: str = "USD"
    slippage_bps: Decimal = Decimal(0)
    commission_bps: Decimal = Decimal(0)
    commission_per_order: Decimal = Decimal(0)
    participation: Decimal | None = None
    symbols: tuple[str, ...] = ()


@dataclass
class _Working:
    client_order_id: str
    symbol: str
    request: OrderRequest
    sim: SimOrder
    day: date  # UTC date the order was accepted on (for DAY expiry)
    charged_per_order: bool = False


class PaperBroker(BrokerAdapter):
    """Simulated broker with its own account. Thread-safe; see the module docstring."""

    name = "paper"
    inline = True

    def __init__(self, config: PaperBrokerConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or PaperBrokerConfig()
        self._clock = clock or SystemClock()
        self._model = FillModel(self.config.slippage_bps, self.config.participation)
        self._account = Portfolio(self.config.initial_cash)
        self._last: dict[str, MarketData] = {}
        self._working: dict[str, _Working] = {}
        self._lock = threading.RLock()
        self._sink: EventSink | None = None
        self._order_ids = itertools.count(1)
        self._fill_ids = itertools.count(1)

    # ----------------------------------------------------------- session
    def connect(self, sink: EventSink) -> None:
        self._sink = sink

    def disconnect(self) -> None:
        self._sink = None

    def _emit(self, event: Event) -> None:
        sink = self._sink
        if sink is None:
            raise EngineStateError("paper broker used before connect()")
        sink(event)

    # ----------------------------------------------------------- orders
    def submit_order(self, client_order_id: str, request: OrderRequest) -> None:
        with self._lock:
            if client_order_id in self._working:
                raise OrderRejectedError("duplicate client order id",
                                         client_order_id=client_order_id)
            symbols = self.config.symbols
            if symbols and request.symbol not in symbols:
                raise OrderRejectedError(
                    f"unknown symbol {request.symbol!r}; this paper venue trades "
                    f"{', '.join(symbols)}",
                    client_order_id=client_order_id,
                )
            last = self._last.get(request.symbol)
            quote = _quote(last) if last is not None else None
            if quote is None and request.order_type is OrderType.MARKET:
                raise OrderRejectedError(
                    f"no market price seen yet for {request.symbol}",
                    client_order_id=client_order_id,
                )
            broker_id = f"PB{next(self._order_ids)}"
            now = self._clock.now()
            working = _Working(
                client_order_id=client_order_id,
                symbol=request.symbol,
                request=request,
                sim=SimOrder(
                    order_id=broker_id,
                    side=request.side,
                    quantity=request.quantity,
                    order_type=request.order_type,
                    limit_price=request.limit_price,
                    stop_price=request.stop_price,
                    time_in_force=request.time_in_force,
                ),
                day=now.date(),
            )
            self._emit(trusted(OrderAccepted, order_id=broker_id,
                               client_order_id=client_order_id, timestamp=now))
            if quote is None:
                if request.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                    # Nothing to match against now, and these must never rest.
                    self._emit(trusted(OrderCanceled, order_id=broker_id,
                                       client_order_id=client_order_id, timestamp=now,
                                       reason=f"no market price for {request.symbol} to match "
                                              f"a {request.time_in_force.value} order"))
                    return
                self._working[client_order_id] = working
                return
            self._settle(working, on_arrival(working.sim, quote, self._model), rest=True)

    def cancel_order(self, client_order_id: str) -> None:
        with self._lock:
            working = self._working.pop(client_order_id, None)
            now = self._clock.now()
            if working is None:
                self._emit(trusted(OrderCancelRejected, order_id="",
                                   client_order_id=client_order_id,
                                   reason="order is not open at the paper broker", timestamp=now))
                return
            self._emit(trusted(OrderCanceled, order_id=working.sim.order_id,
                               client_order_id=client_order_id, timestamp=now,
                               reason="canceled on request"))

    def _settle(self, working: _Working, outcome: MatchOutcome, rest: bool) -> None:
        working.sim = outcome.order
        now = self._clock.now()
        for execution in outcome.executions:
            commission = execution.price * execution.quantity * self.config.commission_bps / _BPS
            if not working.charged_per_order:
                commission += self.config.commission_per_order
                working.charged_per_order = True
            self._account.apply_fill(working.symbol, working.request.side, execution.quantity,
                                     execution.price, commission)
            self._emit(trusted(
                OrderFill,
                order_id=working.sim.order_id,
                client_order_id=working.client_order_id,
                symbol=working.symbol,
                side=working.request.side,
                fill_price=execution.price,
                fill_amount=execution.quantity,
                commission=commission,
                timestamp=now,
                fill_id=f"PF{next(self._fill_ids)}",
            ))
        if outcome.canceled_reason is not None:
            self._working.pop(working.client_order_id, None)
            self._emit(trusted(OrderCanceled, order_id=working.sim.order_id,
                               client_order_id=working.client_order_id, timestamp=now,
                               reason=outcome.canceled_reason))
        elif outcome.done:
            self._working.pop(working.client_order_id, None)
        elif rest:
            self._working[working.client_order_id] = working

    # ----------------------------------------------------------- market data
    def on_market_data(self, event: MarketData) -> None:
        # Hot path: one dict store per event. The quote object and the account's marks are
        # only built when something needs them (a resting order, an account query).
        self._last[event.symbol] = event
        if not self._working:
            return
        quote = _quote(event)
        with self._lock:
            today = event.timestamp.date()
            for working in [w for w in self._working.values() if w.symbol == event.symbol]:
                if working.request.time_in_force is TimeInForce.DAY and today > working.day:
                    self._working.pop(working.client_order_id, None)
                    self._emit(trusted(OrderExpired, order_id=working.sim.order_id,
                                       client_order_id=working.client_order_id,
                                       timestamp=self._clock.now()))
                    continue
                self._settle(working, on_quote(working.sim, quote, self._model), rest=False)

    # ----------------------------------------------------------- queries
    def _mark_account(self) -> None:
        for symbol, event in list(self._last.items()):
            self._account.mark(symbol, event.price)

    def get_positions(self) -> Mapping[str, Decimal]:
        snapshot = self._account.snapshot()
        return {s: p.quantity for s, p in snapshot.positions.items()}

    def get_open_orders(self) -> list[BrokerOrder]:
        with self._lock:
            return [
                BrokerOrder(w.client_order_id, w.sim.order_id, w.request, w.sim.filled)
                for w in self._working.values()
            ]

    def get_account_info(self) -> AccountInfo:
        self._mark_account()
        snapshot = self._account.snapshot()
        return AccountInfo(
            currency=self.config.currency,
            cash=snapshot.cash,
            equity=snapshot.equity,
            buying_power=snapshot.cash,
        )

    def subscribe_market_data(self, symbols: Iterable[str]) -> None:
        """The paper venue has no market data of its own: it watches the engine's feeds."""


def _quote(event: MarketData) -> Quote:
    return Quote(event.price, event.volume, event.open, event.high, event.low)
