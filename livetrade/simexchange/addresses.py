"""Where a running simulator answers: shared by every front door (Binance and the dialects).

Why a mixin: each front door owns its own HTTP and stream servers, but the addresses it
prints, the admin URL and the context-manager protocol are the same for all of them.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self


class ServedAddresses:
    """``rest_url``/``ws_url``/``admin_url`` and ``with`` support.

    The subclass provides ``config.host``, the bound ``port`` and ``ws_port``,
    ``start()`` returning itself and ``stop()``.
    """

    config: Any

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def ws_port(self) -> int:
        raise NotImplementedError

    @property
    def rest_url(self) -> str:
        return f"http://{url_host(self.config.host)}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{url_host(self.config.host)}:{self.ws_port}"

    @property
    def admin_url(self) -> str:
        return self.rest_url + "/admin"


def url_host(host: str) -> str:
    """``host`` as it goes in a URL (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host else host
