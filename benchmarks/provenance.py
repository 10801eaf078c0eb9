"""Which code a benchmark run measured: the commit of the livetrade checkout and whether it
had uncommitted changes.

A figure is only worth comparing with another when both name the code they measured, and the
architecture doc cites runs by commit. Recorded in the JSON's ``meta.source``; never a reason
for a run to fail (a wheel install has no checkout, and that is said, not guessed).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from benchmarks.results import JsonObject

_GIT_TIMEOUT_S = 10.0


def source_revision(root: Path) -> JsonObject:
    """``{"commit", "dirty", "why"}`` for the git checkout at ``root``.

    ``commit`` is the full hash of HEAD; ``dirty`` is True when tracked files differ from
    it (untracked files, such as result files, do not count). Where there is no answer
    (git missing, ``root`` not in a checkout), both are None and ``why`` says which.
    """
    head = _git(root, "rev-parse", "HEAD")
    if isinstance(head, str):
        return {"commit": None, "dirty": None, "why": head}
    if head.returncode != 0:
        return {"commit": None, "dirty": None,
                "why": f"not a git checkout: {root} ({head.stderr.strip() or 'no HEAD'})"}
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    if isinstance(status, str) or status.returncode != 0:
        why = status if isinstance(status, str) else status.stderr.strip()
        return {"commit": head.stdout.strip(), "dirty": None, "why": f"git status: {why}"}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip()), "why": ""}


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | str:
    """Run git in ``root``; the completed process, or why it could not run."""
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        return "git is not installed"
    except subprocess.TimeoutExpired:
        return f"git took longer than {_GIT_TIMEOUT_S:g} s"
