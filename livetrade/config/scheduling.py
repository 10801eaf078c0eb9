"""The ``[scheduler]`` table and the ``[[schedule]]`` jobs, chosen by their ``type`` tag.

Its own module so calendar-driven triggers are configured in one place, apart from the
engine's tuning and the venues.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from livetrade.config.base import _Section


class SchedulerSection(_Section):
    """``[scheduler]``: how often the live scheduler looks at the clock, the default
    calendar, and where fired triggers are remembered across restarts (``store_dir``;
    default: ``<[state] directory>/scheduler`` when ``[state]`` is set, else nowhere, and a
    restart may then re-fire today's triggers)."""

    poll_interval_s: float = Field(1.0, gt=0)
    default_calendar: str = "NYSE"
    store_dir: Path | None = None


class _JobSection(_Section):
    name: str | None = None
    calendar: str | None = None
    missed: Literal["skip", "fire_once_late"] = "fire_once_late"
    grace_s: float = Field(60.0, ge=0)


class MarketOpenJob(_JobSection):
    """``[[schedule]]`` with ``type = "market_open"``: ``offset_s`` after each open."""

    type: Literal["market_open"]
    offset_s: float = 0.0


class MarketCloseJob(_JobSection):
    """``[[schedule]]`` with ``type = "market_close"``: ``offset_s = -300`` is 5 min before."""

    type: Literal["market_close"]
    offset_s: float = 0.0


class EveryJob(_JobSection):
    """``[[schedule]]`` with ``type = "every"``: every ``interval_s`` (in session or always)."""

    type: Literal["every"]
    interval_s: float = Field(gt=0)
    during: Literal["session", "always"] = "session"


class AtJob(_JobSection):
    """``[[schedule]]`` with ``type = "at"``: every day at ``time`` ("HH:MM") in ``tz``."""

    type: Literal["at"]
    time: str
    tz: str = "UTC"
    trading_days_only: bool = False


ScheduleEntry = Annotated[MarketOpenJob | MarketCloseJob | EveryJob | AtJob,
                          Field(discriminator="type")]
