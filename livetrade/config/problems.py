"""From a pydantic ``ValidationError`` to lines a person can act on: file, line, key, hint.

Kept apart from the models so the wording of every config error lives in one place, and
never shows a value (a mistyped secret must not be printed).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

# The ``type`` tags of the discriminated unions (brokers, feeds, schedule jobs).
_TAGS = ("simulated", "replay", "binance_stream", "ccxt_poll", "market_open", "market_close",
         "every", "at", "paper", "ccxt", "ib", "bybit_stream", "hyperliquid_stream")

_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_TABLE = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def _key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Map each table and key path in a TOML text to its 1-based line number.

    Good enough to point a person at the right line; not a TOML parser (the real parse is
    ``tomllib``'s, which has already succeeded when this runs).
    """
    lines: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    counts: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _ARRAY_TABLE.match(line):
            name = tuple(p.strip().strip("\"'") for p in match.group(1).split("."))
            index = counts.get(name, -1) + 1
            counts[name] = index
            table = (*name, index)
            lines.setdefault(table, number)
        elif match := _TABLE.match(line):
            table = tuple(p.strip().strip("\"'") for p in match.group(1).split("."))
            lines.setdefault(table, number)
        elif match := _KEY.match(line):
            key = tuple(p.strip().strip("\"'") for p in match.group(1).split("."))
            lines.setdefault((*table, *key), number)
    return lines


def _locate(loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int | None:
    # Discriminated unions add the tag ("simulated") to the location; drop such parts.
    path = tuple(p for p in loc if p not in _TAGS)
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


_PARAM_TYPES = frozenset({"int", "bool", "str", "decimal"})
_HINTS = {
    "extra_forbidden": "remove it, or check its spelling against README.md, Configuration",
    "missing": "add it",
    "union_tag_invalid": "use one of the listed types",
    "literal_error": "use one of the listed values",
}


def format_problems(error: ValidationError, text: str, source: str) -> list[str]:
    """One line per problem: ``file:line: key.path: message (hint)``. Never shows values."""
    lines = _key_lines(text)
    problems = []
    merged: set[tuple[str | int, ...]] = set()
    for raw in error.errors(include_input=False, include_url=False):
        item: dict[str, Any] = dict(raw)
        loc = tuple(item["loc"])
        if loc and loc[-1] in _PARAM_TYPES:
            # One value failed every member of a union (strategy params): one line, not four.
            if loc[:-1] in merged:
                continue
            merged.add(loc[:-1])
            loc = loc[:-1]
            item.update(type="param_type",
                        msg="expected an integer, true/false, text or a decimal number")
        key = ".".join(str(p) for p in loc if p not in _TAGS) or "(top level)"
        line = _locate(loc, lines)
        where = f"{source}:{line}" if line is not None else source
        hint = _HINTS.get(item["type"])
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        message = message.removeprefix("Value error, ")
        problems.append(f"{where}: {key}: {message}" + (f" ({hint})" if hint else ""))
    return problems
