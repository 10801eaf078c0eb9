"""A websocket feed's timing and limits, and how a feed's config table becomes them.

Separate from the feed itself (:mod:`livetrade.feeds.ws_base`) because the config layer,
the drills and the benchmarks build settings without opening a stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from livetrade.errors import ConfigError
from livetrade.feeds.health import Backoff


@dataclass(frozen=True)
class StreamSettings:
    """Timing and limits of a websocket feed (seconds unless named otherwise).

    ``ping_interval_s`` must exceed ``ping_timeout_s`` (websocket-client's rule); ``0``
    turns client pings off. ``max_message_bytes`` drops larger frames as garbage.
    """

    stale_after_s: float = 10.0
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    resync_timeout_s: float = 5.0
    max_message_bytes: int = 1_000_000
    backoff: Backoff = field(default_factory=Backoff)

    def __post_init__(self) -> None:
        if self.ping_interval_s and self.ping_interval_s <= self.ping_timeout_s:
            raise ValueError("ping_interval_s must exceed ping_timeout_s")
        if min(self.stale_after_s, self.connect_timeout_s, self.resync_timeout_s,
               self.ping_timeout_s) <= 0 or self.max_message_bytes <= 0:
            raise ValueError("timeouts, stale_after_s and max_message_bytes must be > 0")


class StreamSection(Protocol):
    """The timing fields every websocket feed's ``[[feeds]]`` table has."""

    @property
    def stale_after_s(self) -> float: ...

    @property
    def ping_interval_s(self) -> float: ...

    @property
    def ping_timeout_s(self) -> float: ...

    @property
    def connect_timeout_s(self) -> float: ...

    @property
    def resync_timeout_s(self) -> float: ...

    @property
    def max_message_bytes(self) -> int: ...

    @property
    def reconnect_initial_s(self) -> float: ...

    @property
    def reconnect_max_s(self) -> float: ...


def stream_settings(section: StreamSection, feed: str) -> StreamSettings:
    """``StreamSettings`` from a feed's config table; ``ConfigError`` names the feed."""
    try:
        return StreamSettings(
            stale_after_s=section.stale_after_s, ping_interval_s=section.ping_interval_s,
            ping_timeout_s=section.ping_timeout_s, connect_timeout_s=section.connect_timeout_s,
            resync_timeout_s=section.resync_timeout_s,
            max_message_bytes=section.max_message_bytes,
            backoff=Backoff(initial_s=section.reconnect_initial_s,
                            max_s=section.reconnect_max_s))
    except ValueError as exc:
        raise ConfigError(f"feed {feed}: {exc}", [str(exc)]) from exc
