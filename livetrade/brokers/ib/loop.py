"""The one thread that owns an asyncio event loop for IB, and the only door into it.

ib_insync (and ib_async) are asyncio libraries whose objects must only be touched from the
loop that runs them: calling ``ib.placeOrder`` from another thread fails or races. So the
adapter starts one thread here, gives it its own loop (``new_event_loop`` +
``set_event_loop`` on *that* thread only) and every other thread crosses over with
:meth:`IBLoop.call`, which schedules a coroutine with ``run_coroutine_threadsafe`` and waits
for its result with a timeout. No other thread ever has an event loop set because of us.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from livetrade.errors import AmbiguousOutcomeError, EngineStateError, TransientBrokerError

T = TypeVar("T")
_log = structlog.get_logger("livetrade.brokers.ib")


class IBLoop:
    """A daemon thread running its own asyncio loop; see the module docstring."""

    def __init__(self, name: str = "livetrade-ib-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise EngineStateError("IB loop not started")
        return self._loop

    def start(self) -> None:
        """Start the thread and wait until its loop runs. Blocks (briefly)."""
        if self._thread is not None:
            raise EngineStateError("IB loop already started")
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            asyncio.set_event_loop(None)
            loop.close()

    def on_loop(self) -> bool:
        """True when called from the loop's own thread."""
        return threading.current_thread() is self._thread

    def call(self, factory: Callable[[], Awaitable[T]], timeout_s: float,
             ambiguous: bool = False) -> T:
        """Run ``factory()`` on the loop thread and return its result. Blocks.

        A timeout raises ``TransientBrokerError`` (``AmbiguousOutcomeError`` when
        ``ambiguous``: the work may have reached the venue) and cancels the work.
        Exceptions raised on the loop thread propagate unchanged.
        """
        if self.on_loop():
            raise EngineStateError("a blocking IB call was made from the IB loop thread")

        async def run() -> T:
            return await factory()

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            kind = AmbiguousOutcomeError if ambiguous else TransientBrokerError
            raise kind(f"IB did not answer within {timeout_s} s",
                       timeout_s=timeout_s) from None
        except concurrent.futures.CancelledError:
            # The loop is stopping (disconnect from another thread): the work never finished.
            kind = AmbiguousOutcomeError if ambiguous else TransientBrokerError
            raise kind("the IB adapter was shut down during the call") from None

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the loop and join the thread. Idempotent. Blocks."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        if thread.is_alive():
            _log.warning("ib_loop_stop_timeout", timeout_s=timeout_s)
        self._thread = None
        self._loop = None
