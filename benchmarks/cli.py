"""Command line: ``python -m benchmarks [--quick] [--json out.json] [--only NAME,...]``.

Prints one table section per suite to stdout as each finishes, then the targets; progress
goes to stderr. The JSON file (default ``out/benchmarks.json``) has
``{"meta": {...}, "suites": {name: {..., "targets": {...}}}}``. Exit status: 0, or 1 if a
suite raised (the others still run), 2 for bad arguments. Missed targets do not fail the
run: this is a measurement, not a gate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import livetrade
from benchmarks.config import SIZES, Mode, Sizes
from benchmarks.provenance import source_revision
from benchmarks.registry import BY_NAME, SUITES, Suite
from benchmarks.report import render_suite, render_targets
from benchmarks.results import JsonObject, SuiteResult
from benchmarks.workloads import Progress, engine_logging
from livetrade.engine_types import EngineSettings

DEFAULT_JSON = Path("out") / "benchmarks.json"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="about a minute in total (the full run: ~20 min)")
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--json", metavar="PATH", type=Path, default=DEFAULT_JSON,
                   help=f"where to write the results (default: {DEFAULT_JSON})")
    p.add_argument("--only", metavar="NAME,...", default="",
                   help="comma-separated suites to run: " + ", ".join(s.name for s in SUITES))
    p.add_argument("--list", action="store_true", help="list the suites and exit")
    return p


def _meta(mode: Mode) -> JsonObject:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count() or 0,
        "quick": mode != "full",
        "mode": mode,
        "livetrade_version": livetrade.__version__,
        # the checkout holding the livetrade package that was measured
        "source": source_revision(Path(livetrade.__file__).resolve().parent.parent),
        "switch_interval_s": sys.getswitchinterval(),  # the process's, between engines
        "engine_switch_interval_s": EngineSettings().switch_interval_s,  # while one runs
        "load_average_at_start": [round(x, 2) for x in load],
    }


def _progress_to(stream: TextIO) -> Callable[[str], Progress]:
    def for_suite(name: str) -> Progress:
        def say(message: str) -> None:
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {message}", file=stream, flush=True)
        return say
    return for_suite


def run_suite(suite: Suite, sizes: Sizes, progress: Progress) -> SuiteResult:
    """Run one suite, turning an exception into an ``error`` result. Blocks."""
    if suite.run is None:
        return SuiteResult(suite.name, suite.title, status="unavailable",
                           notes=[suite.unavailable])
    started = time.perf_counter()
    try:
        result = suite.run(sizes, progress)
    except Exception as exc:  # noqa: BLE001 - one broken suite must not hide the others
        result = SuiteResult(suite.name, suite.title, status="error",
                             notes=[f"{type(exc).__name__}: {exc}"])
        result.figures["traceback"] = traceback.format_exc()
    result.elapsed_s = time.perf_counter() - started
    return result


def run(mode: Mode, only: Sequence[str] = (), *, out: TextIO | None = None,
        err: TextIO | None = None) -> tuple[JsonObject, list[SuiteResult]]:
    """Run the selected suites (all if ``only`` is empty); return the JSON and the results.

    Engine logs are rendered into /dev/null at level "warning" for the duration (suites may
    raise the level for a variant); the previous structlog configuration is restored.
    """
    out = out if out is not None else sys.stdout
    progress_for = _progress_to(err if err is not None else sys.stderr)
    sizes = SIZES[mode]
    selected = [s for s in SUITES if not only or s.name in only]
    meta = _meta(mode)
    started = time.perf_counter()
    results: list[SuiteResult] = []
    with engine_logging("warning", "json"):
        for suite in selected:
            progress_for(suite.name)("start")
            result = run_suite(suite, sizes, progress_for(suite.name))
            results.append(result)
            print(render_suite(suite.number, result) + "\n", file=out, flush=True)
    print(render_targets(results), file=out, flush=True)
    meta["elapsed_s"] = round(time.perf_counter() - started, 1)
    meta["threads_left"] = [t.name for t in threading.enumerate()
                            if t is not threading.main_thread()]
    document: JsonObject = {"meta": meta, "suites": {r.name: r.to_json() for r in results}}
    return document, results


def _source_text(document: JsonObject) -> str:
    """``code at <commit>``, ``+ uncommitted changes`` when dirty, or why it is unknown."""
    meta = document["meta"]
    source = meta.get("source") if isinstance(meta, dict) else None
    if not isinstance(source, dict) or not isinstance(source.get("commit"), str):
        why = source.get("why") if isinstance(source, dict) else None
        return f"code revision unknown: {why or 'not recorded'}"
    text = f"code at {str(source['commit'])[:12]}"
    return text + (" + uncommitted changes" if source.get("dirty") else "")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for s in SUITES:
            print(f"{s.number}. {s.name:18} {s.title if s.run else s.unavailable}")
        return 0
    only = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in only if n not in BY_NAME]
    if unknown:
        print(f"error: unknown suite(s) {', '.join(unknown)}; choose from "
              f"{', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    mode: Mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    document, results = run(mode, only)
    path: Path = args.json
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nresults written to {path} ({_source_text(document)})", file=sys.stderr)
    return 1 if any(r.status == "error" for r in results) else 0
