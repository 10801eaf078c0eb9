"""The TWS API wire format: 4-byte big-endian length, then ``\\0``-terminated text fields.

Plain blocking sockets (no asyncio): the peer runs one thread per client connection.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from decimal import Decimal

Field = str | int | Decimal | bool | None


class PeerClosed(Exception):
    """The client closed the socket (or we did): the session is over."""


def _text(value: Field) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    return str(value)


def encode(fields: Iterable[Field]) -> bytes:
    """One framed message from its fields."""
    body = b"".join(_text(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(body)) + body


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise PeerClosed("client closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_handshake(sock: socket.socket) -> str:
    """Read ``API\\0`` plus the framed version range (``v157..176``); return the range."""
    magic = _read_exactly(sock, 4)
    if magic != b"API\0":
        raise PeerClosed(f"not a TWS API client (got {magic!r})")
    return read_frame(sock)[0]


def read_frame(sock: socket.socket) -> list[str]:
    """The fields of the next framed message."""
    (size,) = struct.unpack(">I", _read_exactly(sock, 4))
    text = _read_exactly(sock, size).decode(errors="backslashreplace")
    fields = text.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


def to_decimal(text: str) -> Decimal:
    """A client's number field (``"10.0"``, ``""``, ``"1.7976931348623157e+308"``)."""
    if not text:
        return Decimal(0)
    value = Decimal(text)
    return value if value.is_finite() and value.adjusted() < 300 else Decimal(0)
