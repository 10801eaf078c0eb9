"""Fault injection: decides, per request, whether the simulator misbehaves and how.

Why seeded and drawn once per in-scope request: a test that sets ``seed=7, error_rate=0.3``
gets the same failures on the same requests every run, and requests outside ``scope`` do
not consume draws, so adding a ``GET /api/v3/time`` call does not shift which
``POST /api/v3/order`` fails. Websocket drops draw from their own generator.
"""

from __future__ import annotations

import random
import threading
from enum import StrEnum

from livetrade.simexchange.config import FaultConfig


class HttpFault(StrEnum):
    """What to do instead of (or after) serving a request."""

    ERROR = "error"  # answer 5xx without executing
    RATE_LIMIT = "rate_limit"  # answer 429 with Retry-After without executing
    TIMEOUT = "timeout"  # execute, then never send the response


class FaultInjector:
    """The current ``FaultConfig`` and its seeded draws. Thread-safe."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._rng = random.Random(0)
        self._ws_rng = random.Random(0)
        self.set(config or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config

    def set(self, config: FaultConfig) -> None:
        """Replace every fault setting and restart the draws from ``config.seed``."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._ws_rng = random.Random(config.seed + 1)

    def clear(self) -> None:
        """No faults at all (the seed is kept so a later ``set`` is still repeatable)."""
        self.set(FaultConfig(seed=self.config.seed))

    def http_fault(self, method: str, path: str) -> HttpFault | None:
        """One draw for an in-scope request; None means serve it normally."""
        with self._lock:
            config = self._config
            if not (config.error_rate or config.rate_limit_rate or config.timeout_rate):
                return None
            if config.scope and f"{method} {path}" not in config.scope:
                return None
            draw = self._rng.random()
        if draw < config.error_rate:
            return HttpFault.ERROR
        if draw < config.error_rate + config.rate_limit_rate:
            return HttpFault.RATE_LIMIT
        if draw < config.error_rate + config.rate_limit_rate + config.timeout_rate:
            return HttpFault.TIMEOUT
        return None

    def drop_ws_message(self) -> bool:
        """Whether to drop the connection instead of sending this websocket message."""
        with self._lock:
            rate = self._config.ws_drop_rate
            return rate > 0 and self._ws_rng.random() < rate

    def fill_faults(self) -> tuple[int, float | None]:
        config = self.config
        return config.fill_delay_ms, config.partial_fill_fraction

    def clock_skew_ms(self) -> int:
        return self.config.clock_skew_ms
