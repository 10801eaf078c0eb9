"""What a suite hands back: figures for the JSON, targets, and rows for the table.

A suite never prints its own table: it returns a :class:`SuiteResult` and the CLI renders
every suite the same way. ``figures`` is the machine-readable part (it goes to JSON as is);
``rows`` is the human-readable part, each row showing a value next to its same-run baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

JsonValue: TypeAlias = (
    "dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None"
)
JsonObject: TypeAlias = dict[str, JsonValue]

Op = Literal[">=", "<=", "<", ">", "=="]


@dataclass(frozen=True)
class Target:
    """A goal for one figure: ``value op target``; ``met`` is computed, never passed."""

    value: float | int | bool
    target: float | int | bool
    op: Op
    note: str = ""

    @property
    def met(self) -> bool:
        v, t = self.value, self.target
        if self.op == ">=":
            return v >= t
        if self.op == "<=":
            return v <= t
        if self.op == "<":
            return v < t
        if self.op == ">":
            return v > t
        return v == t

    def describe(self) -> str:
        return f"{self.op} {_fmt_num(self.target)}"

    def to_json(self) -> JsonObject:
        out: JsonObject = {"value": self.value, "target": self.target, "op": self.op,
                           "met": self.met}
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Row:
    """One line of the table: a measurement, its same-run baseline and their ratio."""

    label: str
    value: str
    baseline: str = ""
    ratio: float | None = None
    target: str = ""  # the name of a Target of the same suite, shown as met/missed


@dataclass
class SuiteResult:
    """Everything one suite produced. ``status`` is ``ok``, ``error`` or ``unavailable``."""

    name: str
    title: str
    figures: JsonObject = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status: str = "ok"
    elapsed_s: float = 0.0

    def to_json(self) -> JsonObject:
        out: JsonObject = {"status": self.status, "title": self.title,
                           "elapsed_s": round(self.elapsed_s, 3)}
        out.update(self.figures)
        out["notes"] = list(self.notes)
        out["targets"] = {name: t.to_json() for name, t in self.targets.items()}
        return out


def _fmt_num(value: float | int | bool) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.3g}"


def fmt_rate(events_per_s: float) -> str:
    return f"{events_per_s:,.0f}/s"


def fmt_us(us: float) -> str:
    if us >= 10_000:
        return f"{us / 1000:,.1f} ms"
    if us >= 100:
        return f"{us:,.0f} us"
    return f"{us:.1f} us"


def latency_text(summary: Mapping[str, JsonValue]) -> str:
    """``p50/p99/p99.9/max`` of a latency summary made by :func:`benchmarks.stats.summarize_ns`."""
    keys = ("p50_us", "p99_us", "p999_us", "max_us")
    parts = []
    for key in keys:
        value = summary.get(key)
        parts.append(fmt_us(float(value)) if isinstance(value, int | float) else "-")
    return " / ".join(parts)
