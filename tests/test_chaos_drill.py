"""The chaos drill, bounded for CI: the long form is `python -m livetrade.drills.chaos`
(10 minutes). Run as the command an operator runs, in its own process: the drill
configures logging for itself and starts `livetrade sim-exchange` as a child."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.timeout(180)
def test_quick_storm_sends_nothing_twice_and_the_books_agree(tmp_path: Path) -> None:
    """~35 s of 5xx, dropped responses, 429 bursts, websocket drops and a 6 s outage: zero
    duplicates, every order equal on both sides, breakers opened and closed again, the
    outage sends it to shadow and every trip comes back, no shadow order at the venue,
    market data throughout."""
    done = subprocess.run(
        [sys.executable, "-m", "livetrade.drills.chaos", "--quick", "--json",
         "--workdir", str(tmp_path / "drill")],
        capture_output=True, text=True, timeout=170, check=False)
    assert done.stdout, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["failures"] == [], report
    assert done.returncode == 0
    assert report["duplicates"] == [] and report["mismatches"] == []
    assert report["shadow_at_venue"] == [] and report["shadow_orders"] > 0
    assert report["modes"][0] == ["live", "shadow"] and report["modes"][-1] == ["shadow", "live"]
    assert [p["mode_at_end"] for p in report["phases"] if p["name"] == "outage"] == ["shadow"]
    assert report["breakers"]["orders"]["open"] >= 1
    assert set(report["breakers_final"].values()) == {"closed"}
    assert report["orders"] >= 30 and report["retries"] > 0
    assert all(phase["ticks"] > 0 for phase in report["phases"])
