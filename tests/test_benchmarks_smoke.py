"""The benchmark harness runs end to end and writes the JSON shape other tools read.

Runs every suite in the hidden ``--smoke`` mode (tiny sizes, a few seconds in total). The
figures mean nothing at that size, so nothing here asserts a timing: only that each suite
ran, that the document has the agreed shape, and that no benchmark thread was left behind.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import affinity
from benchmarks.cli import main
from benchmarks.registry import SUITES

START_CPUS = os.sched_getaffinity(0) if affinity.supported() else set()
META_KEYS = {"date", "python", "platform", "cpu_count", "quick", "source"}
KEY_FIGURES = {
    "floor": ["throughput_events_per_s", "latency_by_rate_hz"],
    "engine_throughput": ["floor", "variants"],
    "latency": ["by_rate_hz"],
    "overload": ["max_queue_depth", "conflated", "fills_injected", "fills_delivered",
                 "errors_injected", "errors_delivered", "fill_latency", "rss_before_mb",
                 "rss_after_mb"],
    "order_round_trip": ["bare_dispatcher_hop", "engine_logs_filtered"],
    "checkpoints": ["books", "checkpoint_interval_s", "latency_rate_hz"],
    "replay": ["daily_bars", "ticks"],
    "memory": ["rss_warmup_mb", "rss_end_mb", "growth_mb"],
    "hotpath": ["us_per_event"],
    "instructions": ["callgrind", "events_per_phase", "orders", "instructions_per_event"],
}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    capture = pytest.MonkeyPatch()
    buffer = io.StringIO()
    capture.setattr(sys, "stdout", buffer)
    capture.setattr(sys, "stderr", io.StringIO())
    try:
        code = main(["--smoke", "--json", str(out)])
    finally:
        capture.undo()
    return code, json.loads(out.read_text(encoding="utf-8")), buffer.getvalue()


@pytest.mark.timeout(120)
def test_every_suite_runs_and_none_fails(smoke_run: tuple[int, dict[str, Any], str]) -> None:
    code, document, _ = smoke_run
    statuses = {name: suite["status"] for name, suite in document["suites"].items()}
    assert code == 0, statuses
    assert list(document["suites"]) == [s.name for s in SUITES]
    for suite in SUITES:
        expected = "ok" if suite.run is not None else "unavailable"
        assert statuses[suite.name] == expected, document["suites"][suite.name].get("notes")


def test_document_has_meta_and_per_suite_targets(
        smoke_run: tuple[int, dict[str, Any], str]) -> None:
    _, document, _ = smoke_run
    assert set(document) == {"meta", "suites"}
    assert set(document["meta"]) >= META_KEYS
    assert document["meta"]["quick"] is True
    assert isinstance(document["meta"]["cpu_count"], int)
    for suite in document["suites"].values():
        assert isinstance(suite["targets"], dict)
        for target in suite["targets"].values():
            assert {"value", "target", "met"} <= set(target)
            assert isinstance(target["met"], bool)


def test_suites_report_their_key_figures(smoke_run: tuple[int, dict[str, Any], str]) -> None:
    _, document, _ = smoke_run
    for name, keys in KEY_FIGURES.items():
        missing = [k for k in keys if k not in document["suites"][name]]
        assert not missing, (name, missing)
    throughput = document["suites"]["engine_throughput"]
    assert {"value", "target", "met"} <= set(
        throughput["targets"]["full_engine_trusted_1p_ratio_to_floor"])
    variants = throughput["variants"]
    assert variants["full_engine"]["available"] is True
    assert "cells" in variants["full_engine"]
    for name, base in (("full_engine+checkpoint", "full_engine"),
                       ("full_engine+orders+checkpoint", "full_engine+orders")):
        assert variants[name]["available"] is True, name
        assert variants[name]["compare_to"] == base
        for cell in variants[name]["cells"].values():
            assert {"events_per_s", "ratio_to_floor", "ratio_to_compare_to"} <= set(cell)


ISSUE_TARGETS = {
    "engine_throughput": {"full_engine_trusted_1p_ratio_to_floor"},
    "latency": {"p99_us_at_10k_per_s", "sustains_100k_per_s"},
    "memory": {"flat_after_warmup"},
    "stream_latency": {"p99_us_at_1k_frames_per_s", "p99_us_at_10k_frames_per_s"},
}
"""Every target of the benchmark issue (and the story's < 10 ms, on the websocket path)
that the smoke sizes reach is reported as a target
(the 50k/s latency runs only in quick and full mode, the order round trip target needs a
sample; those are named in their suites' code)."""


def test_the_issues_targets_are_reported_as_targets(
        smoke_run: tuple[int, dict[str, Any], str]) -> None:
    suites = smoke_run[1]["suites"]
    for name, targets in ISSUE_TARGETS.items():
        assert targets <= set(suites[name]["targets"]), (name, suites[name]["targets"])


LATENCY_KEYS = {"count", "p50_us", "p99_us", "p999_us", "max_us"}


def test_latency_suite_reports_cpu_per_event_and_the_pinned_run(
        smoke_run: tuple[int, dict[str, Any], str]) -> None:
    """Every paced rate reports CPU per event (process, and on Linux the producer's and
    the dispatcher's threads); at the sustain rate the floor and the engine also run with the
    process on one CPU."""
    suite = smoke_run[1]["suites"]["latency"]
    by_rate = suite["by_rate_hz"]
    linux = affinity.supported()
    for rate, runs in by_rate.items():
        cpu = runs["engine"]["cpu_us_per_event"]
        assert set(cpu) == {"process", "producer", "dispatcher"}, rate
        assert cpu["process"] > 0, rate
        if linux:
            assert cpu["producer"] is not None and cpu["dispatcher"] is not None, rate
        assert runs["floor"]["cpu_us_per_event"]["process"] > 0, rate
    top = by_rate[max(by_rate, key=int)]
    if linux:
        pinned = top["engine_pinned_to_one_cpu"]
        assert top["pinned_cpu"] == affinity.last_cpu()
        assert set(pinned["to_strategy_done"]) == LATENCY_KEYS
        assert pinned["handled"] == pinned["to_strategy_done"]["count"] > 0
        floor_pinned = top["floor_pinned_to_one_cpu"]  # the machine's share of the gain
        assert floor_pinned["cpu_us_per_event"]["process"] > 0
        assert set(floor_pinned["to_consumer_start"]) == LATENCY_KEYS
    assert os.sched_getaffinity(0) == START_CPUS  # the pinned run put the process back
RESTORE_KEYS = {"total_s", "open_s", "start_s", "first_tick_s", "traded"}


def test_checkpoints_suite_reports_cost_impact_and_restore(
        smoke_run: tuple[int, dict[str, Any], str]) -> None:
    suite = smoke_run[1]["suites"]["checkpoints"]
    assert suite["status"] == "ok"
    assert list(suite["books"]) == ["10"]
    book = suite["books"]["10"]
    assert book["book"]["positions"] == 10 and book["book"]["open_orders"] == 10
    checkpoint = book["checkpoint"]
    assert isinstance(checkpoint["size_bytes"], int) and checkpoint["size_bytes"] > 0
    for part in ("capture", "encode", "save", "writer_total", "whole_book_pydantic",
                 "read_validate", "bare_set", "bare_get"):
        assert set(checkpoint[part]) == LATENCY_KEYS, part
        assert checkpoint[part]["count"] == checkpoint["reps"]
    assert set(book["order"]["with_journal"]) == LATENCY_KEYS
    assert set(book["order"]["without_state"]) == LATENCY_KEYS

    impact = book["dispatcher_impact"]
    assert isinstance(impact["p99_impact_ms"], float)
    for run in ("without_checkpoints", "capture_only", "with_checkpoints"):
        assert set(impact[run]["dispatcher"]) == LATENCY_KEYS, run
        assert impact[run]["dispatcher"]["count"] > 0
    assert impact["with_checkpoints"]["checkpoints_captured"] >= 1
    assert impact["without_checkpoints"]["checkpoints_captured"] == 0

    for key in ("restore_clean", "restore_after_kill"):
        pair = book[key]
        assert set(pair["with_state"]) >= RESTORE_KEYS, key
        assert set(pair["without_state"]) >= RESTORE_KEYS, key
        assert pair["with_state"]["traded"] is True
        assert pair["with_state"]["recovery"]["halted"] is False
        assert "recovery" not in pair["without_state"]
    child = book["restore_after_kill"]["child"]
    assert child["killed_by_sigkill"] is True
    for name in ("capture_p99_ms_book_10", "dispatcher_p99_impact_ms_book_10",
                 "restore_after_kill_s_book_10", "restore_clean_s_book_10"):
        assert name in suite["targets"]


def test_table_names_every_suite(smoke_run: tuple[int, dict[str, Any], str]) -> None:
    _, _, table = smoke_run
    for suite in SUITES:
        assert f"== {suite.number}. {suite.name}" in table
    assert "== targets:" in table


def test_no_benchmark_or_engine_thread_is_left_running(
        smoke_run: tuple[int, dict[str, Any], str]) -> None:
    _, document, _ = smoke_run
    leftovers = [n for n in document["meta"]["threads_left"]
                 if n.startswith(("bench-", "livetrade-"))]
    assert leftovers == []


def test_unknown_suite_name_is_refused(tmp_path: Path) -> None:
    assert main(["--smoke", "--only", "nope", "--json", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()
