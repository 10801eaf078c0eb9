"""StateManager: when to checkpoint, the write-ahead journal, and what restore means.

Threads: the journal is written on the dispatcher thread (an order intent must be durable
*before* the order leaves, so that write is synchronous: one small SQLite transaction).
A checkpoint is *captured* on the dispatcher thread, because only there is the strategy's
state consistent with the book, and *written* on the state thread (``livetrade-state``),
which also decides when one is due: every ``checkpoint_interval_s``, and ``debounce_s``
after the first fill or order change that follows the last one (a burst of fills costs one
write). On shutdown the engine captures and writes the final checkpoint itself.

Neither side may stall the dispatcher with a big book: the capture costs O(what changed
since the last one) (copy-on-write views, :mod:`livetrade.state.chunks`), and the writer
encodes record by record, re-using the previous checkpoint's text for what did not change
and giving the GIL away every half millisecond (:mod:`livetrade.state.encoder`).
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import structlog
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from livetrade import __version__
from livetrade.clock import Clock
from livetrade.errors import StateError
from livetrade.events import Event, Priority
from livetrade.state.chunks import Chunked
from livetrade.state.encoder import CheckpointEncoder
from livetrade.state.lock import lock_directory
from livetrade.state.pieces import TextPieces
from livetrade.state.reconcile import Policy
from livetrade.state.records import (
    SCHEMA_VERSION,
    Checkpoint,
    CheckpointHead,
    JournalEntry,
    JournalKind,
    OrderRecord,
    PortfolioRecord,
)
from livetrade.state.store import StateStore

_log = structlog.get_logger("livetrade.state")


@dataclass(frozen=True)
class StateSettings:
    """``[state]`` in the config. Durations in seconds; ``0`` disables a timer."""

    directory: Path
    account_id: str = "paper"
    strategy_id: str = "default"
    checkpoint_interval_s: float = 60.0
    debounce_s: float = 0.5
    keep_checkpoints: int = 10
    stale_checkpoint_s: float = 3600.0
    fall_back_to_previous: bool = True
    reconcile_policy: Policy = "adopt_broker"
    reconcile_interval_s: float = 0.0
    cash_tolerance: Decimal = Decimal("0.01")


class CheckpointDue(Event):
    """Internal: asks the dispatcher thread to capture a checkpoint (``reason`` says why)."""

    priority: ClassVar[int] = Priority.SCHEDULED_TRIGGER
    reason: str


@dataclass(frozen=True)
class Captured:
    """Raw state taken on the dispatcher thread; turned into a Checkpoint on the state thread."""

    reason: str
    at: datetime
    strategy_state: dict[str, Any]
    portfolio: dict[str, Any]
    orders: dict[str, Any]
    journal_sequence: int


@dataclass(frozen=True)
class Written:
    """What :meth:`StateManager.write` stored."""

    number: int
    reason: str
    created_at: datetime
    journal_sequence: int
    size_chars: int  # of the JSON text (bytes, for ASCII)
    encoded_records: int  # orders, positions, marks and ids encoded anew (the rest re-used)


class StateManager:
    """Checkpoints and journal for one engine; see the module docstring."""

    def __init__(self, settings: StateSettings, clock: Clock, store: StateStore | None = None
                 ) -> None:
        self.settings = settings
        self._clock = clock
        # Before anything is read: a second engine on this directory is refused here.
        self._directory_lock = lock_directory(store.directory if store is not None
                                              else settings.directory)
        try:
            self.store = store or StateStore(settings.directory,
                                             account_id=settings.account_id,
                                             strategy_id=settings.strategy_id,
                                             keep_checkpoints=settings.keep_checkpoints)
        except BaseException:
            self._directory_lock.release()
            raise
        self._dirty = threading.Event()
        self._stop = threading.Event()
        # Set while a checkpoint is requested, captured or being written: the timer asks for
        # no other until it is on disk, so a slow disk or a big book never queues a backlog.
        self._in_flight = threading.Event()
        self._writes: queue.SimpleQueue[Captured | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        self.checkpoints_written = 0
        self.last_checkpoint_at: datetime | None = None
        self.last_error: str = ""
        self.on_written: Callable[[int, float], None] | None = None
        """Called (writer thread) with each checkpoint's number and build+save seconds."""
        self.encoder = CheckpointEncoder()
        self._write_lock = threading.Lock()  # the writer thread, or the final checkpoint

    # ------------------------------------------------------------------ journal
    def journal(self, kind: JournalKind, client_order_id: str, data: dict[str, Any]) -> None:
        """Durably append to the order journal. Blocks on disk; raises ``StateError``."""
        self._check_held()
        self.store.append_journal(kind, client_order_id, data, recorded_at=self._clock.now())

    def journal_since(self, sequence: int) -> list[JournalEntry]:
        return self.store.journal_since(sequence)

    def mark_dirty(self) -> None:
        """A fill or order change happened: a checkpoint is due after ``debounce_s``."""
        self._dirty.set()

    # ------------------------------------------------------------------ checkpoints
    def capture(self, reason: str, *, strategy_state: dict[str, Any],
                portfolio: dict[str, Any], orders: dict[str, Any]) -> Captured:
        """Call on the dispatcher thread (or with the dispatcher stopped).

        The writer thread serializes later, while the strategy and the book go on changing.
        The strategy's state is deep-copied (it is the strategy's own dict). ``portfolio``
        and ``orders`` are taken as they are: their ``capture_state`` (and
        ``export_state``) contract is values that are never mutated afterwards (that is
        what keeps capturing a 10,000-order book cheap). Raises ``StateError`` if the
        strategy state is not copyable.
        """
        try:
            state_copy = copy.deepcopy(strategy_state)
        except Exception as exc:
            raise StateError(f"strategy state cannot be copied: {exc}") from exc
        return Captured(reason, self._clock.now(), state_copy, portfolio, orders,
                        self.store.last_journal_sequence)

    def _head(self, captured: Captured, number: int) -> CheckpointHead:
        return CheckpointHead(
            schema_version=SCHEMA_VERSION,
            engine_version=__version__,
            created_at=captured.at,
            written_at=datetime.now(UTC),
            account_id=self.settings.account_id,
            strategy_id=self.settings.strategy_id,
            number=number,
            reason=captured.reason,
            strategy_state=captured.strategy_state,
            order_id_prefix=captured.orders["prefix"],
            next_order_sequence=captured.orders["next_sequence"],
            counters=dict(captured.orders.get("counters", {})),
            journal_sequence=captured.journal_sequence,
        )

    def build(self, captured: Captured) -> Checkpoint:
        """Validate ``captured`` into a whole Checkpoint in one go; ``StateError`` if it
        does not validate. The reference for :meth:`encode` (tests, benchmarks): the
        writer does not use it, since one pydantic call over a big book holds the GIL."""
        try:
            orders = captured.orders
            portfolio = {**captured.portfolio,
                         "positions": list(_values(captured.portfolio["positions"])),
                         "marks": dict(_items(captured.portfolio["marks"])),
                         "market_marked": list(_keys(captured.portfolio["market_marked"]))}
            return Checkpoint(
                **self._head(captured, self.store.next_checkpoint_number()).model_dump(),
                portfolio=PortfolioRecord.model_validate(portfolio),
                orders=[OrderRecord.model_validate(o) for o in _values(orders["orders"])],
                processed_fill_ids={"recent": list(_keys(orders["recent_fill_ids"]))},
            )
        except (ValidationError, KeyError, TypeError, ValueError) as exc:
            raise StateError(f"state could not be checkpointed: {exc}") from exc

    def encode(self, captured: Captured, number: int) -> str:
        """The checkpoint JSON of ``captured``; ``StateError`` if any part of it would not
        validate on reading."""
        return self.encode_pieces(captured, number).text()

    def encode_pieces(self, captured: Captured, number: int) -> TextPieces:
        """:meth:`encode`, as the pieces the writer streams to the store."""
        try:
            head = self._head(captured, number)
            return TextPieces(self.encoder.encode(head, captured.portfolio, captured.orders),
                              between=self.encoder.tick)
        except (ValidationError, PydanticSerializationError, KeyError, TypeError,
                ValueError) as exc:
            raise StateError(f"state could not be checkpointed: {exc}") from exc

    def write(self, captured: Captured) -> Written:
        """Encode and store a checkpoint now. Blocks on disk; raises ``StateError``."""
        self._check_held()
        with self._write_lock:
            started = time.perf_counter()
            number = self.store.next_checkpoint_number()
            text = self.encode_pieces(captured, number)
            self.store.save_checkpoint_text(number, captured.journal_sequence, text)
            written = Written(number, captured.reason, captured.at, captured.journal_sequence,
                              len(text), self.encoder.encoded_records)
            if self.on_written is not None:
                self.on_written(number, time.perf_counter() - started)
            self.checkpoints_written += 1
            self.last_checkpoint_at = captured.at
        _log.info("checkpoint_written", number=number, reason=captured.reason,
                  encoded_records=written.encoded_records, size_chars=written.size_chars,
                  journal_sequence=captured.journal_sequence)
        return written

    def submit(self, captured: Captured) -> None:
        """Hand a capture to the writer thread (returns at once)."""
        self._writes.put(captured)

    def _request(self, request_checkpoint: Callable[[str], None], reason: str) -> None:
        if self._in_flight.is_set():
            return  # the previous one is not on disk yet: it will include this activity
        self._in_flight.set()
        request_checkpoint(reason)

    # ------------------------------------------------------------------ threads
    def start(self, request_checkpoint: Callable[[str], None]) -> None:
        """Start the timer thread (asks for checkpoints) and the writer thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._timer, args=(request_checkpoint,),
                                        name="livetrade-state", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="livetrade-state-writer",
                                        daemon=True)
        self._thread.start()
        self._writer.start()

    def stop_requests(self, timeout_s: float = 10.0) -> None:
        """Stop asking for checkpoints (first step of a shutdown). Blocks briefly."""
        self._stop.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._thread = None

    def release_directory(self) -> None:
        """Let another engine (another process) take the state directory: the last step of
        a stop. Kept while this engine's checkpoint writer is still running (a stop that
        timed out on a slow disk): the directory is not given up while we write to it.
        Afterwards the store stays readable here, and any write is refused.
        See :mod:`livetrade.state.lock`."""
        writer = self._writer
        if writer is not None and writer.is_alive():
            _log.error("state_directory_kept", directory=str(self.settings.directory),
                       reason="the checkpoint writer is still running")
            return
        self._directory_lock.release()

    def reclaim_directory(self) -> None:
        """Take the directory again after a start that failed gave it up (a retried start).
        Raises ``StateError`` if another process took it meanwhile."""
        if self._directory_lock.released:
            self._directory_lock = lock_directory(self.store.directory)

    def _check_held(self) -> None:
        if self._directory_lock.released:
            raise StateError("this engine gave its state directory up when it stopped; "
                             "nothing more is written to it",
                             directory=str(self.settings.directory))

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop asking for checkpoints and finish the queued writes. Blocks."""
        self.stop_requests(timeout_s)
        if self._writer is not None:
            self._writes.put(None)
            self._writer.join(timeout_s)
        self._thread = None
        if self._writer is not None and not self._writer.is_alive():
            self._writer = None  # a writer still busy is kept: release_directory checks it

    def _timer(self, request_checkpoint: Callable[[str], None]) -> None:
        interval = self.settings.checkpoint_interval_s
        debounce = self.settings.debounce_s
        waited = 0.0
        while not self._stop.is_set():
            timeout = (interval - waited) if interval > 0 else None
            if self._dirty.wait(timeout):
                if self._stop.is_set():
                    return
                self._stop.wait(debounce)  # let the burst finish: one write for all of it
                if self._stop.is_set():
                    return
                self._dirty.clear()
                self._request(request_checkpoint, "order_activity")
            else:
                self._request(request_checkpoint, "periodic")
            waited = 0.0

    def _write_loop(self) -> None:
        while True:
            captured = self._writes.get()
            if captured is None:
                return
            try:
                self.write(captured)
            except Exception as exc:  # noqa: BLE001 - the writer must outlive a bad checkpoint
                self.last_error = f"{type(exc).__name__}: {exc}"
                _log.error("checkpoint_failed", error=self.last_error, reason=captured.reason)
            finally:
                self._in_flight.clear()


def _values(value: Any) -> Iterable[Any]:
    """The records of a capture's view, or of a plain list."""
    return value.values() if isinstance(value, Chunked) else value


def _items(value: Any) -> Iterable[tuple[Any, Any]]:
    """The (symbol, mark) pairs of a capture's view, or of a plain dict."""
    return value.items() if isinstance(value, Chunked | dict) else value


def _keys(value: Any) -> Iterable[Any]:
    """The symbols or fill ids of a capture's view, or of a plain list."""
    return value.keys() if isinstance(value, Chunked) else value
