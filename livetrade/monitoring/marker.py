"""Detecting "restarted after an unclean exit": a marker file present while the engine runs.

Why a file: after a crash or ``kill -9`` nothing ran to say so; the only witness the next
start has is what the last one left on disk. The marker is written at start and removed by
any orderly stop; finding it at start means the previous run never stopped.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from livetrade.errors import StateError

_log = structlog.get_logger("livetrade.monitoring")

MARKER_NAME = "engine.running"


class RunMarker:
    """The marker in ``directory``. :meth:`begin` reports a previous unclean exit."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / MARKER_NAME

    def begin(self, started_at: datetime) -> dict[str, Any] | None:
        """Write the marker; return what the previous run wrote if it never removed it."""
        previous: dict[str, Any] | None = None
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                previous = loaded if isinstance(loaded, dict) else {"marker": "unreadable"}
            except (OSError, ValueError) as exc:
                previous = {"marker": f"unreadable: {type(exc).__name__}"}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"pid": os.getpid(),
                                       "started_at": started_at.isoformat()}), "utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StateError(f"cannot write the run marker {self.path}: {exc.strerror}") from exc
        return previous

    def end(self) -> None:
        """An orderly stop: remove the marker."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            _log.error("run_marker_not_removed", path=str(self.path), error=exc.strerror)
