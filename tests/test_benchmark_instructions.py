"""The instructions suite cuts one callgrind run into phases at each ``os.getppid()``.

These pin the mechanism the suite's figures rest on, with the real valgrind: a dump per
``getppid`` call, holding what ran since the previous one, read back by ``dump_totals``.
No figure is asserted beyond "more work counts more instructions".
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.config import SIZES
from benchmarks.results import JsonObject
from benchmarks.suites import instructions
from benchmarks.suites.instructions import PHASES, CallgrindError, dump_totals

VALGRIND = shutil.which("valgrind")
PHASES_SCRIPT = """
import os
def work(n):
    total = 0
    for i in range(n):
        total += i * i
    return total
os.getppid()
work(1_000)
os.getppid()
work(100_000)
os.getppid()
"""


@pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed")
@pytest.mark.timeout(120)
def test_each_getppid_call_dumps_the_instructions_run_since_the_last(tmp_path: Path) -> None:
    assert VALGRIND is not None
    done = subprocess.run(
        [VALGRIND, "--tool=callgrind", "--dump-before=getppid",
         f"--callgrind-out-file={tmp_path / 'cg.out'}", sys.executable, "-S", "-c",
         PHASES_SCRIPT],
        capture_output=True, text=True, timeout=110, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    totals = dump_totals(tmp_path, "cg.out")
    assert len(totals) == 3  # start-up, the small phase, the large phase (the exit dump
    # is cg.out itself, not numbered)
    _, small, large = totals
    assert 0 < small < large
    assert 50 < large / small < 200  # 100x the loop, give or take the fixed costs


def test_dumps_are_read_in_number_order_and_a_dump_without_totals_is_an_error(
        tmp_path: Path) -> None:
    for number, total in ((10, 3), (2, 2), (1, 1)):
        (tmp_path / f"cg.out.{number}").write_text(
            f"version: 1\nevents: Ir\nsummary: {total}\ntotals: {total}\n", encoding="utf-8")
    (tmp_path / "cg.out").write_text("totals: 99\n", encoding="utf-8")  # the exit dump
    (tmp_path / "cg.out.tmp").write_text("totals: 98\n", encoding="utf-8")
    assert dump_totals(tmp_path, "cg.out") == [1, 2, 3]
    (tmp_path / "cg.out.11").write_text("events: Ir\n", encoding="utf-8")
    with pytest.raises(CallgrindError, match=r"cg\.out\.11"):
        dump_totals(tmp_path, "cg.out")


def _fake_child(totals: list[int], events: int = 1_000, orders: int = 500
                ) -> Callable[[int, str | None, Path], tuple[JsonObject, list[int]]]:
    def child(requested: int, valgrind: str | None, out_dir: Path
              ) -> tuple[JsonObject, list[int]]:
        return {"events": events, "batch": 50, "phases": list(PHASES), "orders": orders}, totals
    return child


def test_each_phase_gets_its_own_dump_divided_by_the_events_the_child_ran(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Dump 1 (start-up) is skipped, dump k+1 is phase k, per event of what the child ran
    (not what was asked); the order path is the order phase minus the tick phase."""
    per_phase = [17_000, 10_000, 9_000, 8_000, 2_000, 3_000, 33_000, 200_000]
    totals = [5_000_000] + [v * 1_000 for v in per_phase]
    monkeypatch.setattr(instructions, "_child", _fake_child(totals))
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/valgrind")
    result = instructions.run(SIZES["full"], lambda line: None)
    assert result.figures["instructions_per_event"] == dict(zip(PHASES, per_phase, strict=True))
    assert result.figures["startup_instructions"] == 5_000_000
    assert result.figures["engine_share_per_tick"] == 33_000 - 10_000
    assert result.figures["instructions_per_order"] == (200_000 - 33_000) * 1_000 // 500
    assert result.figures["events_per_phase"] == 1_000


@pytest.mark.parametrize("extra", [-1, 1])
def test_a_dump_too_many_or_too_few_is_an_error_not_shifted_figures(
        monkeypatch: pytest.MonkeyPatch, extra: int) -> None:
    totals = [1] * (len(PHASES) + 1 + extra)
    monkeypatch.setattr(instructions, "_child", _fake_child(totals))
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/valgrind")
    with pytest.raises(CallgrindError, match="dumps for"):
        instructions.run(SIZES["full"], lambda line: None)


def test_without_valgrind_the_full_mode_reports_the_suite_unavailable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    result = instructions.run(SIZES["full"], lambda line: None)
    assert result.status == "unavailable"
    assert "valgrind" in result.notes[0]
