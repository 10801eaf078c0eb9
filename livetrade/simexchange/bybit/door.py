"""Bybit v5 front door: the REST router, fault replies and public websocket topics."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from livetrade.simexchange.bybit import ws
from livetrade.simexchange.bybit.api import BybitApi
from livetrade.simexchange.bybit.auth import BybitSigner
from livetrade.simexchange.faults import HttpFault
from livetrade.simexchange.jsonhttp import HttpReply, HttpRequest
from livetrade.simexchange.perps import DerivativesVenue
from livetrade.simexchange.topic_ws import FrameOutcome
from livetrade.simexchange.venue import VenueListener


class BybitDoor:
    """Everything Bybit-specific the ``DialectExchange`` plugs onto the core."""

    ws_paths: tuple[str, ...] = ws.PATHS

    def __init__(self, venue: DerivativesVenue, api_key: str, api_secret: str,
                 server_ms: Callable[[], int], commission_bps: Decimal) -> None:
        self._venue = venue
        self._api = BybitApi(venue, BybitSigner(api_key, api_secret, server_ms), server_ms,
                             commission_bps)

    def __repr__(self) -> str:
        return "BybitDoor(<credentials hidden>)"

    def route(self, request: HttpRequest) -> HttpReply:
        return self._api.route(request)

    def fault_reply(self, fault: HttpFault, value: int) -> HttpReply:
        return self._api.fault_reply(fault, value)

    def on_frame(self, path: str, message: str | bytes) -> FrameOutcome:
        return ws.on_frame(path, message)

    def publisher(self, publish: Callable[[dict[str, str]], None]) -> VenueListener:
        return ws.BybitPublisher(self._venue, publish)
