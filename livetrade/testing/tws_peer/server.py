"""TWSPeer: a scriptable TWS-protocol server on 127.0.0.1 for ib_insync / ib_async clients.

Threads and blocking sockets only: one thread accepts, one thread per client connection
reads requests and answers them. Orders, executions and positions live in a
:class:`PeerBook` shared by all connections, so a client that reconnects sees the orders
it placed before (matched by ``orderRef``) and the day's executions, as with real TWS.

Example::

    with TWSPeer() as peer:
        peer.script(Fill(parts=(Decimal(4), Decimal(6))))
        ib.connect("127.0.0.1", peer.port, clientId=7)
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from types import TracebackType

from livetrade.testing.tws_peer import messages as m
from livetrade.testing.tws_peer.book import ACCOUNT, PeerBook, PeerContract, PeerOrder
from livetrade.testing.tws_peer.plans import Delay, DropConnection, Fill, Plan, Reject, Rest
from livetrade.testing.tws_peer.session import Session
from livetrade.testing.tws_peer.wire import (
    Field,
    PeerClosed,
    read_frame,
    read_handshake,
    to_decimal,
)

DEFAULT_PRICE = Decimal(100)
_log = logging.getLogger("livetrade.testing.tws_peer")


class TWSPeer:
    """A TWS stand-in that real IB client libraries talk to; see the module docstring.

    ``commission_per_share`` is charged on every execution (reported in a separate
    commission report, as TWS does). All public methods are thread-safe.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 commission_per_share: Decimal = Decimal("0.005"),
                 account: str = ACCOUNT) -> None:
        self.account = account
        self.commission_per_share = commission_per_share
        self.book = PeerBook()
        self.prices: dict[str, Decimal] = {}
        self.requests: list[int] = []  # every request id received, in order
        self.connections = 0  # API sessions started so far
        self.auto_stocks = True  # unknown USD stock symbols are created on first request
        self.commission_reports = True  # False: executions arrive without their commission
        self.refuse_cancels = False  # True: cancels of working orders get error 10148
        self._plans: deque[Plan] = deque()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._sessions: list[Session] = []
        self._listener = socket.create_server((host, port))
        self.port: int = self._listener.getsockname()[1]
        self._closing = False
        self._acceptor = threading.Thread(target=self._accept, name="tws-peer-accept",
                                          daemon=True)
        self._acceptor.start()

    # ------------------------------------------------------------------ scripting
    def script(self, *plans: Plan) -> None:
        """Queue what to do with the next orders, one plan per order."""
        with self._lock:
            self._plans.extend(plans)

    def add_contract(self, contract: PeerContract) -> None:
        with self._lock:
            self.book.contracts[contract.symbol] = contract

    def set_price(self, symbol: str, price: Decimal) -> None:
        with self._lock:
            self.prices[symbol] = price

    def set_position(self, symbol: str, quantity: Decimal, avg_cost: Decimal) -> None:
        with self._lock:
            self.book.contract(symbol)
            self.book.positions[symbol] = (quantity, avg_cost)

    def fill(self, order_ref: str, quantity: Decimal | None = None,
             price: Decimal | None = None) -> None:
        """Fill (part of) the working order with this ``orderRef``."""
        with self._lock:
            order = next(o for o in self.book.by_ref(order_ref) if o.is_open)
            self._execute(order, quantity or order.remaining, price)

    def cancel(self, order_ref: str) -> None:
        """Cancel the working order with this ``orderRef`` from the venue's side (TWS or
        the exchange did it); its owner hears of it if connected."""
        with self._lock:
            order = next(o for o in self.book.by_ref(order_ref) if o.is_open)
            order.status = "Cancelled"
            owner = next((x for x in self._sessions if x.client_id == order.client_id), None)
            if owner is not None:
                owner.send(m.order_status(order))
                owner.send(m.error(order.order_id, 202, "Order Canceled - reason:"))
            self._changed.notify_all()

    def push_tick(self, symbol: str, price: Decimal, size: Decimal = Decimal(1)) -> int:
        """Send a last-price tick to every subscriber of ``symbol``; return how many."""
        with self._lock:
            self.prices[symbol] = price
            sent = 0
            for session in list(self._sessions):
                for req_id in [r for r, s in session.market_data.items() if s == symbol]:
                    session.send(m.tick_price(req_id, price, size))
                    sent += 1
            return sent

    def send_error(self, code: int, message: str, req_id: int = -1) -> None:
        """Send an error/notice to every client (1100, 1101, 1102, 2110 ... use ``-1``)."""
        with self._lock:
            for session in list(self._sessions):
                session.send(m.error(req_id, code, message))

    def drop_clients(self) -> None:
        """Close every client socket at once (TWS restarting, a network cut)."""
        with self._lock:
            for session in list(self._sessions):
                self._end(session)

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
        """Block until ``predicate()`` (evaluated under the peer's lock) holds."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout_s)

    def orders_with_ref(self, order_ref: str) -> list[PeerOrder]:
        with self._lock:
            return list(self.book.by_ref(order_ref))

    @property
    def session_count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def subscribers(self, symbol: str) -> int:
        with self._lock:
            return sum(1 for s in self._sessions for v in s.market_data.values() if v == symbol)

    # ------------------------------------------------------------------ life
    def close(self) -> None:
        """Stop accepting, drop every client. Idempotent."""
        self._closing = True
        # A thread blocked in accept() keeps a closed listener alive on Linux (the port
        # would still take connections): shutdown wakes it first.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self.drop_clients()
        self._acceptor.join(2.0)

    def __enter__(self) -> TWSPeer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            if self._closing:
                sock.close()
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(Session(sock),),
                             name="tws-peer-session", daemon=True).start()

    def _serve(self, session: Session) -> None:
        try:
            read_handshake(session.sock)
            session.send([m.SERVER_VERSION, time.strftime("%Y%m%d %H:%M:%S UTC",
                                                          time.gmtime())])
            while True:
                fields = read_frame(session.sock)
                self._handle(session, fields)
        except (PeerClosed, OSError) as exc:
            # the client went away, or drop_clients closed the socket: the session is over
            _log.debug("tws peer session %s ended: %s", session.client_id, exc)
        finally:
            with self._lock:
                self._end(session)

    def _end(self, session: Session) -> None:
        if session in self._sessions:
            self._sessions.remove(session)
        session.close()
        self._changed.notify_all()

    # ------------------------------------------------------------------ requests
    def _handle(self, s: Session, f: list[str]) -> None:
        msg_id = int(f[0])
        with self._lock:
            self.requests.append(msg_id)
            self._changed.notify_all()
            if msg_id == m.START_API:
                self._start(s, int(f[2]))
            elif msg_id == m.PLACE_ORDER:
                self._place(s, f)
                return  # _place notifies and may have slept outside the lock
            elif msg_id == m.CANCEL_ORDER:
                self._cancel(s, int(f[2]))
            elif msg_id in (m.REQ_OPEN_ORDERS, m.REQ_ALL_OPEN_ORDERS):
                for order in self.book.orders.values():
                    if order.is_open and (msg_id == m.REQ_ALL_OPEN_ORDERS
                                          or order.client_id == s.client_id):
                        s.send(m.open_order(order))
                        s.send(m.order_status(order))
                s.send([53, 1])
            elif msg_id == m.REQ_COMPLETED_ORDERS:
                for order in self.book.orders.values():
                    if not order.is_open:
                        s.send(m.completed_order(order))
                s.send([102])
            elif msg_id == m.REQ_POSITIONS:
                for symbol, (qty, avg) in self.book.positions.items():
                    s.send(m.position(self.account, self.book.contract(symbol), qty, avg))
                s.send([62, 1])
            elif msg_id == m.REQ_ACCOUNT_UPDATES:
                s.account_updates = f[2] == "1"
                self._send_account(s, None)
                s.send([8, 1, time.strftime("%H:%M", time.gmtime())])
                s.send([54, 1, self.account])
            elif msg_id == m.REQ_ACCOUNT_UPDATES_MULTI:
                s.account_multi.add(int(f[2]))
                self._send_account(s, int(f[2]))
                s.send([74, 1, int(f[2])])
            elif msg_id == m.REQ_ACCOUNT_SUMMARY:
                req_id = int(f[2])
                for tag, value in self._account_values().items():
                    s.send([63, 1, req_id, self.account, tag, value, "USD"])
                s.send([64, 1, req_id])
            elif msg_id == m.REQ_EXECUTIONS:
                req_id = int(f[2])
                for execution in self.book.executions:
                    if execution.order.client_id == s.client_id or f[3] in ("", "0"):
                        s.send(m.exec_details(req_id, execution))
                        if self.commission_reports:
                            s.send(m.commission_report(execution))
                s.send([55, 1, req_id])
            elif msg_id == m.REQ_CONTRACT_DETAILS:
                self._contract_details(s, f)
            elif msg_id == m.REQ_MKT_DATA:
                s.market_data[int(f[2])] = f[4]
            elif msg_id == m.CANCEL_MKT_DATA:
                s.market_data.pop(int(f[2]), None)
            elif msg_id == m.REQ_IDS:
                s.send(m.next_valid_id(self.book.next_order_id))
            elif msg_id == m.REQ_CURRENT_TIME:
                s.send([49, 1, int(time.time())])

    def _start(self, s: Session, client_id: int) -> None:
        if any(o.client_id == client_id for o in self._sessions):
            s.send(m.error(-1, 326, "Unable to connect as the client id is already in use."))
            s.close()
            return
        s.client_id = client_id
        self._sessions.append(s)
        self.connections += 1
        s.send(m.managed_accounts(self.account))
        s.send(m.next_valid_id(self.book.next_order_id))

    def _contract_details(self, s: Session, f: list[str]) -> None:
        req_id, con_id, symbol, sec_type = int(f[2]), f[3], f[4], f[5]
        known = self.book.contracts.get(symbol)
        if known is None and self.auto_stocks and sec_type == "STK" and f[12] in ("", "USD"):
            known = self.book.contract(symbol)
        if known is None or (con_id not in ("", "0") and int(con_id) != known.con_id):
            s.send(m.error(req_id, 200, "No security definition has been found for the "
                                        "request"))
            return
        s.send(m.contract_details(req_id, known))
        s.send([52, 1, req_id])

    def _place(self, s: Session, f: list[str]) -> None:
        order_id, symbol = int(f[1]), f[3]
        existing = self.book.by_order_id(s.client_id, order_id)
        if existing is not None and not existing.is_open:
            s.send(m.error(order_id, 103, "Duplicate order id"))
            return
        plan = self._plans.popleft() if self._plans else None
        if isinstance(plan, Delay):
            self._lock.release()
            try:
                time.sleep(plan.seconds)
            finally:
                self._lock.acquire()
            plan = plan.then
        if isinstance(plan, Reject):
            s.send(m.error(order_id, plan.code, plan.message))
            self._changed.notify_all()
            return
        order = existing or self._new_order(s, order_id, symbol, f)
        order.status = "Submitted"
        if plan is None:
            plan = Fill() if order.order_type == "MKT" else Rest()
        if isinstance(plan, DropConnection):
            if isinstance(plan.then, Fill):
                self._fill_plan(order, plan.then, notify=False)
            self._end(s)
            return
        s.send(m.open_order(order))
        s.send(m.order_status(order))
        if isinstance(plan, Fill):
            self._fill_plan(order, plan, notify=True)
        self._changed.notify_all()

    def _new_order(self, s: Session, order_id: int, symbol: str, f: list[str]) -> PeerOrder:
        order = PeerOrder(
            order_id=order_id, client_id=s.client_id, perm_id=self.book.next_perm_id,
            contract=self.book.contract(symbol), action=f[16], quantity=to_decimal(f[17]),
            order_type=f[18], limit_price=to_decimal(f[19]), aux_price=to_decimal(f[20]),
            tif=f[21], order_ref=f[26], account=f[23] or self.account)
        self.book.next_perm_id += 1
        self.book.orders[order.perm_id] = order
        self.book.next_order_id = max(self.book.next_order_id, order_id + 1)
        return order

    def _fill_plan(self, order: PeerOrder, plan: Fill, notify: bool) -> None:
        for part in plan.parts or (order.remaining,):
            self._execute(order, part, plan.price, notify=notify)

    def _execute(self, order: PeerOrder, shares: Decimal, price: Decimal | None,
                 notify: bool = True) -> None:
        symbol = order.contract.symbol
        if price is None:
            price = order.limit_price if order.order_type == "LMT" else \
                self.prices.get(symbol, DEFAULT_PRICE)
        commission = (self.commission_per_share * shares).quantize(Decimal("0.0001"))
        execution = self.book.execute(order, shares, price, commission, int(time.time()))
        self._changed.notify_all()
        if not notify:
            return
        owner = next((x for x in self._sessions if x.client_id == order.client_id), None)
        if owner is not None:
            owner.send(m.exec_details(-1, execution))
            owner.send(m.order_status(order))
            if self.commission_reports:
                owner.send(m.commission_report(execution))
        qty, avg = self.book.positions[symbol]
        for session in list(self._sessions):
            session.send(m.position(self.account, order.contract, qty, avg))
            if session.account_updates or session.account_multi:
                self._send_account(session, None)

    def _cancel(self, s: Session, order_id: int) -> None:
        order = self.book.by_order_id(s.client_id, order_id)
        if order is None or not order.is_open:
            s.send(m.error(order_id, 10147, f"OrderId {order_id} that needs to be cancelled "
                                            "is not found."))
            return
        if self.refuse_cancels:
            s.send(m.error(order_id, 10148, f"OrderId {order_id} that needs to be cancelled "
                                            "cannot be cancelled, state: Submitted."))
            return
        order.status = "Cancelled"
        s.send(m.order_status(order))
        s.send(m.error(order_id, 202, "Order Canceled - reason:"))
        self._changed.notify_all()

    def _account_values(self) -> dict[str, Field]:
        value = sum((q * self.prices.get(sym, avg) for sym, (q, avg)
                     in self.book.positions.items()), Decimal(0))
        net = self.book.cash + value
        return {"NetLiquidation": net, "TotalCashValue": self.book.cash,
                "BuyingPower": net * 4, "AvailableFunds": self.book.cash,
                "EquityWithLoanValue": net}

    def _send_account(self, s: Session, multi_req_id: int | None) -> None:
        for tag, value in self._account_values().items():
            if multi_req_id is None and s.account_updates:
                s.send([6, 2, tag, value, "USD", self.account])
            for req_id in ([multi_req_id] if multi_req_id is not None else s.account_multi):
                s.send([73, 1, req_id, self.account, "", tag, value, "USD"])
