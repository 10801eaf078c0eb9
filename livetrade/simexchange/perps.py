"""Linear perpetuals on the simulated venue: signed positions, entry price, margin, PnL.

Why a subclass of :class:`Venue` and not a second engine: orders, filters, matching (the
PaperBroker's rules), persistence and listeners stay the core's; only what a fill *does*
to the account differs. On a spot symbol a buy pays quote and receives base; on a linear
perpetual (``"BTC/USDT:USDT"``) an order locks initial margin in the settle asset, a fill
moves the signed position, and closing realises PnL into the wallet. One venue holds
both kinds, as a Bybit unified account does.

Simplifications (documented, deliberate): one-way position mode, cross margin, a fixed
leverage per symbol read-only through the API, no funding payments, no liquidation. The
mark price is the last price. Positions are not stored: they are replayed from the
persisted trades on start, so the store's format is the core's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from livetrade.events import Side
from livetrade.simexchange.config import SimExchangeConfig, SymbolSpec
from livetrade.simexchange.records import OrderStatus, VenueOrder, VenueTrade
from livetrade.simexchange.store import VenueStore
from livetrade.simexchange.venue import FillFaults, Venue

ZERO = Decimal(0)
_QUANTUM = Decimal("0.00000001")
_BPS = Decimal(10_000)


@dataclass(frozen=True)
class PerpSpec(SymbolSpec):
    """A linear perpetual: ``"BTC/USDT:USDT"`` (base/quote:settle), margined in settle.

    Why a SymbolSpec subclass: the core's filters (tick, lot, notional) apply unchanged,
    and ``quote``/``venue_id`` drop the ``:settle`` suffix so wire names stay ``BTCUSDT``.
    """

    leverage: Decimal = Decimal(10)

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1].split(":")[0]

    @property
    def settle(self) -> str:
        tail = self.symbol.split(":")
        return tail[1] if len(tail) > 1 else self.quote

    @property
    def venue_id(self) -> str:
        return self.base + self.quote


@dataclass(frozen=True)
class Position:
    """One signed position: ``quantity`` > 0 long, < 0 short; ``entry_price`` averaged."""

    symbol: str
    quantity: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    leverage: Decimal

    @property
    def side(self) -> Side | None:
        if self.quantity == 0:
            return None
        return Side.BUY if self.quantity > 0 else Side.SELL

    def unrealized(self, mark: Decimal) -> Decimal:
        return ((mark - self.entry_price) * self.quantity).quantize(_QUANTUM)

    def initial_margin(self, mark: Decimal) -> Decimal:
        return (abs(self.quantity) * mark / self.leverage).quantize(_QUANTUM)


def apply_fill(position: Position, side: Side, quantity: Decimal,
               price: Decimal) -> tuple[Position, Decimal]:
    """The position after one fill and the PnL that fill realised (before fees)."""
    signed = quantity * side.sign
    held = position.quantity
    if held == 0 or (held > 0) == (signed > 0):  # opening or adding
        total = held + signed
        entry = ((position.entry_price * abs(held) + price * quantity) / abs(total))
        return Position(position.symbol, total, entry.quantize(_QUANTUM),
                        position.realized_pnl, position.leverage), ZERO
    closed = min(abs(held), quantity)
    direction = Decimal(1) if held > 0 else Decimal(-1)
    pnl = ((price - position.entry_price) * closed * direction).quantize(_QUANTUM)
    total = held + signed
    if total == 0:
        entry = ZERO
    elif (total > 0) == (held > 0):
        entry = position.entry_price  # reduced, same side: entry unchanged
    else:
        entry = price  # flipped: the remainder opened at this price
    return Position(position.symbol, total, entry, position.realized_pnl + pnl,
                    position.leverage), pnl


class DerivativesVenue(Venue):
    """A :class:`Venue` whose :class:`PerpSpec` symbols trade as linear perpetuals.

    Spot symbols keep the core's settlement. Thread-safe like the core (same lock).
    """

    def __init__(self, config: SimExchangeConfig, now_ms: Callable[[], int],
                 store: VenueStore | None = None,
                 fill_faults: FillFaults = lambda: (0, None)) -> None:
        self._positions: dict[str, Position] = {}
        super().__init__(config, now_ms, store, fill_faults=fill_faults)
        for trade in self.trades():
            spec = self.specs.get(trade.symbol)
            if isinstance(spec, PerpSpec):
                self._positions[trade.symbol], _ = apply_fill(
                    self._position(spec), trade.side, trade.quantity, trade.price)

    def positions(self) -> list[Position]:
        """Every perpetual's position (flat ones too, with quantity 0)."""
        with self._lock:
            return [self._position(spec) for spec in self.specs.values()
                    if isinstance(spec, PerpSpec)]

    def position(self, symbol: str) -> Position:
        spec = self.spec(symbol)
        with self._lock:
            if not isinstance(spec, PerpSpec):
                raise KeyError(f"{symbol} is not a perpetual")
            return self._position(spec)

    def _position(self, spec: PerpSpec) -> Position:
        return self._positions.get(spec.symbol, Position(spec.symbol, ZERO, ZERO, ZERO,
                                                         spec.leverage))

    # -- the core's settlement hooks, for perpetuals ------------------------------------

    def _funding(self, spec: SymbolSpec, side: Side, quantity: Decimal,
                 price: Decimal) -> tuple[str, Decimal]:
        if not isinstance(spec, PerpSpec):
            return super()._funding(spec, side, quantity, price)
        slip = 1 + self._config.slippage_bps / _BPS
        return spec.settle, (quantity * price * slip / spec.leverage).quantize(_QUANTUM)

    def _release_lock(self, order: VenueOrder) -> None:
        spec = self.specs[order.symbol]
        if not isinstance(spec, PerpSpec):
            super()._release_lock(order)
            return
        self._account.release(spec.settle, order.locked)
        order.locked = ZERO

    def _fill(self, order: VenueOrder, price: Decimal, quantity: Decimal,
              maker: bool) -> VenueTrade | None:
        spec = self.specs[order.symbol]
        if not isinstance(spec, PerpSpec):
            return super()._fill(order, price, quantity, maker)
        price = price.quantize(_QUANTUM)
        cost = (price * quantity).quantize(_QUANTUM)
        commission = (cost * self._config.commission_bps / _BPS).quantize(_QUANTUM)
        lock_price = order.price if order.price is not None else price
        from_locked = min(order.locked,
                          (lock_price * quantity / spec.leverage).quantize(_QUANTUM))
        self._account.release(spec.settle, from_locked)
        position, pnl = apply_fill(self._position(spec), order.side, quantity, price)
        self._positions[spec.symbol] = position
        self._account.deposit(spec.settle, pnl - commission)
        order.locked -= from_locked
        order.filled += quantity
        order.quote_filled += cost
        now = self._now_ms()
        order.updated_ms = now
        self._counters["trade"] += 1
        trade = VenueTrade(self._counters["trade"], order.order_id, order.client_order_id,
                           order.symbol, order.side, price, quantity, cost, commission,
                           spec.settle, now, maker)
        order.trade_ids.append(trade.trade_id)
        self._trades.append(trade)
        if order.remaining == 0:
            order.status = OrderStatus.FILLED
            self._release_lock(order)
        else:
            order.status = OrderStatus.PARTIALLY_FILLED
        self._emit_order(order, trade, "TRADE")
        return trade
