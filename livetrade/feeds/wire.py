"""Strict readers for numbers and times that arrive from a venue as JSON.

Venues send prices as decimal strings ("30000.10000000"). We accept exactly that shape,
so "NaN", "Infinity", "1e999", "-5", "0x10" or a 10,000-digit string never reach
``Decimal`` arithmetic; each reader raises ``BadFrame`` with the counter reason to use.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from livetrade.errors import DataFeedError


class BadFrame(DataFeedError):
    """A frame or answer a venue parser refuses; ``reason`` names its counter."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason
        self.detail = detail


_MAX_MS = 10**14  # year 5138: anything later is not a timestamp


def decimal_field(obj: dict[str, Any], key: str, *, positive: bool) -> Decimal:
    """``obj[key]`` as a finite ``Decimal`` (``> 0`` if ``positive``, else ``>= 0``)."""
    raw = obj.get(key)
    if isinstance(raw, Decimal):  # a JSON number (parsed with parse_float=Decimal)
        raw = format(raw, "f") if raw.is_finite() else "nan"
    elif isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    # ASCII digits with at most one dot, at most 61 characters: str methods in C are
    # several times cheaper than the equivalent regex on this per-frame path.
    if (not isinstance(raw, str) or len(raw) > 61 or not raw.isascii()
            or not raw.replace(".", "", 1).isdigit()):
        raise BadFrame("bad_number", f"{key}={str(raw)[:40]!r}")
    value = Decimal(raw)
    if positive and value <= 0:
        raise BadFrame("bad_number", f"{key}={raw!r} is not positive")
    return value


def ms_field(obj: dict[str, Any], key: str) -> datetime:
    """``obj[key]``, epoch milliseconds, as an aware UTC datetime."""
    raw = obj.get(key)
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 < raw < _MAX_MS:
        raise BadFrame("bad_number", f"{key}={str(raw)[:40]!r} is not epoch milliseconds")
    return datetime.fromtimestamp(raw / 1000, UTC)


def as_object(value: Any, what: str) -> dict[str, Any]:
    """``value`` if it is a JSON object, else ``BadFrame("bad_shape")``."""
    if not isinstance(value, dict):
        raise BadFrame("bad_shape", f"{what} is {type(value).__name__}, not an object")
    return value


MAX_REST_BYTES = 1_000_000
"""The largest REST answer a feed reads (a resync snapshot is far smaller)."""


def fetch_json(request: str | urllib.request.Request, timeout_s: float, **context: str) -> Any:
    """A venue's REST answer as JSON (floats as ``Decimal``), for a feed's resync. Blocks
    at most about ``timeout_s``. A refusal or an oversized answer is a ``DataFeedError``."""
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:
            body = reply.read(MAX_REST_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise DataFeedError("REST resync refused", status=exc.code, **context) from exc
    if len(body) > MAX_REST_BYTES:
        raise DataFeedError("REST resync answer too large", **context)
    return json.loads(body, parse_float=Decimal)
