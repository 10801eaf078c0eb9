"""A benchmark run names the code it measured: the checkout's commit, and whether it had
changes not in that commit (``meta.source`` in the JSON, and the closing line)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cli import _meta, _source_text, main
from benchmarks.provenance import source_revision
from benchmarks.results import JsonObject

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@localhost",
         "-c", "commit.gpgsign=false", *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No user or system git config, and no repository above ``tmp_path`` is looked at."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return tmp_path


@pytest.fixture
def checkout(isolated_git: Path) -> Path:
    repo = isolated_git / "repo"
    (repo / "livetrade").mkdir(parents=True)
    _git(repo, "init", "--quiet")
    (repo / "livetrade" / "engine.py").write_text("x = 1\n", encoding="utf-8")
    _git(repo, "add", "livetrade/engine.py")
    _git(repo, "commit", "--quiet", "-m", "first")
    return repo


def test_a_clean_checkout_gives_its_head_commit(checkout: Path) -> None:
    source = source_revision(checkout)
    assert source == {"commit": _git(checkout, "rev-parse", "HEAD"), "dirty": False, "why": ""}


def test_a_changed_tracked_file_marks_the_run_dirty(checkout: Path) -> None:
    (checkout / "livetrade" / "engine.py").write_text("x = 2\n", encoding="utf-8")
    assert source_revision(checkout)["dirty"] is True


def test_a_staged_change_marks_the_run_dirty(checkout: Path) -> None:
    (checkout / "livetrade" / "engine.py").write_text("x = 2\n", encoding="utf-8")
    _git(checkout, "add", "livetrade/engine.py")
    assert source_revision(checkout)["dirty"] is True


def test_an_untracked_module_the_run_may_import_marks_it_dirty(checkout: Path) -> None:
    (checkout / "livetrade" / "new_module.py").write_text("y = 1\n", encoding="utf-8")
    assert source_revision(checkout)["dirty"] is True


def test_untracked_files_outside_the_code_such_as_results_do_not(checkout: Path) -> None:
    (checkout / "out").mkdir()
    (checkout / "out" / "bench.json").write_text("{}", encoding="utf-8")
    assert source_revision(checkout)["dirty"] is False


def test_git_variables_the_caller_inherited_do_not_redirect_it(
        checkout: Path, isolated_git: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = isolated_git / "other"
    other.mkdir()
    _git(other, "init", "--quiet")
    (other / "a.txt").write_text("a", encoding="utf-8")
    _git(other, "add", "a.txt")
    _git(other, "commit", "--quiet", "-m", "other")
    ours = _git(checkout, "rev-parse", "HEAD")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))  # as inside a git hook
    assert _git(checkout, "rev-parse", "HEAD") != ours  # plain git follows GIT_DIR
    assert source_revision(checkout)["commit"] == ours


def test_a_directory_inside_a_checkout_is_not_taken_for_it(checkout: Path) -> None:
    # e.g. a package installed into a virtualenv that lies inside some repository
    source = source_revision(checkout / "livetrade")
    assert source["commit"] is None and source["dirty"] is None
    assert "is not the top of its git checkout" in str(source["why"])


def test_outside_a_checkout_the_commit_is_unknown_and_says_why(isolated_git: Path) -> None:
    source = source_revision(isolated_git)
    assert source["commit"] is None and source["dirty"] is None
    assert "not a git checkout" in str(source["why"])


def test_a_checkout_without_a_commit_is_unknown_too(isolated_git: Path) -> None:
    repo = isolated_git / "empty"
    repo.mkdir()
    _git(repo, "init", "--quiet")
    source = source_revision(repo)
    assert source["commit"] is None and "not a git checkout with a commit" in str(source["why"])


@pytest.mark.parametrize(("error", "why"), [
    (FileNotFoundError("git"), "git is not installed"),
    (subprocess.TimeoutExpired("git", 10.0), "git took longer than 10 s"),
    (PermissionError(13, "Permission denied"),
     "git could not run: PermissionError: [Errno 13] Permission denied"),
])
def test_when_git_cannot_run_the_commit_is_unknown_and_says_why(
        checkout: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, why: str) -> None:
    def failing(*args: object, **kwargs: object) -> None:
        raise error
    monkeypatch.setattr(subprocess, "run", failing)
    assert source_revision(checkout) == {"commit": None, "dirty": None, "why": why}


def test_when_git_status_fails_the_commit_stays_and_dirty_is_unknown(
        checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = subprocess.run

    def status_fails(cmd: list[str], **kwargs: object) -> object:
        if "status" in cmd:
            return subprocess.CompletedProcess(cmd, 128, "", "fatal: index file corrupt")
        return real(cmd, **kwargs)  # type: ignore[call-overload]
    monkeypatch.setattr(subprocess, "run", status_fails)
    source = source_revision(checkout)
    assert source == {"commit": _git(checkout, "rev-parse", "HEAD"), "dirty": None,
                      "why": "git status: fatal: index file corrupt"}


def test_a_run_records_the_checkout_holding_the_measured_package() -> None:
    source = _meta("smoke")["source"]
    assert isinstance(source, dict) and set(source) == {"commit", "dirty", "why"}
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=False)
    if head.returncode == 0:  # the tests run from a checkout: it is this one's HEAD
        assert source["commit"] == head.stdout.strip()
    else:
        assert source["commit"] is None and source["why"]


@pytest.mark.parametrize(("source", "text"), [
    ({"commit": "a" * 40, "dirty": False, "why": ""}, "code at aaaaaaaaaaaa"),
    ({"commit": "a" * 40, "dirty": True, "why": ""},
     "code at aaaaaaaaaaaa + uncommitted changes"),
    ({"commit": None, "dirty": None, "why": "git is not installed"},
     "code revision unknown: git is not installed"),
])
def test_the_closing_line_names_the_code_measured(source: JsonObject, text: str) -> None:
    assert _source_text({"meta": {"source": source}, "suites": {}}) == text


def test_a_run_ends_by_naming_the_code_it_measured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(sys, "stderr", err)
    out = tmp_path / "floor.json"
    assert main(["--smoke", "--only", "floor", "--json", str(out)]) == 0
    last = err.getvalue().strip().splitlines()[-1]
    assert last.startswith(f"results written to {out} (")
    assert "code at " in last or "code revision unknown: " in last
