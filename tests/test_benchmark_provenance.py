"""A benchmark run names the code it measured: the checkout's commit, and whether tracked
files had changed from it (``meta.source`` in the JSON)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from benchmarks.cli import _meta, _source_text
from benchmarks.provenance import source_revision
from benchmarks.results import JsonObject


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@localhost",
         *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "--quiet")
    (repo / "engine.py").write_text("x = 1\n", encoding="utf-8")
    _git(repo, "add", "engine.py")
    _git(repo, "commit", "--quiet", "-m", "first")
    return repo


def test_a_clean_checkout_gives_its_head_commit(checkout: Path) -> None:
    source = source_revision(checkout)
    assert source == {"commit": _git(checkout, "rev-parse", "HEAD"), "dirty": False, "why": ""}


def test_a_changed_tracked_file_marks_the_run_dirty(checkout: Path) -> None:
    (checkout / "engine.py").write_text("x = 2\n", encoding="utf-8")
    assert source_revision(checkout)["dirty"] is True


def test_untracked_files_such_as_results_do_not_mark_it_dirty(checkout: Path) -> None:
    (checkout / "bench.json").write_text("{}", encoding="utf-8")
    assert source_revision(checkout)["dirty"] is False


def test_outside_a_checkout_the_commit_is_unknown_and_says_why(tmp_path: Path) -> None:
    source = source_revision(tmp_path)
    assert source["commit"] is None and source["dirty"] is None
    assert isinstance(source["why"], str) and "not a git checkout" in source["why"]


def test_without_git_the_commit_is_unknown_and_says_why(
        checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args: object, **kwargs: object) -> None:
        raise FileNotFoundError("git")
    monkeypatch.setattr(subprocess, "run", missing)
    assert source_revision(checkout) == {"commit": None, "dirty": None,
                                         "why": "git is not installed"}


def test_a_run_records_the_checkout_holding_the_measured_package() -> None:
    source = _meta("smoke")["source"]
    assert isinstance(source, dict) and set(source) == {"commit", "dirty", "why"}
    # a commit where the tests run from a checkout; otherwise the reason there is none
    assert ((isinstance(source["commit"], str) and len(source["commit"]) == 40)
            or source["why"])


@pytest.mark.parametrize(("source", "text"), [
    ({"commit": "a" * 40, "dirty": False, "why": ""}, "code at aaaaaaaaaaaa"),
    ({"commit": "a" * 40, "dirty": True, "why": ""},
     "code at aaaaaaaaaaaa + uncommitted changes"),
    ({"commit": None, "dirty": None, "why": "git is not installed"},
     "code revision unknown: git is not installed"),
])
def test_the_closing_line_names_the_code_measured(source: JsonObject, text: str) -> None:
    assert _source_text({"meta": {"source": source}, "suites": {}}) == text
