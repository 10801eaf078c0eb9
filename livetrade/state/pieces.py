"""Storing a big text value in diskcache without holding the GIL for the whole of it.

diskcache stores a long ``str`` by copying it into an ``io.StringIO`` and writing it as one
line: for a 5 MB checkpoint that is several GIL-holding copies in single C calls, which the
dispatcher thread feels as tens of ms of latency. :class:`PiecesDisk` also accepts a
:class:`TextPieces` (the checkpoint's JSON in pieces of at most one chunk) and writes it
piece by piece, calling ``between()`` after each, into the same kind of file diskcache
itself writes for text (``MODE_TEXT``): any reader, including a plain ``diskcache.Cache``
without this class, gets the joined ``str`` back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import diskcache
from diskcache.core import MODE_RAW, MODE_TEXT, UNKNOWN


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class TextPieces:
    """A text value as the pieces it is the concatenation of."""

    pieces: Sequence[str]
    between: Callable[[], None] = _nothing
    """Called after each piece is written (the checkpoint encoder's GIL hand-over)."""

    def __len__(self) -> int:
        return sum(len(piece) for piece in self.pieces)

    def text(self) -> str:
        return "".join(self.pieces)


class PiecesDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's ``Disk`` that also stores :class:`TextPieces`, piece by piece."""

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> tuple[Any, ...]:
        if not isinstance(value, TextPieces):
            return super().store(value, read, key=key)  # type: ignore[no-any-return]
        if len(value) < self.min_file_size:
            return 0, MODE_RAW, None, value.text()
        filename, full_path = self.filename(key, value)
        self._write(full_path, _Written(value), "x", "UTF-8")
        return os.path.getsize(full_path), MODE_TEXT, filename, None


class _Written:
    """Iterates the pieces for ``Disk._write``, handing over between them."""

    def __init__(self, value: TextPieces) -> None:
        self._value = value

    def __iter__(self) -> Any:
        for piece in self._value.pieces:
            yield piece
            self._value.between()
