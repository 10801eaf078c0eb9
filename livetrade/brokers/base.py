"""The contract every broker adapter keeps.

An adapter translates between livetrade's events and one venue. The engine never calls a
venue any other way, so everything a venue can do to us is visible in this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from livetrade.errors import PermanentBrokerError
from livetrade.events import Event, MarketData, OrderFill
from livetrade.orders import OrderRequest

EventSink = Callable[[Event], None]
"""Where an adapter hands its events: the dispatcher's thread-safe ``publish``."""


@dataclass(frozen=True)
class AccountInfo:
    """The broker's view of the account's money."""

    currency: str
    cash: Decimal
    equity: Decimal
    buying_power: Decimal


@dataclass(frozen=True)
class BrokerOrder:
    """An open order as the broker reports it (for reconciliation)."""

    client_order_id: str
    broker_order_id: str
    request: OrderRequest
    filled_quantity: Decimal


class BrokerAdapter(ABC):
    """Abstract broker. **Contract** every implementation keeps:

    * **Blocking.** Every method blocks until the venue has answered or the adapter's own
      timeout expired; none returns a future. ``submit_order`` returning means the venue
      has *received* the request, not that it filled.
    * **Threading.** The engine calls ``submit_order``/``cancel_order`` from one execution
      thread per adapter (never from the dispatcher thread, so a slow venue cannot stall
      the engine), unless ``inline`` is true: an adapter that does no I/O (the paper
      broker) is called directly on the dispatcher thread, which keeps replays
      deterministic. Query methods may be called from any thread; implementations make
      them thread-safe.
    * **Events out.** Acknowledgements, fills, cancels, expiries and rejects arriving later
      are handed to the ``EventSink`` given to :meth:`connect`, as immutable events,
      from any thread. A fill carries the venue's unique ``fill_id``; the engine drops a
      fill id it has seen, so re-sending one after a reconnect is harmless.
    * **Idempotency.** ``client_order_id`` (engine-issued, never reused) is sent to the
      venue with the order. If a submit's outcome is unknown (timeout, dropped socket),
      the adapter looks the order up by client id before ever sending it again.
    * **Errors.** A refusal of the order raises ``OrderRejectedError``; a failure that
      may pass raises ``TransientBrokerError``; anything else ``PermanentBrokerError``.
      Secrets never appear in a message.
    * **Reconnection.** After a lost connection the adapter reconnects by itself with
      backoff, then re-reads open orders and fills so that none is missed.
    """

    name: ClassVar[str] = "broker"
    inline: ClassVar[bool] = False

    @abstractmethod
    def connect(self, sink: EventSink) -> None:
        """Open the session; from now on events go to ``sink``. Blocks."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close the session. Idempotent. Blocks."""

    @abstractmethod
    def submit_order(self, client_order_id: str, request: OrderRequest) -> None:
        """Send a new order. Blocks until the venue received it. See the class contract."""

    @abstractmethod
    def cancel_order(self, client_order_id: str) -> None:
        """Ask the venue to cancel. The outcome arrives as an event. Blocks."""

    @abstractmethod
    def get_positions(self) -> Mapping[str, Decimal]:
        """Signed quantity per symbol, as the venue sees it. Blocks."""

    @abstractmethod
    def get_open_orders(self) -> list[BrokerOrder]:
        """Orders the venue considers working. Blocks."""

    @abstractmethod
    def get_account_info(self) -> AccountInfo:
        """Cash and equity as the venue sees them. Blocks."""

    def get_fills(self, since: datetime) -> list[OrderFill]:
        """Executions at or after ``since`` that the venue still reports, oldest first.

        Used after a restart to find fills that happened while the engine was down (the
        engine drops fill ids it has already booked). Venues keep a limited history;
        an adapter that cannot answer raises ``PermanentBrokerError``. Blocks.
        """
        raise PermanentBrokerError(f"{self.name} cannot list past fills")

    def get_order(self, client_order_id: str) -> BrokerOrder | None:
        """The order with this client id as the venue knows it (working or closed), or
        ``None`` when the venue says it does not exist.

        This is how an ambiguous submit is resolved (see the class contract): only a
        definite ``None`` allows a resend with the same id. A lookup that itself fails
        raises ``TransientBrokerError``; a venue that cannot look orders up by client id
        raises ``PermanentBrokerError`` (the default). Blocks.
        """
        raise PermanentBrokerError(f"{self.name} cannot look orders up by client id")

    def ping(self) -> None:
        """The cheapest call that proves the venue answers right now; raises its error.

        The resilience watchdog calls it whenever the venue has been quiet and, in shadow
        mode, every probe interval: it must not spend the account's request budget.
        Default: the account query. Venues with a cheap status or time endpoint use that.
        Blocks.
        """
        self.get_account_info()

    def learn_client_ids(self, client_order_ids: Iterable[str]) -> None:  # noqa: B027
        """The engine's client order ids from before a restart (checkpoint and journal).

        Optional: a venue that carries a *derived* form of our id (a hash, a shorter
        token) uses them to map its orders back to ours after a restart. Default: nothing.
        """

    def subscribe_market_data(self, symbols: Iterable[str]) -> None:  # noqa: B027
        """Start streaming market data for ``symbols`` into the sink, if the venue can.

        Optional: the default does nothing (market data then comes from a separate feed).
        """

    def on_market_data(self, event: MarketData) -> None:  # noqa: B027
        """Called on the dispatcher thread for every market-data event it processes.

        Optional: simulated venues use it to match resting orders against the price path;
        real venues ignore it.
        """
