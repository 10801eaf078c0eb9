"""The simulated venue: accept, match, cancel and report orders of one spot account.

Dialect-agnostic: Binance's REST handler (and later Bybit's, Hyperliquid's) calls these
methods with unified symbols and Decimals and words the ``VenueReject`` reasons its own way.

Fills come from :mod:`livetrade.matching`, the rules the PaperBroker uses, so an order fills
the same way on paper and on the simulator. The venue only decides *how much* may fill per
price step (participation of the step's volume, the partial-fill fault) and settles the
account. Everything runs under one lock; listeners are called under it, in order, and
must not block (the websocket server only enqueues).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from livetrade import matching
from livetrade.events import OrderType, Side, TimeInForce
from livetrade.simexchange.account import Account
from livetrade.simexchange.config import SimExchangeConfig, SymbolSpec
from livetrade.simexchange.market import MarketState
from livetrade.simexchange.records import (
    Kline,
    MarketTick,
    OrderStatus,
    RejectReason,
    VenueOrder,
    VenueReject,
    VenueTrade,
)
from livetrade.simexchange.rules import check_filters
from livetrade.simexchange.store import VenueSnapshot, VenueStore

_BPS = Decimal(10_000)
_COMMISSION_QUANTUM = Decimal("0.00000001")


class VenueListener(Protocol):
    """Receives every change, in order, under the venue lock: must only enqueue."""

    def on_order(self, order: VenueOrder, trade: VenueTrade | None, execution: str) -> None: ...

    def on_balances(self, balances: dict[str, tuple[Decimal, Decimal]], time_ms: int) -> None: ...

    def on_tick(self, tick: MarketTick, kline: Kline, closed: Kline | None) -> None: ...


FillFaults = Callable[[], tuple[int, float | None]]
"""Returns (fill delay in ms, cap of each fill as a share of the order or None)."""


class Venue:
    """One account on one simulated spot venue; thread-safe, persistent when given a store."""

    def __init__(self, config: SimExchangeConfig, now_ms: Callable[[], int],
                 store: VenueStore | None = None,
                 fill_faults: FillFaults = lambda: (0, None),
                 schedule: Callable[[float, Callable[[], None]], None] | None = None) -> None:
        self._config = config
        self._now_ms = now_ms
        self._store = store
        self._fill_faults = fill_faults
        self._schedule = schedule or _timer
        self._lock = threading.RLock()
        self._closed = False
        self._listeners: list[VenueListener] = []
        self.specs: dict[str, SymbolSpec] = {s: config.spec(s) for s in config.symbols}
        snapshot = store.load() if store is not None else None
        prices = {s: config.start_price(s) for s in config.symbols}
        if snapshot is None:
            self._account = Account({a: (v, Decimal(0)) for a, v in config.balances.items()})
            self._counters = {"order": 0, "trade": 0}
            self._orders: dict[int, VenueOrder] = {}
            self._trades: list[VenueTrade] = []
        else:
            self._account = Account(snapshot.balances)
            self._counters = snapshot.counters
            self._orders = {o.order_id: o for o in snapshot.orders}
            self._trades = list(snapshot.trades)
            prices.update({s: p for s, p in snapshot.prices.items() if s in prices})
        # Open orders only: a price step scans these, never the whole history.
        self._open: dict[int, VenueOrder] = {
            i: o for i, o in self._orders.items() if o.status.is_open}
        self._by_client: dict[tuple[str, str], int] = {
            (o.symbol, o.client_order_id): o.order_id for o in self._orders.values()}
        self.market = MarketState(self.specs, prices)
        if store is not None and snapshot is None:
            self._commit([], [])

    def add_listener(self, listener: VenueListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def now_ms(self) -> int:
        return self._now_ms()

    # -- reads -------------------------------------------------------------------------

    def spec(self, symbol: str) -> SymbolSpec:
        if symbol not in self.specs:
            raise VenueReject(RejectReason.UNKNOWN_SYMBOL, symbol)
        return self.specs[symbol]

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        with self._lock:
            return self._account.snapshot()

    def orders(self, symbol: str | None = None) -> list[VenueOrder]:
        with self._lock:
            return [_copy(o) for o in self._orders.values() if symbol in (None, o.symbol)]

    def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        with self._lock:
            return [_copy(o) for o in self._open.values() if symbol in (None, o.symbol)]

    def trades(self, symbol: str | None = None) -> list[VenueTrade]:
        with self._lock:
            return [t for t in self._trades if symbol in (None, t.symbol)]

    def find_order(self, symbol: str, order_id: int | None = None,
                   client_order_id: str | None = None) -> VenueOrder:
        """The order by venue id or (the latest one) by client id; raises UNKNOWN_ORDER."""
        self.spec(symbol)
        with self._lock:
            order = self._find(symbol, order_id, client_order_id)
            return _copy(order)

    # -- orders ------------------------------------------------------------------------

    def place_order(self, symbol: str, side: Side, order_type: OrderType, quantity: Decimal,
                    *, price: Decimal | None = None, stop_price: Decimal | None = None,
                    time_in_force: TimeInForce = TimeInForce.GTC,
                    client_order_id: str | None = None) -> tuple[VenueOrder, list[VenueTrade]]:
        """Validate, lock funds, accept and match on arrival. Returns the order after
        arrival matching and the fills it got. Raises ``VenueReject``."""
        spec = self.spec(symbol)
        with self._lock:
            last = self.market.price(symbol)
            check_filters(spec, order_type, quantity, price=price, stop_price=stop_price,
                          last=last)
            now = self._now_ms()
            if client_order_id is not None:
                known = self._by_client.get((symbol, client_order_id))
                if known is not None and self._orders[known].status.is_open:
                    raise VenueReject(RejectReason.DUPLICATE_ORDER, client_order_id)
            asset, amount = self._funding(spec, side, quantity, price or last)
            if not self._account.can_lock(asset, amount):
                raise VenueReject(RejectReason.INSUFFICIENT_BALANCE,
                                  f"needs {amount} {asset}")
            self._counters["order"] += 1
            order_id = self._counters["order"]
            delay_ms, _ = self._fill_faults()
            order = VenueOrder(
                order_id=order_id, client_order_id=client_order_id or f"sim-{order_id}",
                symbol=symbol, side=side, order_type=order_type,
                time_in_force=time_in_force, quantity=quantity, price=price,
                stop_price=stop_price, created_ms=now, updated_ms=now, locked=amount,
                eligible_ms=now + delay_ms)
            self._account.lock(asset, amount)
            self._orders[order_id] = order
            self._by_client[(symbol, order.client_order_id)] = order_id
            self._emit_order(order, None, "NEW")
            trades = [] if delay_ms > 0 else self._match(order, arriving=True)
            self._finish_change([order], trades)
            if delay_ms > 0:
                self._schedule(delay_ms / 1000, lambda: self._release_delayed(order_id))
            return _copy(order), trades

    def cancel_order(self, symbol: str, order_id: int | None = None,
                     client_order_id: str | None = None) -> VenueOrder:
        """Cancel an open order; a finished or unknown one raises UNKNOWN_ORDER."""
        self.spec(symbol)
        with self._lock:
            order = self._find(symbol, order_id, client_order_id)
            if not order.status.is_open:
                raise VenueReject(RejectReason.UNKNOWN_ORDER, "order is not open")
            self._end(order, OrderStatus.CANCELED)
            self._finish_change([order], [])
            return _copy(order)

    # -- prices ------------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal, volume: Decimal = Decimal(0)) -> MarketTick:
        """One step of the price path: publish it, then match the resting orders on it."""
        spec = self.spec(symbol)
        price = price.quantize(spec.tick_size, rounding=ROUND_DOWN).max(spec.tick_size)
        with self._lock:
            counter = f"market_trade:{symbol}"  # Binance numbers trades per symbol
            self._counters[counter] = self._counters.get(counter, 0) + 1
            tick, kline, closed = self.market.step(symbol, price, volume, self._now_ms(),
                                                   self._counters[counter])
            for listener in self._listeners:
                listener.on_tick(tick, kline, closed)
            changed: list[VenueOrder] = []
            trades: list[VenueTrade] = []
            now = self._now_ms()
            for order in list(self._open.values()):
                if order.symbol != symbol or not order.status.is_open or order.eligible_ms > now:
                    continue
                fills = self._match(order, arriving=False)
                if fills or not order.status.is_open:
                    changed.append(order)
                    trades.extend(fills)
            self._finish_change(changed, trades)
            if not changed and not trades:
                self._commit([], [])  # the last price survives a restart
            return tick

    # -- internals (under the lock) ----------------------------------------------------

    def _find(self, symbol: str, order_id: int | None, client_order_id: str | None) -> VenueOrder:
        if order_id is None and client_order_id is not None:
            order_id = self._by_client.get((symbol, client_order_id))
        order = self._orders.get(order_id) if order_id is not None else None
        if order is None or order.symbol != symbol:
            raise VenueReject(RejectReason.UNKNOWN_ORDER, "order does not exist")
        return order

    def _funding(self, spec: SymbolSpec, side: Side, quantity: Decimal,
                 price: Decimal) -> tuple[str, Decimal]:
        if side is Side.SELL:
            return spec.base, quantity
        slip = 1 + self._config.slippage_bps / _BPS
        return spec.quote, (quantity * price * slip).quantize(_COMMISSION_QUANTUM)

    def _capacity(self, order: VenueOrder, volume: Decimal) -> Decimal | None:
        """How much may fill on this step (None: no cap), rounded down to the lot step."""
        caps: list[Decimal] = []
        if self._config.participation is not None and volume > 0:
            caps.append(self._config.participation * volume)
        _, fraction = self._fill_faults()
        if fraction is not None:
            caps.append(order.quantity * Decimal(str(fraction)))
        if not caps:
            return None
        step = self.specs[order.symbol].step_size
        return (min(caps) / step).to_integral_value(rounding=ROUND_DOWN) * step

    def _match(self, order: VenueOrder, arriving: bool) -> list[VenueTrade]:
        price = self.market.price(order.symbol)
        cap = self._capacity(order, self.market.volume(order.symbol))
        sim = matching.SimOrder(
            order_id=str(order.order_id), side=order.side, quantity=order.quantity,
            order_type=order.order_type, limit_price=order.price, stop_price=order.stop_price,
            time_in_force=order.time_in_force, filled=order.filled, triggered=order.triggered)
        if cap is not None and cap <= 0:
            if arriving and order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                self._end(order, OrderStatus.EXPIRED)
            return []
        quote = matching.Quote(price=price, volume=cap if cap is not None else Decimal(0))
        model = matching.FillModel(slippage_bps=self._config.slippage_bps,
                                   participation=Decimal(1) if cap is not None else None)
        outcome = (matching.on_arrival(sim, quote, model) if arriving
                   else matching.on_quote(sim, quote, model))
        order.triggered = outcome.order.triggered
        trades = []
        for execution in outcome.executions:
            trade = self._fill(order, execution.price, execution.quantity, maker=not arriving)
            if trade is None:
                break
            trades.append(trade)
        if order.status.is_open and outcome.canceled_reason is not None:
            self._end(order, OrderStatus.EXPIRED)
        return trades

    def _fill(self, order: VenueOrder, price: Decimal, quantity: Decimal,
              maker: bool) -> VenueTrade | None:
        spec = self.specs[order.symbol]
        price = price.quantize(_COMMISSION_QUANTUM)
        cost = (price * quantity).quantize(_COMMISSION_QUANTUM)
        rate = self._config.commission_bps / _BPS
        if order.side is Side.BUY:
            lock_price = order.price if order.price is not None else price
            from_locked = min(order.locked, (lock_price * quantity).quantize(_COMMISSION_QUANTUM))
            if self._account.free(spec.quote) + from_locked < cost:
                self._end(order, OrderStatus.EXPIRED)  # a market buy the price ran away from
                return None
            commission = (quantity * rate).quantize(_COMMISSION_QUANTUM)
            self._account.settle(spec.quote, from_locked, cost, spec.base, quantity - commission)
            asset = spec.base
        else:
            from_locked = quantity
            commission = (cost * rate).quantize(_COMMISSION_QUANTUM)
            self._account.settle(spec.base, from_locked, quantity, spec.quote, cost - commission)
            asset = spec.quote
        order.locked -= from_locked
        order.filled += quantity
        order.quote_filled += cost
        now = self._now_ms()
        order.updated_ms = now
        self._counters["trade"] += 1
        trade = VenueTrade(self._counters["trade"], order.order_id, order.client_order_id,
                           order.symbol, order.side, price, quantity, cost, commission, asset,
                           now, maker)
        order.trade_ids.append(trade.trade_id)
        self._trades.append(trade)
        if order.remaining == 0:
            order.status = OrderStatus.FILLED
            self._release_lock(order)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
        self._emit_order(order, trade, "TRADE")
        return trade

    def _end(self, order: VenueOrder, status: OrderStatus) -> None:
        order.status = status
        order.updated_ms = self._now_ms()
        self._release_lock(order)
        self._emit_order(order, None, "CANCELED" if status is OrderStatus.CANCELED else "EXPIRED")

    def _release_lock(self, order: VenueOrder) -> None:
        spec = self.specs[order.symbol]
        self._account.release(spec.quote if order.side is Side.BUY else spec.base, order.locked)
        order.locked = Decimal(0)

    def close(self) -> None:
        """Persist the last prices and stop acting on timers (delayed fills) for good."""
        with self._lock:
            self._commit([], [])
            self._closed = True

    def _release_delayed(self, order_id: int) -> None:
        with self._lock:
            if self._closed:
                return
            order = self._orders.get(order_id)
            if order is None or not order.status.is_open:
                return
            trades = self._match(order, arriving=True)
            self._finish_change([order], trades)

    def _emit_order(self, order: VenueOrder, trade: VenueTrade | None, execution: str) -> None:
        snapshot = _copy(order)
        for listener in self._listeners:
            listener.on_order(snapshot, trade, execution)

    def _finish_change(self, orders: list[VenueOrder], trades: list[VenueTrade]) -> None:
        for order in orders:
            if order.status.is_open:
                self._open[order.order_id] = order
            else:
                self._open.pop(order.order_id, None)
        if not orders and not trades:
            return
        balances = self._account.snapshot()
        for listener in self._listeners:
            listener.on_balances(balances, self._now_ms())
        self._commit(orders, trades)

    def _commit(self, orders: list[VenueOrder], trades: list[VenueTrade]) -> None:
        if self._store is None:
            return
        self._store.commit(VenueSnapshot(
            balances=self._account.snapshot(), counters=dict(self._counters),
            prices=self.market.prices(), orders=orders, trades=trades))


def _copy(order: VenueOrder) -> VenueOrder:
    return replace(order, trade_ids=list(order.trade_ids))


def _timer(delay_s: float, action: Callable[[], None]) -> None:
    timer = threading.Timer(delay_s, action)
    timer.daemon = True
    timer.start()
