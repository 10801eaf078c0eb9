"""Settings a config may carry that this version accepts but does not act on.

Why this exists: such a key is accepted so that configs written ahead still load, but nothing
reads it, and a setting ignored in silence is a trap. A trader who sets the venue's
user-data stream (``[broker] ws_url``) expecting fills over a websocket must learn that fills
still come from each order's answer and from polling. ``livetrade config check`` lists these
as warnings, and building an engine from the config logs each one once.
"""

from __future__ import annotations

from livetrade.config.brokers import CCXTBrokerSection
from livetrade.config.model import LiveTradeConfig


def unused_settings(config: LiveTradeConfig) -> list[str]:
    """One line per accepted-but-unused setting: the dotted key, what happens instead, and
    what to do. Empty when the config sets none."""
    notes: list[str] = []
    broker = config.broker
    if isinstance(broker, CCXTBrokerSection) and broker.ws_url is not None:
        notes.append(
            "broker.ws_url: set, but this version does not use the venue's user-data stream; "
            "fills come from each order's answer and from polling every poll_interval_s "
            f"({broker.poll_interval_s:g} s). Remove the key to silence this warning.")
    return notes
