"""Suite 13, instructions: CPU instructions per event, counted by callgrind, not timed.

Why: every other suite reads a clock, and on this workplace's shared VMs the same code
measures up to 2x apart from one window to the next, so a change of 5-10% on the hot path
cannot be told from the noise by timing it. callgrind (valgrind) counts the instructions a
process executes; the count for the same code, inputs and interpreter repeats to within a
fraction of a percent whatever else the machine is doing, so this suite is the one to read
before and after a change to the per-event path. Instructions are not time (cache misses and
GIL hand-offs cost time and no instructions), and the work runs in one thread, so the
threaded suites stay the measure of the targets; this one is the measure of the work.

How: one child process (:mod:`benchmarks.instructions_child`) under
``valgrind --tool=callgrind --dump-before=getppid``; the child calls ``os.getppid()`` between
its phases, so each callgrind dump holds one phase alone (the first: start-up and warm-up).
The baseline is the same bare ``queue.PriorityQueue`` put + get the floor suite times, in
the same process. Counting is for the full mode (``python -m benchmarks --only
instructions``, about 2.5 minutes, most of it the interpreter starting under callgrind); in
quick and smoke mode the child runs without valgrind, which checks the plumbing and the JSON
shape in seconds. Without valgrind on the PATH the full mode reports the suite unavailable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.config import Sizes
from benchmarks.results import JsonObject, JsonValue, Row, SuiteResult
from benchmarks.workloads import Progress

TITLE = "instructions: CPU instructions per event (callgrind), one thread"
PHASES = ("floor", "build_tick", "dispatcher", "mark", "paper_broker", "strategy",
          "engine_tick", "engine_order")
_ROOT = Path(__file__).resolve().parents[2]
_TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)
_LABELS = {
    "floor": "bare PriorityQueue put + get (the floor's queue)",
    "build_tick": "build a trade tick (the feed's share)",
    "dispatcher": "Dispatcher publish + take + dispatch, 1 no-op handler",
    "mark": "Portfolio.on_market_data (mark the book)",
    "paper_broker": "paper broker on_market_data",
    "strategy": "strategy: last price + Portfolio.equity()",
    "engine_tick": "full engine per tick: build, publish, dispatch, mark, paper, strategy",
    "engine_order": "same strategy + a market order every 2nd tick (per tick)",
}


class CallgrindError(RuntimeError):
    """The child under callgrind failed or did not give exactly one dump per phase.

    Raised rather than reported as figures: a missing or extra dump would shift every phase's
    count onto its neighbour's label, silently."""


def dump_totals(directory: Path, base: str) -> list[int]:
    """The ``totals:`` of callgrind's numbered dumps ``base.1``, ``base.2``, ... in order."""
    numbered = sorted(
        (int(p.name.rsplit(".", 1)[1]), p) for p in directory.glob(f"{base}.*")
        if p.name.rsplit(".", 1)[1].isdigit())
    totals = []
    for _, path in numbered:
        match = _TOTALS.search(path.read_text(encoding="utf-8", errors="replace"))
        if match is None:
            raise CallgrindError(f"no totals line in {path.name}")
        totals.append(int(match.group(1)))
    return totals


def _child(events: int, valgrind: str | None, out_dir: Path) -> tuple[JsonObject, list[int]]:
    """Run the child (under callgrind when ``valgrind`` is given): its JSON line and the
    totals of its numbered dumps."""
    command = [sys.executable, "-m", "benchmarks.instructions_child", str(events)]
    if valgrind is not None:
        command = [valgrind, "--tool=callgrind", "--dump-before=getppid",
                   f"--callgrind-out-file={out_dir / 'cg.out'}", *command]
    # A fixed hash seed: string hashes, and with them dict and set probing, are the same in
    # every run, so the counts repeat.
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=os.pathsep.join(
        p for p in (str(_ROOT), os.environ.get("PYTHONPATH", "")) if p))
    done = subprocess.run(command, capture_output=True, text=True, cwd=_ROOT, env=env,
                          timeout=1800, check=False)
    if done.returncode != 0:
        raise CallgrindError(f"child exited {done.returncode}: {done.stderr[-2000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise CallgrindError(f"child printed no result: {done.stdout[-500:]}")
    result: JsonObject = json.loads(lines[-1])
    totals = dump_totals(out_dir, "cg.out") if valgrind is not None else []
    return result, totals


def run(sizes: Sizes, progress: Progress) -> SuiteResult:
    """Count (full mode) or only run (quick, smoke) the child; one row per phase."""
    result = SuiteResult("instructions", TITLE)
    valgrind = shutil.which("valgrind")
    counted = sizes.mode == "full"
    if counted and valgrind is None:
        result.status = "unavailable"
        result.notes.append("valgrind is not on the PATH (Debian/Ubuntu: apt install valgrind)")
        return result
    events = sizes.instructions_events
    progress(f"{'callgrind' if counted else f'plain ({sizes.mode})'} child, "
             f"{events:,} events a phase")
    with tempfile.TemporaryDirectory(prefix="lt-callgrind-") as tmp:
        child, totals = _child(events, valgrind if counted else None, Path(tmp))
    phases = child.get("phases")
    if phases != list(PHASES):
        raise CallgrindError(f"unexpected phases {phases!r}")
    ran = child.get("events")
    if not isinstance(ran, int) or ran <= 0:
        raise CallgrindError(f"the child reported {ran!r} events a phase")
    per_event: dict[str, JsonValue] = dict.fromkeys(PHASES)
    if counted:
        # Numbered dump 1 is start-up and warm-up, then exactly one per phase (the rest, at
        # exit, is the unnumbered file).
        if len(totals) != len(PHASES) + 1:
            raise CallgrindError(f"{len(totals)} dumps for {len(PHASES)} phases: something "
                                 "else called getppid()")
        for name, total in zip(PHASES, totals[1:], strict=True):
            per_event[name] = round(total / ran)
        result.figures["startup_instructions"] = totals[0]
    orders = child.get("orders")
    result.figures.update(callgrind=counted, events_per_phase=ran, orders=orders,
                          instructions_per_event=per_event)
    floor = per_event["floor"]
    for name in PHASES:
        value = per_event[name]
        ratio = (value / floor if isinstance(value, int) and isinstance(floor, int) and floor
                 else None)
        result.rows.append(Row(
            _LABELS[name], f"{value:,}" if isinstance(value, int) else "not counted",
            baseline="" if name == "floor" else "floor put + get", ratio=ratio))
    engine = per_event["engine_tick"]
    build = per_event["build_tick"]
    if isinstance(engine, int) and isinstance(build, int):
        result.figures["engine_share_per_tick"] = engine - build
        result.rows.append(Row("engine's own share per tick (full engine - build)",
                               f"{engine - build:,}", baseline="floor put + get",
                               ratio=(engine - build) / floor if isinstance(floor, int) and floor
                               else None))
    order = per_event["engine_order"]
    if isinstance(order, int) and isinstance(engine, int) and isinstance(orders, int) and orders:
        # the same ticks with and without the orders: the difference is the order path
        per_order = round((order - engine) * ran / orders)
        result.figures["instructions_per_order"] = per_order
        result.rows.append(Row(f"one market order round trip ({orders:,} orders)",
                               f"{per_order:,}", baseline="full engine per tick",
                               ratio=per_order / engine if engine else None))
    result.notes.append(
        "Instructions, not time: repeatable to a fraction of a percent on a busy machine, so "
        "compare runs of this suite before and after a hot-path change; the threaded suites "
        "add what one thread does not have (GIL hand-offs, cache misses across CPUs).")
    if not counted:
        result.notes.append(f"{sizes.mode} mode: the child ran without valgrind; nothing was "
                            "counted (python -m benchmarks --only instructions counts)")
    return result
