"""ReadAheadSocket: one kernel read serves many small reads, in order, losing nothing.

Real socket pairs; the websocket-level behaviour (frames that arrive together are all
delivered, with nothing after them) is in test_feed_stream.py.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livetrade.feeds.read_ahead import ReadAheadSocket


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, peer = socket.socketpair()
    ours.settimeout(2.0)
    try:
        yield ours, peer
    finally:
        ours.close()
        peer.close()


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=20),
       sizes=st.lists(st.integers(1, 70), min_size=1, max_size=30),
       chunk=st.integers(1, 128))
def test_reads_of_any_sizes_return_every_byte_once_in_order(
        chunks: list[bytes], sizes: list[int], chunk: int) -> None:
    ours, peer = socket.socketpair()
    ours.settimeout(2.0)
    try:
        for piece in chunks:
            peer.sendall(piece)
        peer.shutdown(socket.SHUT_WR)
        reader = ReadAheadSocket(ours, chunk=chunk)
        got = bytearray()
        k = 0
        while True:
            size = sizes[k % len(sizes)]
            k += 1
            data = reader.recv(size)
            assert len(data) <= size
            if not data:
                break
            got += data
        assert bytes(got) == b"".join(chunks)
        assert reader.pending() == 0
    finally:
        ours.close()
        peer.close()


def test_held_bytes_are_pending_and_served_after_the_peer_closed(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    reader = ReadAheadSocket(ours)
    assert reader.pending() == 0
    peer.sendall(b"0123456789")
    peer.close()
    assert reader.recv(2) == b"01"  # one kernel read took all ten
    assert reader.pending() == 8
    assert reader.recv(3) == b"234"
    assert reader.recv(100) == b"56789"  # what is held, even though more was asked for
    assert reader.pending() == 0
    assert reader.recv(100) == b""  # then the end of the stream, from the socket


def test_a_timeout_reaches_the_caller_only_once_nothing_is_held(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    ours.settimeout(0.05)
    reader = ReadAheadSocket(ours)
    peer.sendall(b"abcd")
    assert reader.recv(2) == b"ab"
    assert reader.recv(2) == b"cd"
    with pytest.raises(TimeoutError):
        reader.recv(2)
    peer.sendall(b"ef")  # and the socket is still usable after it
    assert reader.recv(2) == b"ef"


def test_everything_but_recv_and_pending_is_the_wrapped_socket(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = pair
    reader = ReadAheadSocket(ours)
    assert reader.fileno() == ours.fileno()
    assert reader.gettimeout() == 2.0
    reader.sendall(b"ping")
    assert peer.recv(4) == b"ping"
    reader.settimeout(1.5)
    assert ours.gettimeout() == 1.5


class _TlsLike:
    """A socket with decrypted bytes of its own (what ``ssl.SSLSocket.pending`` reports)."""

    def __init__(self) -> None:
        self.decrypted = 0

    def pending(self) -> int:
        return self.decrypted

    def gettimeout(self) -> float | None:
        return None

    def recv(self, bufsize: int) -> bytes:
        raise AssertionError("not read in this test")


def test_pending_includes_what_a_tls_socket_has_decrypted() -> None:
    tls = _TlsLike()
    reader = ReadAheadSocket(tls)  # type: ignore[arg-type]  # duck-typed like SSLSocket
    assert reader.pending() == 0
    tls.decrypted = 37
    assert reader.pending() == 37


def test_a_read_ahead_size_that_reads_nothing_is_refused(
        pair: tuple[socket.socket, socket.socket]) -> None:
    with pytest.raises(ValueError, match="chunk must be positive"):
        ReadAheadSocket(pair[0], chunk=0)
