"""The secrets drill, bounded (the long form is ``python -m livetrade.drills.secrets``):
with API keys set, neither the key nor the secret appears in logs, state, metrics,
status, CLI output or error messages."""

from __future__ import annotations

from pathlib import Path

from livetrade.drills.secrets import run_drill


def test_keys_appear_nowhere_after_a_run_with_failures_and_a_wrong_secret(
        tmp_path: Path) -> None:
    places = run_drill(tmp_path, seconds=4.0)
    assert {p.name for p in places} >= {"engine logs", "state directory", "/metrics",
                                        "/status", "failed engine output"}
    assert all(p.searched_bytes > 0 for p in places), [(p.name, p.searched_bytes)
                                                       for p in places]
    assert [(p.name, p.hits) for p in places if p.hits] == []


def test_the_search_finds_a_planted_key_even_cut_in_half() -> None:
    from livetrade.drills.secrets import Place, _needles, _search

    needles = _needles("KEY0123456789abcdef", "SECfedcba9876543210")
    place = Place("log")
    _search(place, b'{"event": "x", "header": "KEY01234567"}', needles)
    _search(place, b"...9876543210 trailing", needles)
    assert place.hits == ["key (first half) found", "secret (second half) found"]
