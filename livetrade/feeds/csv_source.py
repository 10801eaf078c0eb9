"""Reading market data from CSV: ticks or bars, validated row by row.

Two layouts, told apart by the header (column order is free, extra columns are an error so
a typo is not silently ignored):

* ticks: ``timestamp,symbol,price,volume``
* bars:  ``timestamp,open,high,low,close,volume`` (the symbol comes from the caller; a
  ``symbol`` column is also accepted)

Timestamps are ISO 8601 (a time without an offset is taken as UTC) or epoch seconds.
A bad row yields a :class:`~livetrade.errors.DataFeedError` naming the file, line and
column instead of an event; the caller decides whether to skip it or stop. A row whose
timestamp is earlier than the previous row of its symbol is a bad row (equal is fine).
A UTF-8 byte-order mark (as spreadsheets write) is ignored.
"""

from __future__ import annotations

import csv
from collections.abc import Generator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from livetrade.errors import DataFeedError
from livetrade.events import MarketData

TICK_COLUMNS = frozenset({"timestamp", "symbol", "price", "volume"})
BAR_COLUMNS = frozenset({"timestamp", "open", "high", "low", "close", "volume"})


def parse_timestamp(text: str) -> datetime:
    """ISO 8601 (naive means UTC) or epoch seconds, to an aware UTC datetime."""
    text = text.strip()
    try:
        if text.replace(".", "", 1).isdigit():
            return datetime.fromtimestamp(float(text), UTC)
        value = datetime.fromisoformat(text)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not an ISO 8601 time or epoch seconds: {text!r}") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _decimal(text: str, column: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError(f"{column} is not a number: {text!r}") from exc
    if not value.is_finite():
        raise ValueError(f"{column} is not finite: {text!r}")
    return value


def detect_layout(columns: list[str], path: Path, symbol: str | None) -> str:
    """Return ``"ticks"`` or ``"bars"`` for a header, or raise ``DataFeedError``."""
    names = {c.strip().lower() for c in columns}
    if names == TICK_COLUMNS:
        return "ticks"
    if names in (BAR_COLUMNS, BAR_COLUMNS | {"symbol"}):
        if symbol is None and "symbol" not in names:
            raise DataFeedError("bar files need a symbol: pass --symbol (or add a symbol "
                                "column)", file=str(path), line=1)
        return "bars"
    raise DataFeedError(
        "unrecognised CSV header; expected timestamp,symbol,price,volume (ticks) or "
        f"timestamp,open,high,low,close,volume (bars), got {','.join(columns)}",
        file=str(path), line=1,
    )


def read_csv(
    path: Path, symbol: str | None = None
) -> Generator[MarketData | DataFeedError, None, None]:
    """Yield one ``MarketData`` per good row and one ``DataFeedError`` per bad row.

    Raises ``DataFeedError`` for an unreadable file or header. This generator blocks on
    file I/O only.
    """
    try:
        handle = path.open(newline="", encoding="utf-8-sig")  # tolerate a spreadsheet's BOM
    except OSError as exc:
        raise DataFeedError(f"cannot open market data file: {exc.strerror}",
                            file=str(path)) from exc
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise DataFeedError("market data file is empty", file=str(path), line=1)
        layout = detect_layout(header, path, symbol)
        index = {c.strip().lower(): i for i, c in enumerate(header)}
        width = len(header)
        last_seen: dict[str, datetime] = {}
        for row in reader:
            line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            try:
                if len(row) != width:
                    raise ValueError(f"expected {width} fields, found {len(row)}")
                event = _row_event(row, index, layout, symbol)
                previous = last_seen.get(event.symbol)
                if previous is not None and event.timestamp < previous:
                    raise ValueError(f"timestamp {event.timestamp.isoformat()} goes back in "
                                     f"time (previous {event.symbol} row: "
                                     f"{previous.isoformat()}); sort the file")
                last_seen[event.symbol] = event.timestamp
                yield event
            except (ValueError, ArithmeticError) as exc:
                yield DataFeedError(f"bad market data row: {_first_line(exc)}",
                                    file=str(path), line=line)


def _first_line(exc: Exception) -> str:
    text = str(exc)
    if hasattr(exc, "errors"):  # pydantic ValidationError: keep it to one readable line
        errors = exc.errors()
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return text.splitlines()[0] if text else type(exc).__name__


def _row_event(row: list[str], index: dict[str, int], layout: str,
               symbol: str | None) -> MarketData:
    timestamp = parse_timestamp(row[index["timestamp"]])
    volume = _decimal(row[index["volume"]], "volume")
    if layout == "ticks":
        return MarketData(symbol=row[index["symbol"]].strip(), timestamp=timestamp,
                          price=_decimal(row[index["price"]], "price"), volume=volume)
    sym = row[index["symbol"]].strip() if "symbol" in index else symbol
    o, h, lo, c = (_decimal(row[index[k]], k) for k in ("open", "high", "low", "close"))
    if not (lo <= min(o, c) and max(o, c) <= h):
        raise ValueError(f"bar is inconsistent: low {lo} / high {h} do not bound "
                         f"open {o} and close {c}")
    return MarketData(symbol=sym, timestamp=timestamp, price=c, volume=volume,
                      open=o, high=h, low=lo, close=c)
