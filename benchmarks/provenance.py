"""Which code a benchmark run measured: the commit of the livetrade checkout and whether it
had changes not in that commit.

A figure is only worth comparing with another when both name the code they measured, and the
architecture doc cites runs by commit. Recorded in the JSON's ``meta.source``; never a reason
for a run to fail (a wheel install has no checkout, and that is said, not guessed).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from benchmarks.results import JsonObject

_GIT_TIMEOUT_S = 10.0
_CODE_DIRS = ("livetrade/", "benchmarks/")
"""An untracked file here may be imported by the run (a new module), so it makes a run
dirty; untracked files elsewhere (result files, scratch) do not."""


def source_revision(root: Path) -> JsonObject:
    """``{"commit", "dirty", "why"}`` for the git checkout whose top level is ``root``.

    ``commit`` is the full hash of HEAD; ``dirty`` is True when tracked files differ from
    it or an untracked file lies under ``livetrade/`` or ``benchmarks/``. Where there is no
    answer (git missing or failing, ``root`` not the top of a checkout, e.g. an install
    inside some other repository), both are None and ``why`` says which.
    """
    head = _git(root, "rev-parse", "--show-toplevel", "HEAD")
    if isinstance(head, str):
        return _unknown(head)
    if head.returncode != 0:
        return _unknown(f"not a git checkout with a commit: {root} "
                        f"({head.stderr.strip() or 'no HEAD'})")
    lines = head.stdout.split("\n")
    if len(lines) < 2 or Path(lines[0]).resolve() != root.resolve():
        return _unknown(f"{root} is not the top of its git checkout ({lines[0]})")
    commit = lines[1].strip()
    status = _git(root, "status", "--porcelain", "--untracked-files=all")
    if isinstance(status, str) or status.returncode != 0:
        why = status if isinstance(status, str) else status.stderr.strip()
        return {"commit": commit, "dirty": None, "why": f"git status: {why}"}
    return {"commit": commit, "dirty": _dirty(status.stdout), "why": ""}


def _dirty(porcelain: str) -> bool:
    """Whether ``git status --porcelain`` lines show a change the run may have measured."""
    for line in porcelain.splitlines():
        if not line.startswith("?? "):
            return True  # a tracked file changed, staged or not
        if line[3:].strip('"').startswith(_CODE_DIRS):
            return True
    return False


def _unknown(why: str) -> JsonObject:
    return {"commit": None, "dirty": None, "why": why}


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | str:
    """Run git in ``root``, read-only (no optional locks: a commit being made in another
    shell must not fail because a benchmark started), ignoring any ``GIT_*`` variables
    the caller inherited (``GIT_DIR`` from a hook would name another repository).
    The completed process, or why git could not run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_OPTIONAL_LOCKS"] = "0"
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              errors="replace", env=env, timeout=_GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        return "git is not installed"
    except subprocess.TimeoutExpired:
        return f"git took longer than {_GIT_TIMEOUT_S:g} s"
    except OSError as exc:
        return f"git could not run: {type(exc).__name__}: {exc}"
