"""Keeping credentials out of ccxt's own log lines.

ccxt logs its requests (headers included) through the standard ``logging`` loggers
``ccxt`` and ``ccxt.base.exchange``, outside anything the adapter controls. This module's
one job is the process-wide filter that scrubs the secrets of every adapter built from
those lines; it knows nothing of orders or venues.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from livetrade.brokers.ccxt.errors import scrub


class _Redact(logging.Filter):
    """Scrubs credentials from ccxt's own debug log lines (it logs request headers)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = scrub(record.getMessage(), self.secrets)
            record.args = ()
        return True


_REDACT = _Redact()


def redact_library_logs(secrets: Iterable[str]) -> None:
    """Make sure ccxt's loggers never print ``secrets`` (idempotent, process-wide)."""
    _REDACT.secrets.update(s for s in secrets if s and len(s) >= 4)
    for name in ("ccxt", "ccxt.base.exchange"):
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)
