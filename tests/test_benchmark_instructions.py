"""The instructions suite cuts one callgrind run into phases at each ``os.getppid()``.

These pin the mechanism the suite's figures rest on, with the real valgrind: a dump per
``getppid`` call, holding what ran since the previous one, read back by ``dump_totals``.
No figure is asserted beyond "more work counts more instructions".
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.suites.instructions import CallgrindError, dump_totals

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
