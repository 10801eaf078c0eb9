"""Everything that touches the ``IB`` object. Runs on the adapter's loop thread only.

:class:`IBSession` owns the ``IB`` object and the connection life: connect, fail pending
work when the link drops, reconnect with backoff, reconcile. The order records and what TWS
says about them live in its :class:`IBOrders` (``orders.py``). Engine events leave through the
sink (thread-safe); the adapter's blocking methods reach the session only through
:meth:`IBLoop.call`, so none of its state needs a lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from livetrade.brokers.base import AccountInfo, BrokerOrder, EventSink
from livetrade.brokers.ib.codes import CodeKind, classify
from livetrade.brokers.ib.contracts import ContractBook
from livetrade.brokers.ib.fills import FillRouter
from livetrade.brokers.ib.orders import IBOrders
from livetrade.brokers.ib.ticks import market_data_from
from livetrade.brokers.ib.translate import dec
from livetrade.clock import Clock
from livetrade.errors import (
    BrokerError,
    OrderRejectedError,
    PermanentBrokerError,
    TransientBrokerError,
)
from livetrade.events import OrderFill, Severity, SystemErrorEvent
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


class IBSession:
    """See the module docstring. Every method runs on the loop thread.

    ``sleep`` is the wait between reconnect attempts; it is injected so a test can record
    the backoff schedule instead of sitting through it.
    """

    def __init__(self, lib: Any, settings: SessionSettings, contracts: ContractBook,
                 sink: EventSink, clock: Clock, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.lib = lib
        self.settings = settings
        self.contracts = contracts
        self.ib: Any = lib.IB()
        self._sink = sink
        self._clock = clock
        self._sleep = sleep
        self._fills = FillRouter(sink, clock, settings.commission_wait_s, self._symbol_of)
        self._orders = IBOrders(self.ib, lib, sink, clock, fills=self._fills,
                                symbol_of=self._symbol_of, alarm=self._emit_system)
        self._subscribed: dict[str, Any] = {}  # symbol -> Ticker
        self._tasks: set[asyncio.Task[None]] = set()
        self.link_down = False
        self._closing = False
        self._reconnect: asyncio.Task[None] | None = None
        self._connected_once = False
        self.ready = asyncio.Event()
        self.reconnects = 0
        ib = self.ib
        ib.openOrderEvent += self._orders.on_status
        ib.orderStatusEvent += self._orders.on_status
        ib.execDetailsEvent += self._orders.on_exec
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
            await self._orders.reconcile()
        else:
            self._fills.absorb(self.ib.fills())
            self._connected_once = True
        wanted = set(self._subscribed) | (set(self.contracts.specs) if s.market_data else set())
        if wanted:
            self.ib.reqMarketDataType(s.market_data_type)
            await self.subscribe(sorted(wanted), force=True)  # a new socket has none
        self._orders.index_trades()
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
        self._orders.forget_trades()
        self._orders.fail_pending("connection to TWS lost")
        if self._closing:
            return
        self._emit_system("IBDisconnected", "connection to TWS/IB Gateway lost; reconnecting",
                          Severity.ERROR)
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay = self.settings.reconnect_initial_s
        while not self._closing:
            await self._sleep(delay)
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

    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None) -> None:
        kind = classify(code)
        if kind is CodeKind.LINK_LOST:
            self.link_down = True
            self._orders.fail_pending(f"IB error {code} ({message})")
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
        elif (kind is CodeKind.CANCEL_REJECTED
              and (cid := self._orders.cid_of(req_id)) is not None):
            self._orders.cancel_rejected(cid, f"IB error {code}: {message}")
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
            await self._orders.reconcile()
            self._orders.index_trades()
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
        existing = self._orders.trade_of(cid)
        if existing is not None:
            _log.info("ib_submit_duplicate_ignored", client_order_id=cid)
            return  # already at the venue: never send a client order id twice
        try:
            contract = await self.contract(request.symbol)
        except OrderRejectedError:
            raise
        except PermanentBrokerError as exc:
            raise OrderRejectedError(exc.message, client_order_id=cid) from exc
        await self._orders.place(cid, request, contract, account=self.settings.account,
                                 timeout_s=self.settings.request_timeout_s)

    async def cancel(self, cid: str) -> None:
        self._require_up()
        self._orders.cancel(cid)

    def _require_up(self) -> None:
        if not self.ib.isConnected() or not self.ready.is_set():
            raise TransientBrokerError("not connected to TWS/IB Gateway")
        if self.link_down:
            raise TransientBrokerError("TWS has lost its connection to IB (error 1100)")

    def _on_commission(self, trade: Any, fill: Any, report: Any) -> None:
        self._fills.on_commission(fill)

    def _symbol_of(self, contract: Any) -> str:
        return self.contracts.symbol_of(contract)

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
        return self._orders.open_orders()

    def order(self, cid: str) -> BrokerOrder | None:
        self._require_up()
        return self._orders.order(cid)

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

