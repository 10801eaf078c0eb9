"""Copy-on-write ordered maps: the checkpoint capture's way to hand a big book to another
thread in O(what changed), not O(book).

A :class:`ChunkedMap` keeps its entries in insertion order, split into chunks of
``chunk_size`` consecutive ranks. :meth:`ChunkedMap.freeze` returns a :class:`Chunked`:
the tuple of the current chunk dicts, which from then on are never mutated; the next
change to a frozen chunk copies that one chunk first. So a freeze costs one tuple of
``len / chunk_size`` references, a change after it at most one chunk copy, and the reader
(the checkpoint writer) can tell unchanged chunks by identity and re-use what it made of
them last time.

Values must be immutable (``Decimal``, ``str``, ``None``, or dicts that nobody mutates).
Not thread-safe: the owner (portfolio, order manager) calls it under its own lock; a
:class:`Chunked` may be read from any thread.

>>> m: ChunkedMap[str, int] = ChunkedMap(chunk_size=2)
>>> m.set("a", 1); m.set("b", 2); m.set("c", 3)
>>> frozen = m.freeze()
>>> m.set("a", 10); m.pop("c")
>>> list(frozen.items()), list(m.freeze().items())
([('a', 1), ('b', 2), ('c', 3)], [('a', 10), ('b', 2)])
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_CHUNK_SIZE = 64


@dataclass(frozen=True)
class Chunked(Generic[K, V]):
    """An immutable, ordered view of a :class:`ChunkedMap` at one instant.

    ``chunks`` pairs a stable slot (the same slot is the same run of ranks in every later
    view of the same map) with a mapping that is never mutated; a chunk that did not change
    between two views is the *same object* in both, which is what lets a reader cache work
    per chunk.
    """

    chunks: tuple[tuple[Hashable, Mapping[K, V]], ...]
    length: int

    def __len__(self) -> int:
        return self.length

    def keys(self) -> Iterator[K]:
        for _, chunk in self.chunks:
            yield from chunk

    def values(self) -> Iterator[V]:
        for _, chunk in self.chunks:
            yield from chunk.values()

    def items(self) -> Iterator[tuple[K, V]]:
        for _, chunk in self.chunks:
            yield from chunk.items()

    def __add__(self, other: Chunked[K, V]) -> Chunked[K, V]:
        """The two views one after the other (slots must not collide)."""
        return Chunked(self.chunks + other.chunks, self.length + other.length)

    @staticmethod
    def of_items(items: Iterable[tuple[K, V]], tag: Hashable = "plain",
                 chunk_size: int = DEFAULT_CHUNK_SIZE) -> Chunked[K, V]:
        """Plain data as a view. Its chunks are new objects, so a reader that caches by
        chunk identity re-does every chunk (it may still re-use work per value)."""
        it = iter(items)
        chunks: list[tuple[Hashable, Mapping[K, V]]] = []
        length = 0
        while piece := dict(islice(it, chunk_size)):
            chunks.append(((tag, length), piece))
            length += len(piece)
        return Chunked(tuple(chunks), length)


class ChunkedMap(Generic[K, V]):
    """An insertion-ordered map whose :meth:`freeze` costs O(chunks), not O(entries).

    Every key gets a rank when it is inserted (or moved to the end); chunk ``n`` holds ranks
    ``n * chunk_size`` to ``(n + 1) * chunk_size - 1`` in rank order. Ranks only grow, so
    chunks are created in increasing order and the chunk dict's own order is the map's.
    """

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE, tag: Hashable = "") -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        self._size = chunk_size
        self._tag = tag
        self._rank: dict[K, int] = {}
        self._chunks: dict[int, dict[K, V]] = {}
        self._owned: set[int] = set()  # chunks created or copied since the last freeze
        self._next = 0

    def __len__(self) -> int:
        return len(self._rank)

    def __contains__(self, key: object) -> bool:
        return key in self._rank

    def get(self, key: K) -> V | None:
        rank = self._rank.get(key)
        return None if rank is None else self._chunks[rank // self._size][key]

    def first_key(self) -> K | None:
        for chunk in self._chunks.values():
            for key in chunk:
                return key
        return None

    def last_key(self) -> K | None:
        for chunk in reversed(self._chunks.values()):
            for key in reversed(chunk):
                return key
        return None

    def _writable(self, number: int) -> dict[K, V]:
        if number in self._owned:
            return self._chunks[number]
        copy = dict(self._chunks.get(number, {}))
        self._chunks[number] = copy  # a new number is the highest: it goes last, in order
        self._owned.add(number)
        return copy

    def set(self, key: K, value: V) -> None:
        """Replace ``key``'s value where it stands, or append it at the end."""
        rank = self._rank.get(key)
        if rank is None:
            rank = self._rank[key] = self._next
            self._next += 1
        self._writable(rank // self._size)[key] = value

    def move_to_end(self, key: K, value: V) -> None:
        self.pop(key)
        self.set(key, value)

    def pop(self, key: K) -> None:
        """Remove ``key`` if present."""
        rank = self._rank.pop(key, None)
        if rank is None:
            return
        number = rank // self._size
        chunk = self._writable(number)
        del chunk[key]
        if not chunk:
            del self._chunks[number]
            self._owned.discard(number)

    def clear(self) -> None:
        self._rank.clear()
        self._chunks = {}
        self._owned = set()

    def freeze(self) -> Chunked[K, V]:
        """The current entries as an immutable view; O(number of chunks)."""
        self._owned = set()
        return Chunked(tuple(((self._tag, n), c) for n, c in self._chunks.items()),
                       len(self._rank))


def sync_ordered(target: ChunkedMap[K, V], source: dict[K, Any], changed: set[K],
                 value_of: Callable[[K], V]) -> None:
    """Make ``target`` equal ``source`` (same keys, same order, values by ``value_of``),
    given the keys ``changed`` since the last sync. O(changed), under these rules of how
    ``source`` changes (they hold for the order manager's and the portfolio's dicts):

    * a key inserted (or re-inserted) since the last sync is in ``changed``; insertion is
      at the end, so those keys form a suffix of ``source``;
    * a key that left ``source`` is in ``changed``, or left from the head (a bounded
      history evicting its oldest).

    If the result does not have ``source``'s length those rules were broken: it is then
    rebuilt in full (O(source)), so a broken rule costs time, never a wrong checkpoint.
    """
    for key in changed:
        if key in target and key not in source:
            target.pop(key)
    while (head := target.first_key()) is not None and head not in source:
        target.pop(head)
    suffix: list[K] = []
    for key in reversed(source):
        if key not in changed:
            break
        suffix.append(key)
    for key in reversed(suffix):
        target.move_to_end(key, value_of(key))
    in_suffix = set(suffix)
    for key in changed:
        if key in source and key not in in_suffix:
            target.set(key, value_of(key))
    if len(target) != len(source):
        target.clear()
        for key in source:
            target.set(key, value_of(key))


def sync_fifo(target: ChunkedMap[K, None], source: dict[K, Any]) -> None:
    """Make ``target``'s keys equal ``source``'s for a bounded history that only appends
    at the end and evicts from the head (the order manager's recent fill ids), in
    O(appended + evicted); rebuilt in full if the result does not match."""
    while (head := target.first_key()) is not None and head not in source:
        target.pop(head)
    last = target.last_key()
    new: list[K] = []
    for key in reversed(source):
        if key == last:
            break
        new.append(key)
    for key in reversed(new):
        target.set(key, None)
    if len(target) != len(source):
        target.clear()
        for key in source:
            target.set(key, None)
