"""Everything that touches the ``IB`` object. Runs on the adapter's loop thread only.

:class:`IBSession` owns the ``IB`` object, the order records (client order id -> IB order)
and the connection life: connect, fail pending work when the link drops, reconnect with
backoff, reconcile. Engine events leave through the sink (thread-safe); the adapter's
blocking methods reach the session only through :meth:`IBLoop.call`, so none of its state
needs a lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from livetrade.brokers.base import AccountInfo, BrokerOrder, EventSink
from livetrade.brokers.ib.codes import CodeKind, classify
from livetrade.brokers.ib.contracts import ContractBook
from livetrade.brokers.ib.fills import FillRouter
from livetrade.brokers.ib.ticks import market_data_from
from livetrade.brokers.ib.translate import (
    CANCELED,
    REJECTED,
    WORKING,
    broker_id,
    broker_order,
    dec,
    ib_order,
)
from livetrade.clock import Clock
from livetrade.errors import (
    AmbiguousOutcomeError,
    BrokerError,
    OrderRejectedError,
    PermanentBrokerError,
    TransientBrokerError,
)
from livetrade.events import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderFill,
    OrderReject,
    Severity,
    Side,
    SystemErrorEvent,
)
from livetrade.orders import OrderRequest

_log = structlog.get_logger("livetrade.brokers.ib")
SOURCE = "broker:ib"


@dataclass(frozen=True)
class SessionSettings:
    """Connection settings the session needs (from ``[broker]``; no secrets: IB API
    sessions authenticate in TWS itself)."""

    host: str
    port: int
    client_id: int
    account: str
    currency: str
    connect_timeout_s: float
    request_timeout_s: float
    reconnect_initial_s: float
    reconnect_max_s: float
    market_data: bool
    market_data_type: int
    commission_wait_s: float


@dataclass
class _Record:
    """One of our orders: what we asked, and what IB calls it."""

    cid: str
    request: OrderRequest
    order_id: int = 0
    perm_id: int = 0
    accepted: bool = False
    done: bool = False


class IBSession:
    """See the module docstring. Every method runs on the loop thread."""

    def __init__(self, lib: Any, settings: SessionSettings, contracts: ContractBook,
                 sink: EventSink, clock: Clock) -> None:
        self.lib = lib
        self.settings = settings
        self.contracts = contracts
        self.ib: Any = lib.IB()
        self._sink = sink
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._waiters: dict[str, asyncio.Future[None]] = {}
        self._fills = FillRouter(sink, clock, settings.commission_wait_s, self._symbol_of)
        self._subscribed: dict[str, Any] = {}  # symbol -> Ticker
        self._by_ref: dict[str, Any] = {}  # orderRef (our client order id) -> ib Trade
        self._tasks: set[asyncio.Task[None]] = set()
        self.link_down = False
        self._closing = False
        self._reconnect: asyncio.Task[None] | None = None
        self._connected_once = False
        self.ready = asyncio.Event()
        self.reconnects = 0
        ib = self.ib
        ib.openOrderEvent += self._on_status
        ib.orderStatusEvent += self._on_status
        ib.execDetailsEvent += self._on_exec
        ib.commissionReportEvent += self._on_commission
        ib.errorEvent += self._on_error
        ib.disconnectedEvent += self._on_disconnected
        ib.pendingTickersEvent += self._on_tickers

    # ------------------------------------------------------------------ connection
    async def connect(self) -> None:
        """Connect, qualify configured contracts, reconcile, subscribe market data."""
        s = self.settings
        try:
            await self.ib.connectAsync(s.host, s.port, clientId=s.client_id,
                                       timeout=s.connect_timeout_s, account=s.account)
        except (TimeoutError, OSError, ConnectionError) as exc:
            raise TransientBrokerError(f"cannot connect to TWS/IB Gateway: {exc!r}",
                                       host=s.host, port=s.port) from exc
        if not self.settings.account:
            accounts = self.ib.managedAccounts()
            self.settings = replace(self.settings, account=accounts[0] if accounts else "")
        for symbol in self.contracts.specs:
            await self.contract(symbol)
        self.link_down = False
        if self._connected_once:
            await self._reconcile()
        else:
            self._fills.absorb(self.ib.fills())
            self._connected_once = True
        wanted = set(self._subscribed) | (set(self.contracts.specs) if s.market_data else set())
        if wanted:
            self.ib.reqMarketDataType(s.market_data_type)
            await self.subscribe(sorted(wanted), force=True)  # a new socket has none
        self._index_trades()
        self.ready.set()

    async def close(self) -> None:
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        self._fills.flush_all()
        if self.ib.isConnected():
            self.ib.disconnect()
        self.ready.clear()

    def _on_disconnected(self) -> None:
        self.ready.clear()
        self._by_ref.clear()  # ib_insync forgets its trades too; rebuilt after reconnecting
        self._fail_pending("connection to TWS lost")
        if self._closing:
            return
        self._emit_system("IBDisconnected", "connection to TWS/IB Gateway lost; reconnecting",
                          Severity.ERROR)
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay = self.settings.reconnect_initial_s
        while not self._closing:
            await asyncio.sleep(delay)
            try:
                # A fresh IB object per attempt would drop our handlers; reuse it.
                await self.connect()
            except (BrokerError, ConnectionError, OSError, TimeoutError) as exc:
                # Any failure here (TWS still starting, socket dropped mid-sync) is retried:
                # giving up would leave the engine without a broker until restarted.
                _log.warning("ib_reconnect_failed", error=str(exc), next_delay_s=delay)
                if self.ib.isConnected():
                    self.ib.disconnect()
                delay = min(delay * 2, self.settings.reconnect_max_s)
                continue
            self.reconnects += 1
            self._emit_system("IBReconnected", "reconnected to TWS/IB Gateway; open orders, "
                              "executions and positions re-read", Severity.INFO)
            return

    def _fail_pending(self, why: str) -> None:
        """Every submit still waiting for TWS's answer fails now, as ambiguous."""
        for cid, waiter in list(self._waiters.items()):
            if not waiter.done():
                waiter.set_exception(AmbiguousOutcomeError(
                    f"{why} before TWS acknowledged the order", client_order_id=cid))
        self._waiters.clear()

    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None) -> None:
        kind = classify(code)
        if kind is CodeKind.LINK_LOST:
            self.link_down = True
            self._fail_pending(f"IB error {code} ({message})")
            self._emit_system("IBConnectivityLost", f"IB error {code}: {message}",
                              Severity.ERROR, code=str(code))
        elif kind in (CodeKind.RESTORED_DATA_LOST, CodeKind.RESTORED_DATA_KEPT):
            self.link_down = False
            self._emit_system("IBConnectivityRestored", f"IB error {code}: {message}",
                              Severity.WARNING, code=str(code))
            task = asyncio.get_running_loop().create_task(
                self._after_restore(resubscribe=kind is CodeKind.RESTORED_DATA_LOST))
            self._tasks.add(task)  # the loop only keeps a weak reference
            task.add_done_callback(self._tasks.discard)
        elif kind in (CodeKind.TRANSIENT, CodeKind.PACING, CodeKind.PERMANENT) and req_id < 0:
            self._emit_system("IBError", f"IB error {code}: {message}", Severity.WARNING,
                              code=str(code))
        elif kind is CodeKind.CANCEL_REJECTED and self._cid_of(req_id) is not None:
            cid = self._cid_of(req_id) or ""
            record = self._records[cid]
            # The order manager holds the order in PENDING_CANCEL until it hears back.
            self._sink(OrderCancelRejected(
                order_id=broker_id(record.perm_id, record.order_id), client_order_id=cid,
                reason=f"IB error {code}: {message}", timestamp=self._clock.now()))
        else:
            _log.info("ib_message", req_id=req_id, code=code, kind=kind.value, text=message)

    async def _after_restore(self, resubscribe: bool) -> None:
        """After 1101/1102: re-read orders, executions and positions (and, after 1101,
        re-subscribe market data, which TWS dropped)."""
        try:
            await self.ib.reqOpenOrdersAsync()
            await self.ib.reqExecutionsAsync()
            await self.ib.reqPositionsAsync()
            if resubscribe:
                await self.subscribe(list(self._subscribed), force=True)
            await self._reconcile()
            self._index_trades()
        except (BrokerError, ConnectionError, TimeoutError) as exc:
            # The next reconnect (or 1101/1102) resyncs again; the engine's reconciler also
            # re-reads positions and orders on its own schedule.
            _log.warning("ib_restore_resync_failed", error=repr(exc))

    # ------------------------------------------------------------------ orders
    async def contract(self, symbol: str) -> Any:
        """The qualified contract for ``symbol`` (qualified once, then cached)."""
        cached = self.contracts.cached(symbol)
        if cached is not None:
            return cached
        spec = self.contracts.spec(symbol)
        found = await self.ib.qualifyContractsAsync(spec.to_ib(self.lib))
        if not found or found[0] is None or not found[0].conId:  # ib_async: [None]
            raise PermanentBrokerError(f"IB does not know contract {symbol!r}",
                                       symbol=symbol, spec=f"{spec.symbol}:{spec.sec_type}")
        self.contracts.remember(symbol, found[0])
        return found[0]

    async def submit(self, cid: str, request: OrderRequest) -> None:
        """Place the order and wait until TWS acknowledges or refuses it."""
        self._require_up()
        existing = self._trade_of(cid)
        if existing is not None:
            _log.info("ib_submit_duplicate_ignored", client_order_id=cid)
            return  # already at the venue: never send a client order id twice
        try:
            contract = await self.contract(request.symbol)
        except OrderRejectedError:
            raise
        except PermanentBrokerError as exc:
            raise OrderRejectedError(exc.message, client_order_id=cid) from exc
        record = self._records[cid] = _Record(cid, request)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[cid] = waiter
        trade = self.ib.placeOrder(contract, ib_order(self.lib, cid, request,
                                                       self.settings.account))
        record.order_id = trade.order.orderId
        self._by_ref[cid] = trade
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.settings.request_timeout_s)
        except TimeoutError:
            raise AmbiguousOutcomeError("TWS did not acknowledge the order in time",
                                        client_order_id=cid) from None
        finally:
            self._waiters.pop(cid, None)

    async def cancel(self, cid: str) -> None:
        self._require_up()
        trade = self._trade_of(cid)
        if trade is None:
            raise PermanentBrokerError("IB knows no open order with this client id",
                                       client_order_id=cid)
        self.ib.cancelOrder(trade.order)

    def _require_up(self) -> None:
        if not self.ib.isConnected() or not self.ready.is_set():
            raise TransientBrokerError("not connected to TWS/IB Gateway")
        if self.link_down:
            raise TransientBrokerError("TWS has lost its connection to IB (error 1100)")

    def _cid_of(self, order_id: int) -> str | None:
        """Our client order id for IB's (session) order id, if it is one of ours."""
        if order_id <= 0:
            return None
        return next((r.cid for r in self._records.values() if r.order_id == order_id), None)

    def _trade_of(self, cid: str) -> Any | None:
        """IB's trade for our client order id (open or done), by ``orderRef``: O(1)."""
        return self._by_ref.get(cid)

    def _index_trades(self) -> None:
        """Rebuild the ``orderRef`` index from everything ib_insync holds. Needed after each
        sync: trades read at connect (open and completed orders) arrive without events."""
        self._by_ref = {t.order.orderRef: t for t in self.ib.trades() if t.order.orderRef}

    def _on_status(self, trade: Any) -> None:
        cid = trade.order.orderRef
        if cid:
            self._by_ref.setdefault(cid, trade)
        record = self._records.get(cid)
        if not cid or record is None or record.done:
            return
        record.order_id = trade.order.orderId or record.order_id
        record.perm_id = trade.order.permId or record.perm_id
        status = trade.orderStatus.status
        oid = broker_id(record.perm_id, record.order_id)
        now = self._clock.now()
        waiter = self._waiters.get(cid)
        error_code = trade.log[-1].errorCode if trade.log else 0
        if status in CANCELED and classify(error_code) is CodeKind.CANCEL_REJECTED:
            # ib_insync marks an order cancelled on *any* order error, a refused cancel
            # included; TWS still works it. Undo that (else openTrades() would lose it);
            # _on_error tells the engine the cancel was refused.
            trade.orderStatus.status = _status_before_cancel(trade)
            return
        if status in CANCELED | REJECTED and error_code not in (0, 202):
            record.done = True
            reason = f"IB error {error_code}: {trade.log[-1].message}"
            if waiter is not None and not waiter.done():
                waiter.set_exception(OrderRejectedError(reason, client_order_id=cid,
                                                        ib_code=error_code))
            else:
                self._sink(OrderReject(order_id=oid, client_order_id=cid, reason=reason,
                                       timestamp=now, symbol=record.request.symbol))
            return
        if waiter is not None and not waiter.done() and status != "PendingSubmit":
            waiter.set_result(None)
        if status in WORKING | {"Filled"} and not record.accepted:
            record.accepted = True
            self._sink(OrderAccepted(order_id=oid, client_order_id=cid, timestamp=now))
        if status in CANCELED:
            record.done = True
            self._sink(OrderCanceled(order_id=oid, client_order_id=cid, timestamp=now,
                                     reason=f"IB status {status}"))
        elif status == "Filled":
            record.done = True

    def _on_exec(self, trade: Any, fill: Any) -> None:
        if trade.order.orderRef in self._records:
            self._on_status(trade)  # a fill is also an acknowledgement
        self._fills.on_execution(fill)

    def _on_commission(self, trade: Any, fill: Any, report: Any) -> None:
        self._fills.on_commission(fill)

    def _symbol_of(self, contract: Any) -> str:
        return self.contracts.symbol_of(contract)

    async def _reconcile(self) -> None:
        """After a (re)connect: match TWS's open orders, executions and completed orders
        back to our orders by ``orderRef``; emit what we missed (acks, fills, cancels),
        each fill id once."""
        for trade in self.ib.openTrades():
            if trade.order.orderRef in self._records:
                self._on_status(trade)
        self._fills.replay(f for f in self.ib.fills() if f.execution.orderRef)
        open_refs = {t.order.orderRef for t in self.ib.openTrades()}
        missing = [r for r in self._records.values() if not r.done and r.cid not in open_refs
                   and not self._fills.fully_filled(r.cid, r.request.quantity)]
        if not missing:
            return
        completed = {t.order.orderRef: t for t in
                     await self.ib.reqCompletedOrdersAsync(apiOnly=True)}
        for record in missing:
            trade = completed.get(record.cid)
            if trade is not None and trade.orderStatus.status in CANCELED:
                record.done = True  # cancelled while we were away (by TWS, or a DAY expiry)
                self._sink(OrderCanceled(
                    order_id=broker_id(trade.order.permId, 0), client_order_id=record.cid,
                    timestamp=self._clock.now(), reason="cancelled at TWS while disconnected"))
            elif record.accepted:
                self._emit_system("IBOrderUnknown", "an order we thought open is neither "
                                  "open, filled nor cancelled at TWS after reconnecting",
                                  Severity.WARNING, client_order_id=record.cid)

    # ------------------------------------------------------------------ queries
    def positions(self) -> dict[str, Decimal]:
        self._require_up()  # while down ib_insync's caches are empty, not flat
        out: dict[str, Decimal] = {}
        for pos in self.ib.positions(self.settings.account):
            symbol = self._symbol_of(pos.contract)
            out[symbol] = out.get(symbol, Decimal(0)) + dec(pos.position)
        return out

    def open_orders(self) -> list[BrokerOrder]:
        self._require_up()
        return [broker_order(self._symbol_of(t.contract), t) for t in self.ib.openTrades()
                if t.order.orderRef]

    def order(self, cid: str) -> BrokerOrder | None:
        self._require_up()
        trade = self._trade_of(cid)
        fills = [f for f in self.ib.fills() if f.execution.orderRef == cid]
        filled = sum((dec(f.execution.shares) for f in fills), Decimal(0))
        if trade is not None:
            # A completed order (reqCompletedOrders) carries its status but no quantities.
            found = broker_order(self._symbol_of(trade.contract), trade)
            return replace(found, filled_quantity=max(found.filled_quantity, filled))
        if not fills:
            return None
        # Done (not open) but executed today: it exists. After a restart we no longer hold
        # the request; what the executions tell (side, symbol, filled so far) stands in.
        ex = fills[-1].execution
        record = self._records.get(cid)
        request = record.request if record is not None else OrderRequest(
            self._symbol_of(fills[-1].contract), Side.BUY if ex.side == "BOT" else Side.SELL,
            filled)
        return BrokerOrder(cid, broker_id(ex.permId, ex.orderId), request, filled)

    def account_values(self) -> dict[str, Decimal]:
        self._require_up()
        out: dict[str, Decimal] = {}
        for value in self.ib.accountValues(self.settings.account):
            if value.currency in (self.settings.currency, "BASE") and not value.modelCode:
                try:
                    out.setdefault(value.tag, Decimal(value.value))
                except ArithmeticError:
                    continue  # a text value (AccountType...): not money
        return out

    def account_info(self) -> AccountInfo:
        values = self.account_values()
        cash = values.get("TotalCashValue", Decimal(0))
        return AccountInfo(currency=self.settings.currency, cash=cash,
                           equity=values.get("NetLiquidation", cash),
                           buying_power=values.get("BuyingPower", cash))

    def fills_since(self, since: datetime) -> list[OrderFill]:
        return self._fills.history(since)

    # ------------------------------------------------------------------ market data
    async def subscribe(self, symbols: Iterable[str], force: bool = False) -> None:
        for symbol in symbols:
            if symbol in self._subscribed and not force:
                continue
            contract = await self.contract(symbol)
            self._subscribed.pop(symbol, None)
            if self.ib.ticker(contract) is not None:  # still subscribed on this socket
                self.ib.cancelMktData(contract)
            self._subscribed[symbol] = self.ib.reqMktData(contract, "", False, False)

    def _on_tickers(self, tickers: Iterable[Any]) -> None:
        for event in market_data_from(tickers, self._symbol_of, self._clock.now()):
            self._sink(event)

    def _emit_system(self, error_type: str, message: str, severity: Severity,
                     **context: str) -> None:
        _log.warning("ib_system_event", error_type=error_type, text=message, **context)
        self._sink(SystemErrorEvent(error_type=error_type, message=message, severity=severity,
                                    source=SOURCE, timestamp=self._clock.now(),
                                    context=context))


def _status_before_cancel(trade: Any) -> str:
    """The last status TWS reported before our cancel request (``Submitted`` if none)."""
    for entry in reversed(trade.log):
        if entry.status and entry.status not in CANCELED | {"PendingCancel"}:
            return str(entry.status)
    return "Submitted"
