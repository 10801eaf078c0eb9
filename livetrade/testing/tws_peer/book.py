"""What the peer remembers across client connections: orders, executions, positions, cash.

TWS keeps orders and the day's executions when an API client disconnects; a client that
reconnects sees them again (with their ``orderRef``). This book is that memory. It is
guarded by the peer's lock; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

ACCOUNT = "DU000001"


@dataclass(frozen=True)
class PeerContract:
    """A contract the peer knows: what ``reqContractDetails`` answers with."""

    con_id: int
    symbol: str
    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    expiry: str = ""
    multiplier: str = ""
    primary_exchange: str = "NASDAQ"

    @property
    def local_symbol(self) -> str:
        return self.symbol


@dataclass
class PeerOrder:
    """One order as TWS holds it. ``status`` uses TWS's words (Submitted, Filled...)."""

    order_id: int
    client_id: int
    perm_id: int
    contract: PeerContract
    action: str  # BUY / SELL
    quantity: Decimal
    order_type: str  # MKT, LMT, STP, STP LMT
    limit_price: Decimal
    aux_price: Decimal
    tif: str
    order_ref: str
    account: str = ACCOUNT
    status: str = "PreSubmitted"
    filled: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    last_price: Decimal = Decimal(0)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled

    @property
    def is_open(self) -> bool:
        return self.status in ("PendingSubmit", "PreSubmitted", "Submitted")


@dataclass(frozen=True)
class PeerExecution:
    """One execution, with its commission (sent as a separate commission report)."""

    exec_id: str
    order: PeerOrder
    shares: Decimal
    price: Decimal
    cum_qty: Decimal
    avg_price: Decimal
    commission: Decimal
    time_epoch_s: int


@dataclass
class PeerBook:
    """All of the peer's state; see the module docstring."""

    contracts: dict[str, PeerContract] = field(default_factory=dict)
    orders: dict[int, PeerOrder] = field(default_factory=dict)  # perm id -> order
    executions: list[PeerExecution] = field(default_factory=list)
    positions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # qty, avg
    cash: Decimal = Decimal(1_000_000)
    next_perm_id: int = 1_000_001
    next_exec: int = 1
    next_order_id: int = 1

    def contract(self, symbol: str) -> PeerContract:
        """The known contract for ``symbol``, created (as a stock) on first use."""
        found = self.contracts.get(symbol)
        if found is None:
            found = PeerContract(con_id=10_000 + len(self.contracts), symbol=symbol)
            self.contracts[symbol] = found
        return found

    def by_order_id(self, client_id: int, order_id: int) -> PeerOrder | None:
        for order in self.orders.values():
            if order.client_id == client_id and order.order_id == order_id:
                return order
        return None

    def by_ref(self, order_ref: str) -> list[PeerOrder]:
        return [o for o in self.orders.values() if o.order_ref == order_ref]

    def execute(self, order: PeerOrder, shares: Decimal, price: Decimal,
                commission: Decimal, now_s: int) -> PeerExecution:
        """Book a fill of ``shares`` at ``price``: order, position and cash move together."""
        cost = order.avg_price * order.filled + price * shares
        order.filled += shares
        order.avg_price = cost / order.filled
        order.last_price = price
        order.status = "Filled" if order.remaining <= 0 else "Submitted"
        signed = shares if order.action == "BUY" else -shares
        symbol = order.contract.symbol
        qty, avg = self.positions.get(symbol, (Decimal(0), Decimal(0)))
        new_qty = qty + signed
        if new_qty == 0:
            new_avg = Decimal(0)
        elif qty == 0 or (qty > 0) != (new_qty > 0):
            new_avg = price  # opened, or flipped through flat
        elif (qty > 0) == (signed > 0):
            new_avg = (avg * abs(qty) + price * shares) / abs(new_qty)  # added to it
        else:
            new_avg = avg  # reduced: the cost basis of what is left is unchanged
        self.positions[symbol] = (new_qty, new_avg)
        self.cash -= signed * price + commission
        execution = PeerExecution(
            exec_id=f"0000e{self.next_exec:06d}.01.01", order=order, shares=shares,
            price=price, cum_qty=order.filled, avg_price=order.avg_price,
            commission=commission, time_epoch_s=now_s)
        self.next_exec += 1
        self.executions.append(execution)
        return execution
