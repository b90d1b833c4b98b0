"""MLLP framing and the listener over real loopback sockets: blocks split anywhere, junk, oversize
blocks, a failing handler and idle peers cost the connection, never the listener."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from his.mllp import CR, EB, SB, FrameDecoder, FramingError, MllpClient, MllpServer, frame


def test_blocks_split_at_every_byte_boundary_come_out_whole() -> None:
    stream = b"junk" + frame(b"MSH|one\r") + frame(b"MSH|two\r") + b"\r\n"
    for cut in range(len(stream) + 1):
        decoder = FrameDecoder()
        assert decoder.feed(stream[:cut]) + decoder.feed(stream[cut:]) == [b"MSH|one\r", b"MSH|two\r"]
        assert decoder.junk_bytes == 6


def test_an_end_byte_without_cr_still_ends_the_block_and_a_new_start_drops_a_broken_one() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(bytes([SB]) + b"a" + bytes([EB, SB]) + b"b" + bytes([EB, CR])) == [b"a", b"b"]
    assert decoder.feed(bytes([SB]) + b"lost" + bytes([SB]) + b"kept" + bytes([EB, CR])) == [b"kept"]
    assert decoder.broken_blocks == 1


def test_an_oversized_block_raises_and_framing_refuses_control_bytes() -> None:
    decoder = FrameDecoder(max_message_bytes=10)
    with pytest.raises(FramingError, match="over 10 bytes"):
        decoder.feed(bytes([SB]) + b"x" * 11)
    with pytest.raises(FramingError):
        frame(b"a" + bytes([EB]))


@pytest.fixture
def echo() -> Iterator[MllpServer]:
    def handler(block: bytes) -> bytes:
        if block.startswith(b"BOOM"):
            raise RuntimeError("a bug")
        return b"ACK:" + block

    server = MllpServer(handler, "127.0.0.1", 0, idle_timeout_s=0.5, frame_timeout_s=0.5, max_message_bytes=1000,
                        max_connections=4)
    server.start()
    yield server
    server.stop()


def _closed_within(sock: socket.socket, timeout_s: float) -> bool:
    sock.settimeout(timeout_s)
    try:
        return sock.recv(100) == b""
    except TimeoutError:
        return False


def test_each_block_is_answered_in_order_on_one_connection(echo: MllpServer) -> None:
    with MllpClient("127.0.0.1", echo.port, reply_timeout_s=5) as client:
        assert [client.send(f"m{i}".encode()) for i in range(20)] == [f"ACK:m{i}".encode() for i in range(20)]
    assert echo.stats.messages == echo.stats.replies == 20


def test_hostile_peers_cost_their_connection_and_the_listener_keeps_serving(echo: MllpServer) -> None:
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as big:
        big.sendall(bytes([SB]) + b"x" * 2000)
        assert _closed_within(big, 5)
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as boom:
        boom.sendall(frame(b"BOOM"))
        assert _closed_within(boom, 5)
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as half:
        half.sendall(bytes([SB]) + b"never ends")
        started = time.monotonic()
        assert _closed_within(half, 5) and time.monotonic() - started < 3
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as idle:
        assert _closed_within(idle, 5)
    with MllpClient("127.0.0.1", echo.port, reply_timeout_s=5) as client:
        assert client.send(b"still here") == b"ACK:still here"
    assert echo.stats.framing_errors == 1 and echo.stats.handler_errors == 1 and echo.stats.timeouts >= 2


def test_connections_beyond_the_limit_are_refused(echo: MllpServer) -> None:
    clients = [MllpClient("127.0.0.1", echo.port, reply_timeout_s=5) for _ in range(4)]
    for c in clients:
        assert c.send(b"hi") == b"ACK:hi"
    with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as extra:
        assert _closed_within(extra, 5)
    for c in clients:
        c.close()
    assert echo.stats.refused_connections == 1
