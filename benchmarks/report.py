"""Rendering results as a plain-text table (one section per suite, then the targets)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from benchmarks.results import SuiteResult, Target

_WIDTH = 118


def _target_text(target: Target | None) -> str:
    if target is None:
        return ""
    return f"{target.describe()} {'met' if target.met else 'MISSED'}"


def render_suite(number: int, result: SuiteResult) -> str:
    head = f"== {number}. {result.title}"
    if result.status != "ok":
        head += f" [{result.status}]"
    lines = [f"{head}  ({result.elapsed_s:.1f} s)"]
    table: list[tuple[str, str, str, str, str]] = [
        ("measurement", "value", "same-run baseline", "ratio", "target")]
    for row in result.rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
        table.append((row.label, row.value, row.baseline, ratio,
                      _target_text(result.targets.get(row.target))))
    if len(table) > 1:
        widths = [max(len(r[k]) for r in table) for k in range(5)]
        for r in table:
            cells = [r[k].ljust(widths[k]) if k != 3 else r[k].rjust(widths[k])
                     for k in range(5)]
            lines.append(("  " + "  ".join(cells)).rstrip())
    for note in result.notes:
        lines.extend(textwrap.wrap(note, _WIDTH, initial_indent="  note: ",
                                   subsequent_indent="        "))
    return "\n".join(lines)


def render_targets(results: Sequence[SuiteResult]) -> str:
    rows = [(f"{r.name}.{name}", str(t.value), t.describe(), "met" if t.met else "MISSED")
            for r in results for name, t in r.targets.items()]
    if not rows:
        return "== targets: none measured"
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    met = sum(1 for row in rows if row[3] == "met")
    lines = [f"== targets: {met}/{len(rows)} met"]
    lines += ["  " + "  ".join(row[k].ljust(widths[k]) for k in range(4)).rstrip()
              for row in rows]
    return "\n".join(lines)
