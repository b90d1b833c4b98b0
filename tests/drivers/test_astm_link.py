"""ASTM E1381 low level: each rule, against a scripted instrument over a real pseudo-terminal."""

from __future__ import annotations

import pytest
from ptypeer import LinkOverPty, ScriptedPeer

from hal.clock import SimClock
from hal.drivers.astm.link import (
    ACK,
    ENQ,
    EOT,
    ETB,
    ETX,
    NAK,
    STX,
    Link,
    LinkState,
    MessageFailed,
    MessageReceived,
    MessageSent,
    ReceiveAborted,
    Role,
    build_frame,
    checksum,
    message_frames,
    parse_frame,
)

A, N, E, Q = bytes([ACK]), bytes([NAK]), bytes([EOT]), bytes([ENQ])


def frames_in(data: bytes) -> list[bytes]:
    out, start = [], None
    for i, b in enumerate(data):
        if b == STX:
            start = i
        elif b == 0x0A and start is not None:
            out.append(data[start : i + 1])
            start = None
    return out


def ack_everything(data: bytes) -> bytes:
    return A * (data.count(ENQ) + len(frames_in(data)))


def test_checksum_is_the_byte_sum_from_fn_through_etx_modulo_256_in_uppercase_hex() -> None:
    frame = build_frame(1, b"L|1|N\r", final=True)
    body = b"1L|1|N\r\x03"
    assert checksum(body) == f"{sum(body) % 256:02X}".encode()
    assert frame == b"\x02" + body + checksum(body) + b"\r\n"
    assert parse_frame(frame) is not None
    bad = frame[:-4] + (b"00" if frame[-4:-2] != b"00" else b"01") + b"\r\n"
    assert parse_frame(bad) is None


def test_receiver_naks_a_wrong_checksum_and_acks_the_good_resend(clock: SimClock, peer: ScriptedPeer) -> None:
    host = LinkOverPty(peer, clock)
    good = build_frame(1, b"H|\\^&\r", final=True)
    peer.outbox += Q
    host.step()
    assert peer.received == bytearray()
    host.step()
    assert peer.received.endswith(A)
    peer.outbox += good[:-4] + b"ZZ\r\n"
    host.step()
    host.step()
    assert peer.received.endswith(N)
    peer.outbox += good
    host.step()
    host.step()
    assert peer.received.endswith(A)
    peer.outbox += E
    host.step()
    host.step()
    assert host.events == [MessageReceived(("H|\\^&",))]
    host.close()


def test_frame_numbers_start_at_1_and_wrap_7_to_0(clock: SimClock, peer: ScriptedPeer) -> None:
    peer.respond = ack_everything
    host = LinkOverPty(peer, clock)
    host.link.send([f"C|{i}|x" for i in range(1, 11)])
    for _ in range(30):
        host.step(0.1)
    fns = [f[1] - 0x30 for f in frames_in(bytes(peer.received))]
    assert fns == [1, 2, 3, 4, 5, 6, 7, 0, 1, 2]
    assert MessageSent(1) in host.events
    host.close()


def test_a_record_over_240_characters_goes_out_as_etb_frames_and_is_reassembled(clock: SimClock) -> None:
    record = "C|1|I|" + "x" * 600 + "|G"
    frames = message_frames([record])
    parsed = [parse_frame(f) for f in frames]
    assert [len(p.text) for p in parsed if p] == [240, 240, len(record) + 1 - 480]
    assert [f[-5] for f in frames] == [ETB, ETB, ETX]
    # and a receiver over the pty puts it back together
    receiving_peer = ScriptedPeer()
    host = LinkOverPty(receiving_peer, clock)
    receiving_peer.outbox += Q
    host.step()
    for frame in frames:
        receiving_peer.outbox += frame
        host.step()
    receiving_peer.outbox += E
    host.step()
    host.step()
    assert host.events == [MessageReceived((record,))]
    receiving_peer.close()
    host.close()


def nak_n_times(n: int) -> tuple[list[int], object]:
    count = [0]

    def respond(data: bytes) -> bytes:
        out = A * data.count(ENQ)
        for _ in frames_in(data):
            count[0] += 1
            out += N if count[0] <= n else A
        return out

    return count, respond


def test_a_naked_frame_is_resent_and_five_naks_still_deliver(clock: SimClock, peer: ScriptedPeer) -> None:
    _count, respond = nak_n_times(5)
    peer.respond = respond  # type: ignore[assignment]
    host = LinkOverPty(peer, clock)
    host.link.send(["L|1|N"])
    for _ in range(12):
        host.step(0.1)
    sent = frames_in(bytes(peer.received))
    assert len(sent) == 6 and len(set(sent)) == 1  # the same frame, six transmissions
    assert host.events == [MessageSent(1)]
    host.close()


def test_after_six_naks_of_one_frame_the_sender_gives_up_with_eot(clock: SimClock, peer: ScriptedPeer) -> None:
    _count, respond = nak_n_times(10**6)
    peer.respond = respond  # type: ignore[assignment]
    host = LinkOverPty(peer, clock)
    host.link.send(["L|1|N"])
    for _ in range(12):
        host.step(0.1)
    assert len(frames_in(bytes(peer.received))) == 6
    assert peer.received.endswith(E)
    assert host.events == [MessageFailed(1, "frame refused 6 times")]
    assert host.link.state is LinkState.IDLE
    host.close()


def test_a_busy_nak_to_enq_is_retried_after_10_s(clock: SimClock, peer: ScriptedPeer) -> None:
    replies = [N, A]
    peer.respond = lambda data: (replies.pop(0) if replies else A) if ENQ in data else A * len(frames_in(data))
    host = LinkOverPty(peer, clock)
    host.link.send(["L|1|N"])
    host.step()
    host.step()  # NAK arrives
    assert host.link.busy_replies == 1
    for _ in range(99):  # 9.9 s: no new ENQ yet
        host.step(0.1)
    assert peer.received.count(ENQ) == 1
    for _ in range(5):
        host.step(0.1)
    assert peer.received.count(ENQ) == 2
    for _ in range(5):
        host.step(0.1)
    assert host.events == [MessageSent(1)]
    host.close()


def test_contention_the_instrument_wins_and_the_host_waits_20_s(clock: SimClock, peer: ScriptedPeer) -> None:
    state = {"contended": False}

    def respond(data: bytes) -> bytes:
        if ENQ in data and not state["contended"]:
            state["contended"] = True
            return Q  # both sent ENQ at once
        return A * (data.count(ENQ) + len(frames_in(data)))

    peer.respond = respond
    host = LinkOverPty(peer, clock)
    host.link.send(["L|1|N"])
    host.step()
    host.step()
    assert host.link.contentions == 1 and host.link.state is LinkState.IDLE
    # the host stays quiet; the instrument sends ENQ again after 1 s and gets ACK
    host.step(1.0)
    peer.outbox += Q
    host.step(0.1)
    host.step(0.1)
    assert peer.received.endswith(A) and host.link.state is LinkState.RECEIVING
    peer.outbox += build_frame(1, b"L|1|N\r", final=True) + E
    host.step(0.1)
    host.step(0.1)
    assert MessageReceived(("L|1|N",)) in host.events
    enqs_before = peer.received.count(ENQ)
    while clock.now_s() < host.link.not_before_s - 0.05:
        host.step(0.1)
        assert peer.received.count(ENQ) == enqs_before  # no ENQ within 20 s of the contention
    for _ in range(3):
        host.step(0.1)
    assert peer.received.count(ENQ) == enqs_before + 1
    host.close()


def test_instrument_role_resends_enq_after_1_s_on_contention() -> None:
    clock = SimClock()
    link = Link(clock.now_s, role=Role.INSTRUMENT)
    link.send(["L|1|N"])
    link.poll()
    assert link.take_output() == Q
    link.feed(Q)
    clock.advance(0.9)
    link.poll()
    assert link.take_output() == b""
    clock.advance(0.2)
    link.poll()
    assert link.take_output() == Q


def test_sender_gives_up_after_15_s_without_a_reply(clock: SimClock, peer: ScriptedPeer) -> None:
    peer.respond = lambda data: A if ENQ in data else b""  # accepts, then never answers a frame
    host = LinkOverPty(peer, clock)
    host.link.send(["L|1|N"])
    host.step()
    host.step()
    for _ in range(149):
        host.step(0.1)
    assert host.events == []
    host.step(0.2)
    assert host.events == [MessageFailed(1, "no reply within 15 s")]
    host.step()
    assert peer.received.endswith(E)
    host.close()


def test_receiver_gives_up_after_30_s_without_a_frame(clock: SimClock, peer: ScriptedPeer) -> None:
    host = LinkOverPty(peer, clock)
    peer.outbox += Q
    host.step()
    host.step()
    assert host.link.state is LinkState.RECEIVING
    host.step(29.9)
    assert host.link.state is LinkState.RECEIVING
    host.step(0.2)
    assert host.link.state is LinkState.IDLE
    assert host.events == [ReceiveAborted("no frame within 30 s")]
    host.close()


def test_receiver_interrupt_both_ways(clock: SimClock, peer: ScriptedPeer) -> None:
    # the host, sending, is interrupted: it stops with EOT and offers the message again later
    peer.respond = lambda data: A * data.count(ENQ) + (E if frames_in(data) else b"")
    host = LinkOverPty(peer, clock)
    host.link.send(["H|\\^&", "L|1|N"])
    for _ in range(4):
        host.step(0.1)
    assert len(frames_in(bytes(peer.received))) == 1 and peer.received.endswith(E)
    assert host.link.pending_messages == 1 and host.events == []
    # the host, receiving, interrupts: EOT instead of ACK
    host.link.interrupt_requested = True
    peer.respond = lambda data: b""
    peer.outbox += Q
    host.step()
    host.step()
    peer.outbox += build_frame(1, b"H|\\^&\r", final=True)
    host.step()
    host.step()
    assert peer.received.endswith(E)
    host.close()


def test_noise_between_frames_is_ignored_and_a_repeated_frame_acked_once(
    clock: SimClock, peer: ScriptedPeer
) -> None:
    host = LinkOverPty(peer, clock)
    f1 = build_frame(1, b"H|\\^&\r", final=True)
    f2 = build_frame(2, b"L|1|N\r", final=True)
    for chunk in (Q, b"zz\x00\xff", f1, b"#noise#", f1, f2, build_frame(4, b"x\r", final=True), E):
        peer.outbox += chunk
        host.step()
    host.step()
    assert host.events == [MessageReceived(("H|\\^&", "L|1|N"))]
    assert host.link.naks_sent == 1  # the out-of-order frame 4


def test_an_oversized_frame_is_refused(clock: SimClock, peer: ScriptedPeer) -> None:
    host = LinkOverPty(peer, clock)
    peer.outbox += Q
    host.step()
    host.step()
    peer.outbox += bytes([STX]) + b"1" + b"x" * 400
    host.step()
    host.step()
    assert peer.received.endswith(N)
    host.close()


@pytest.mark.parametrize("fn", [1, 7, 0])
def test_build_and_parse_agree(fn: int) -> None:
    parsed = parse_frame(build_frame(fn, b"R|1|^^^GLU|5.4\r", final=False))
    assert parsed is not None and parsed.fn == fn and not parsed.final
