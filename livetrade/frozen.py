"""Building and copying frozen dataclass records on the order path, without ``__init__``.

Why: a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
(about 0.25 us a field), and ``dataclasses.replace`` also walks ``fields()`` first: a copy
of the 9-field :class:`~livetrade.matching.SimOrder` costs ~4 us. The paper venue builds
and copies several such records per order, on the dispatcher thread. These helpers set
the instance ``__dict__`` in one step, so the record equals (``==``, ``repr``, pickling)
the one the constructor or ``replace`` builds, for a fraction of the cost.

What it trades away: ``__init__`` does not run. Use them only on plain frozen dataclasses
(no ``__slots__``, no ``__post_init__``, no ``InitVar`` or ``init=False`` fields), and pass
:func:`build` every field. Nothing checks this at run time (that would cost what is
saved); ``tests/test_frozen.py`` checks each record type the order path builds this way
against its constructor and ``dataclasses.replace``.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")

_new = object.__new__
_set = object.__setattr__


def build(cls: type[T], **fields: Any) -> T:
    """``cls(**fields)`` without running ``__init__``; ``fields`` must name every field."""
    record = _new(cls)
    _set(record, "__dict__", fields)
    return record


def evolve(record: T, **changes: Any) -> T:
    """``dataclasses.replace(record, **changes)`` without running ``__init__``."""
    copy = _new(type(record))
    values = dict(record.__dict__)
    values.update(changes)
    _set(copy, "__dict__", values)
    return copy
