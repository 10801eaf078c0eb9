"""Checkpoint JSON, made on the writer thread from a capture without stalling the dispatcher.

Why not ``Checkpoint(...).model_dump_json()``: pydantic-core validates and serializes in
Rust and holds the GIL for the whole call (tens of ms at 1,000 orders + positions, hundreds
at 10,000), and the dispatcher cannot run a single event meanwhile. Here:

* each order, position and chunk of marks or ids is validated (the same pydantic models
  the reader uses) and encoded on its own, in calls of a few µs;
* only what changed since the last checkpoint is encoded again: a capture's unchanged
  chunks are the very objects of the previous capture (:mod:`livetrade.state.chunks`), so
  their text is re-used, and inside a changed chunk so is every record that is the same
  object as before;
* every ``yield_every_s`` of work the encoder sleeps 0 s, which releases the GIL, so a
  dispatcher waiting for it gets it within about that long instead of CPython's 5 ms
  switch interval.

The text is the document :meth:`Checkpoint.model_validate_json` reads: reading stays
strict (a corrupt or foreign checkpoint is refused whole), and writing still refuses a
record that would not read back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable, Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ValidationError

from livetrade.errors import StateError
from livetrade.state.chunks import Chunked
from livetrade.state.records import CheckpointHead, OrderRecord, PortfolioHead, PositionRecord

# Per chunk: the chunk, its text, and per record key the record object and its text (two
# flat dicts rather than a tuple per record: fewer objects for the garbage collector).
_RecordCache = tuple[dict[Any, object], dict[Any, str]]
_ChunkEntry = tuple[Mapping[Any, Any], str, _RecordCache]
_ChunkCache = dict[Hashable, _ChunkEntry]
_NO_RECORDS: _RecordCache = ({}, {})

YIELD_EVERY_S = 0.0005
PAUSE_S = 0.0


class CheckpointEncoder:
    """Builds checkpoint JSON text from captures, re-using the previous one's work.

    One per writer; not thread-safe (the state manager serializes its writes). The caches
    hold the previous checkpoint's chunks and texts (about the size of one checkpoint).
    """

    def __init__(self, *, yield_every_s: float = YIELD_EVERY_S, pause_s: float = PAUSE_S,
                 pause: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._yield_every_s = yield_every_s
        self._pause_s = pause_s
        self._pause = pause
        self._clock = clock
        self._since = 0.0
        self._cache: dict[str, _ChunkCache] = {}
        self.encoded_records = 0
        """Records validated and encoded by the last :meth:`encode` (the rest re-used)."""

    def encode(self, head: CheckpointHead, portfolio: Mapping[str, Any],
               orders: Mapping[str, Any]) -> list[str]:
        """The checkpoint's JSON, in pieces of at most one chunk each (never joined here:
        one join of a 5 MB text is itself a GIL-holding call). Raises ``StateError`` if
        any part would not validate.

        ``portfolio`` and ``orders`` are what ``capture_state()`` (or ``export_state()``)
        of the portfolio and the order manager returned.
        """
        self._since = self._clock()
        self.encoded_records = 0
        try:
            head_text = head.model_dump_json()
            portfolio_head = PortfolioHead(initial_cash=portfolio["initial_cash"],
                                           cash=portfolio["cash"],
                                           commissions=portfolio["commissions"])
        except (ValidationError, KeyError) as exc:
            raise StateError(f"state could not be checkpointed: {exc}") from exc
        self.tick()
        positions = self._records("positions", _records_view(portfolio["positions"]),
                                  PositionRecord)
        marks = self._chunks("marks", _items_view(portfolio["marks"]), _encode_marks)
        marked = self._chunks("market_marked", _keys_view(portfolio["market_marked"]),
                              _encode_keys)
        book = self._records("orders", _records_view(orders["orders"]), OrderRecord)
        fills = self._chunks("fill_ids", _keys_view(orders["recent_fill_ids"]), _encode_keys)
        return [head_text[:-1], ',"portfolio":', portfolio_head.model_dump_json()[:-1],
                ',"positions":[', *positions, '],"marks":{', *marks, '},"market_marked":[',
                *marked, ']},"orders":[', *book, '],"processed_fill_ids":{"recent":[', *fills,
                "]}}"]

    def tick(self) -> None:
        """Give the GIL away if this thread has held it for ``yield_every_s``."""
        now = self._clock()
        if now - self._since >= self._yield_every_s:
            self._pause(self._pause_s)
            self._since = self._clock()

    def _records(self, field: str, view: Chunked[Any, Any], model: type[BaseModel]
                 ) -> list[str]:
        """Pieces of a field of validated records: a changed chunk re-encodes only the
        records that are not the same objects as last time."""

        def build(chunk: Mapping[Any, Any], previous: _ChunkEntry | None) -> _ChunkEntry:
            seen, seen_texts = previous[2] if previous is not None else _NO_RECORDS
            records: dict[Any, object] = {}
            record_texts: dict[Any, str] = {}
            for key, record in chunk.items():
                if seen.get(key) is record:
                    text = seen_texts[key]
                else:
                    text = _validated(model, record, field)
                    self.encoded_records += 1
                    self.tick()
                records[key] = record
                record_texts[key] = text
            return chunk, ",".join(record_texts.values()), (records, record_texts)

        return self._pieces(field, view, build)

    def _chunks(self, field: str, view: Chunked[Any, Any],
                encode: Callable[[Mapping[Any, Any]], str]) -> list[str]:
        """Pieces of a field encoded a whole chunk at a time (marks, symbols, fill ids)."""

        def build(chunk: Mapping[Any, Any], previous: _ChunkEntry | None) -> _ChunkEntry:
            self.encoded_records += len(chunk)
            self.tick()
            return chunk, encode(chunk), _NO_RECORDS

        return self._pieces(field, view, build)

    def _pieces(self, field: str, view: Chunked[Any, Any],
                build: Callable[[Mapping[Any, Any], _ChunkEntry | None], _ChunkEntry]
                ) -> list[str]:
        """One piece per chunk of ``view``: a chunk that is the same object as at the last
        checkpoint re-uses its text; any other is ``build``-t (given last time's entry for
        its slot, if any). Remembers this checkpoint's entries for the next."""
        old = self._cache.get(field, {})
        new: _ChunkCache = {}
        texts: list[str] = []
        for slot, chunk in view.chunks:
            hit = old.get(slot)
            entry = hit if hit is not None and hit[0] is chunk else build(chunk, hit)
            new[slot] = entry
            texts.append(entry[1])
        self._cache[field] = new
        return _separated(texts)


def _validated(model: type[BaseModel], record: object, field: str) -> str:
    try:
        return model.model_validate(record).model_dump_json()
    except ValidationError as exc:
        raise StateError(f"state could not be checkpointed: {field}: {exc}") from exc


def _encode_marks(chunk: Mapping[Any, Any]) -> str:
    parts = []
    for symbol, price in chunk.items():
        if not isinstance(symbol, str) or not isinstance(price, Decimal | int) or (
                isinstance(price, Decimal) and not price.is_finite()):
            raise StateError(f"state could not be checkpointed: mark {symbol!r}: {price!r}")
        parts.append(f'{json.dumps(symbol)}:"{price}"')
    return ",".join(parts)


def _encode_keys(chunk: Mapping[Any, Any]) -> str:
    keys = list(chunk)
    if not all(isinstance(key, str) for key in keys):
        raise StateError("state could not be checkpointed: a symbol or fill id is not text")
    return json.dumps(keys)[1:-1]


def _records_view(value: Any) -> Chunked[Any, Any]:
    if isinstance(value, Chunked):
        return value
    return Chunked.of_items(enumerate(value))


def _items_view(value: Any) -> Chunked[Any, Any]:
    if isinstance(value, Chunked):
        return value
    return Chunked.of_items(dict(value).items())


def _keys_view(value: Any) -> Chunked[Any, Any]:
    if isinstance(value, Chunked):
        return value
    return Chunked.of_items((key, None) for key in value)


def _separated(texts: list[str]) -> list[str]:
    """``texts`` with a comma between each two: the pieces of one JSON array or object."""
    out = [","] * (2 * len(texts) - 1) if texts else []
    out[::2] = texts
    return out
