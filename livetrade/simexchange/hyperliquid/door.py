"""Hyperliquid front door: ``/info`` + ``/exchange`` router, fault replies, ``/ws`` topics."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from livetrade.simexchange.faults import HttpFault
from livetrade.simexchange.hyperliquid import ws
from livetrade.simexchange.hyperliquid.api import HyperliquidApi
from livetrade.simexchange.jsonhttp import HttpReply, HttpRequest
from livetrade.simexchange.perps import DerivativesVenue
from livetrade.simexchange.topic_ws import FrameOutcome
from livetrade.simexchange.venue import VenueListener


class HyperliquidDoor:
    """Everything Hyperliquid-specific the ``DialectExchange`` plugs onto the core."""

    ws_paths: tuple[str, ...] = ws.PATHS

    def __init__(self, venue: DerivativesVenue, wallet: str, server_ms: Callable[[], int],
                 commission_bps: Decimal) -> None:
        self._venue = venue
        self._api = HyperliquidApi(venue, wallet, server_ms, commission_bps)

    def route(self, request: HttpRequest) -> HttpReply:
        return self._api.route(request)

    def fault_reply(self, fault: HttpFault, value: int) -> HttpReply:
        return self._api.fault_reply(fault, value)

    def on_frame(self, path: str, message: str | bytes) -> FrameOutcome:
        return ws.on_frame(path, message)

    def publisher(self, publish: Callable[[dict[str, str]], None]) -> VenueListener:
        return ws.HyperliquidPublisher(self._venue, publish)
