"""ASTM E1381 (CLSI LIS1-A) low level, as a non-blocking state machine on the injected clock.

Sans-I/O: `feed(data)` hands it the bytes read from the port, `poll()` runs its timers,
`take_output()` returns the bytes to write and `take_events()` what happened (a message received,
sent, or given up). Nothing here reads a port, sleeps or blocks.

The rules, as LIS1-A states them:
- Establishment: the sender sends ENQ; the receiver answers ACK (ready) or NAK (busy: the sender
  waits `busy_retry_s`, ~10 s, and tries again). Both sending ENQ is contention: the instrument
  wins; the host stops, answers nothing, and waits at least `contention_wait_s` (20 s) before its
  next ENQ, while the instrument waits 1 s and sends ENQ again.
- Transfer: frames `STX FN text ETB|ETX C1 C2 CR LF`, FN '1'..'7','0','1'... from 1 in each
  transfer; text ≤ 240 characters, a longer record goes out as ETB intermediate frames and an ETX
  last frame; checksum = byte sum of FN..ETB/ETX mod 256 as two uppercase hex digits.
- Each frame is answered: ACK → next frame; NAK (or any character other than ACK/EOT) → the same
  frame again, and after 6 failed transmissions of one frame the sender aborts with EOT;
  EOT → receiver interrupt: the frame is accepted and the sender stops (here: sends EOT; the
  unfinished message is offered again later, whole). The sender waits 15 s for any reply.
- The receiver ACKs a good frame with the expected FN, ACKs-and-ignores a repeat of the last
  frame (its ACK was lost), NAKs anything else; it gives up after 30 s without a frame. EOT ends the
  transfer. Bytes outside a frame (line noise) are ignored.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

STX, ETX, EOT, ENQ, ACK, NAK, ETB, LF, CR = 0x02, 0x03, 0x04, 0x05, 0x06, 0x15, 0x17, 0x0A, 0x0D
MAX_TEXT = 240
#: STX FN text(240) ETB C1 C2 CR LF = 247; anything longer before an LF is not a frame
MAX_FRAME = MAX_TEXT + 7
MAX_TRANSMISSIONS = 6


class Role(enum.StrEnum):
    HOST = "host"  # the computer system: loses contention
    INSTRUMENT = "instrument"


class LinkState(enum.StrEnum):
    IDLE = "idle"  # neutral
    AWAIT_ENQ_REPLY = "await_enq_reply"
    AWAIT_FRAME_REPLY = "await_frame_reply"
    RECEIVING = "receiving"


@dataclass(frozen=True, slots=True)
class MessageReceived:
    records: tuple[str, ...]  # record lines, without CR, in arrival order


@dataclass(frozen=True, slots=True)
class MessageSent:
    message_id: int


@dataclass(frozen=True, slots=True)
class MessageFailed:
    message_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReceiveAborted:
    reason: str


LinkEvent = MessageReceived | MessageSent | MessageFailed | ReceiveAborted


def checksum(body: bytes) -> bytes:
    """Two uppercase hex digits of the byte sum (FN through ETB/ETX) modulo 256."""
    return f"{sum(body) % 256:02X}".encode("ascii")


def build_frame(fn: int, text: bytes, final: bool) -> bytes:
    if len(text) > MAX_TEXT:
        raise ValueError(f"frame text is {len(text)} characters, at most {MAX_TEXT}")
    body = bytes([0x30 + fn % 8]) + text + bytes([ETX if final else ETB])
    return bytes([STX]) + body + checksum(body) + bytes([CR, LF])


def split_record(record: str) -> list[tuple[bytes, bool]]:
    """A record's frame texts: CR-terminated, cut at 240 characters, the last one final (ETX)."""
    data = record.encode("latin-1") + b"\r"
    chunks = [data[i : i + MAX_TEXT] for i in range(0, len(data), MAX_TEXT)]
    return [(chunk, i == len(chunks) - 1) for i, chunk in enumerate(chunks)]


def message_frames(records: list[str] | tuple[str, ...]) -> list[bytes]:
    """Every frame of a message, numbered from 1 and wrapping 7 → 0."""
    frames = []
    fn = 1
    for record in records:
        for text, final in split_record(record):
            frames.append(build_frame(fn, text, final))
            fn = (fn + 1) % 8
    return frames


@dataclass(frozen=True, slots=True)
class ParsedFrame:
    fn: int
    text: bytes
    final: bool


def parse_frame(raw: bytes) -> ParsedFrame | None:
    """A frame from STX to LF, or None if it is malformed or its checksum is wrong."""
    if len(raw) < 7 or len(raw) > MAX_FRAME or raw[0] != STX or raw[-2:] != b"\r\n":
        return None
    end_byte = raw[-5]
    if end_byte not in (ETX, ETB):
        return None
    body = raw[1:-4]
    if raw[-4:-2] != checksum(body):
        return None
    fn_char = body[0]
    if not 0x30 <= fn_char <= 0x37:
        return None
    text = body[1:-1]
    if any(b in (STX, ETX, ETB, EOT, ENQ, ACK, NAK, LF) for b in text):
        return None  # control characters are not allowed inside the text
    return ParsedFrame(fn_char - 0x30, text, end_byte == ETX)


@dataclass
class _Outgoing:
    message_id: int
    records: tuple[str, ...]


class Link:
    """One end of an E1381 link (host or instrument)."""

    def __init__(
        self,
        now_fn: Callable[[], float],
        *,
        role: Role = Role.HOST,
        sender_timeout_s: float = 15.0,
        receiver_timeout_s: float = 30.0,
        busy_retry_s: float = 10.0,
        contention_wait_s: float | None = None,
    ) -> None:
        self._now = now_fn
        self.role = role
        self.sender_timeout_s = sender_timeout_s
        self.receiver_timeout_s = receiver_timeout_s
        self.busy_retry_s = busy_retry_s
        # LIS1-A: the host waits at least 20 s after contention, the instrument at least 1 s.
        self.contention_wait_s = contention_wait_s if contention_wait_s is not None else (
            20.0 if role is Role.HOST else 1.0)
        self.state = LinkState.IDLE
        self.busy = False  # receiver side: answer ENQ with NAK
        self.interrupt_requested = False  # receiver side: answer the next frame with EOT
        self.nak_next_frames = 0  # receiver side: NAK this many good frames (test and emulator knob)
        self._queue: deque[_Outgoing] = deque()
        self._next_id = 1
        self._out = bytearray()
        self._events: list[LinkEvent] = []
        self._deadline_s = float("inf")
        self._not_before_s = float("-inf")
        # sender
        self._frames: list[bytes] = []
        self._frame_index = 0
        self._transmissions = 0
        # receiver
        self._frame_buf: bytearray | None = None
        self._expected_fn = 1
        self._last_fn: int | None = None
        self._partial = bytearray()
        self._records: list[str] = []
        # counters, for health and tests
        self.naks_received = 0
        self.naks_sent = 0
        self.contentions = 0
        self.busy_replies = 0
        self.timeouts = 0
        self.frames_sent = 0

    # -- the API ---------------------------------------------------------------------------------

    def send(self, records: list[str] | tuple[str, ...]) -> int:
        """Queue a message (its record lines, without CR); returns its id for the events."""
        message_id = self._next_id
        self._next_id += 1
        self._queue.append(_Outgoing(message_id, tuple(records)))
        return message_id

    @property
    def pending_messages(self) -> int:
        return len(self._queue)

    @property
    def not_before_s(self) -> float:
        """No ENQ before this time (busy retry or contention hold-off)."""
        return self._not_before_s

    def feed(self, data: bytes) -> None:
        for byte in data:
            if self._on_byte(byte):
                return  # the rest of this chunk predates what we just sent: discard it

    def poll(self) -> None:
        now = self._now()
        if self.state is not LinkState.IDLE and now >= self._deadline_s:
            self._on_timeout()
        if self.state is LinkState.IDLE and self._queue and now >= self._not_before_s:
            self._write(bytes([ENQ]))
            self._enter(LinkState.AWAIT_ENQ_REPLY, self.sender_timeout_s)

    def reset(self) -> None:
        """The line was lost (port gone): drop any transfer in progress without a word on the
        wire; queued messages stay and go out, whole, once the line is back."""
        self._frame_buf, self._partial, self._records = None, bytearray(), []
        self._out.clear()
        self._enter(LinkState.IDLE)

    def take_output(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def take_events(self) -> list[LinkEvent]:
        events, self._events = self._events, []
        return events

    # -- internals -------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self._out += data

    def _enter(self, state: LinkState, timeout_s: float | None = None) -> None:
        self.state = state
        self._deadline_s = self._now() + timeout_s if timeout_s is not None else float("inf")

    def _on_byte(self, byte: int) -> bool:
        """Handle one byte; True when the rest of the chunk must be dropped."""
        state = self.state
        if state is LinkState.IDLE:
            if byte == ENQ:
                self._answer_enq()
            return False  # anything else while neutral is noise
        if state is LinkState.AWAIT_ENQ_REPLY:
            return self._on_enq_reply(byte)
        if state is LinkState.AWAIT_FRAME_REPLY:
            return self._on_frame_reply(byte)
        self._on_receiving_byte(byte)
        return False

    def _answer_enq(self) -> None:
        if self.busy:
            self.busy_replies += 1
            self._write(bytes([NAK]))
            return
        self._write(bytes([ACK]))
        self._expected_fn, self._partial, self._records, self._frame_buf = 1, bytearray(), [], None
        self._last_fn = None
        self._enter(LinkState.RECEIVING, self.receiver_timeout_s)

    # sender ---------------------------------------------------------------------------------------

    def _on_enq_reply(self, byte: int) -> bool:
        now = self._now()
        if byte == ACK:
            head = self._queue[0]
            self._frames = message_frames(head.records)
            self._frame_index = 0
            self._send_frame(first=True)
            return True
        if byte == NAK:  # receiver busy
            self.busy_replies += 1
            self._not_before_s = now + self.busy_retry_s
            self._enter(LinkState.IDLE)
            return True
        if byte == ENQ:  # contention
            # The host yields and answers the instrument's next ENQ; the instrument keeps
            # priority and sends ENQ again after its (1 s) wait. Either way: neutral, held off.
            self.contentions += 1
            self._not_before_s = now + self.contention_wait_s
            self._enter(LinkState.IDLE)
            return True
        return False  # noise: the 15 s timer covers a lost reply

    def _send_frame(self, *, first: bool) -> None:
        if first:
            self._transmissions = 0
        self._transmissions += 1
        self.frames_sent += 1
        self._write(self._frames[self._frame_index])
        self._enter(LinkState.AWAIT_FRAME_REPLY, self.sender_timeout_s)

    def _on_frame_reply(self, byte: int) -> bool:
        head = self._queue[0]
        last = self._frame_index == len(self._frames) - 1
        if byte == ACK or (byte == EOT and last):
            if last:
                self._queue.popleft()
                self._events.append(MessageSent(head.message_id))
                self._terminate()
            else:
                self._frame_index += 1
                self._send_frame(first=True)
            return True
        if byte == EOT:  # receiver interrupt: the frame is accepted, we stop; resend later, whole
            self._terminate(hold_off_s=self.contention_wait_s)
            return True
        # NAK, or any other character, counts as NAK (LIS1-A)
        self.naks_received += 1
        if self._transmissions >= MAX_TRANSMISSIONS:
            self._queue.popleft()
            self._events.append(MessageFailed(head.message_id, f"frame refused {MAX_TRANSMISSIONS} times"))
            self._terminate()
        else:
            self._send_frame(first=False)
        return True

    def _terminate(self, hold_off_s: float = 0.0) -> None:
        self._write(bytes([EOT]))
        self._not_before_s = self._now() + hold_off_s
        self._enter(LinkState.IDLE)

    def _on_timeout(self) -> None:
        self.timeouts += 1
        if self.state is LinkState.RECEIVING:
            self._events.append(ReceiveAborted(f"no frame within {self.receiver_timeout_s:g} s"))
            self._frame_buf = None
            self._enter(LinkState.IDLE)
            return
        head = self._queue[0]
        if self.state is LinkState.AWAIT_FRAME_REPLY:
            self._queue.popleft()
            self._events.append(MessageFailed(head.message_id, f"no reply within {self.sender_timeout_s:g} s"))
        self._terminate(hold_off_s=self.busy_retry_s)

    # receiver -------------------------------------------------------------------------------------

    def _on_receiving_byte(self, byte: int) -> None:
        buf = self._frame_buf
        if buf is None:
            if byte == STX:
                self._frame_buf = bytearray([STX])
            elif byte == EOT:
                self._end_transfer()
            elif byte == ENQ:  # the sender started over (it missed our ACK or gave up)
                self._answer_enq()
            return  # anything else between frames is noise
        if byte == STX:  # a new frame starts: the broken one before it is dropped (the sender resends)
            self._frame_buf = bytearray([STX])
            return
        buf.append(byte)
        if len(buf) > MAX_FRAME:
            self._frame_buf = None
            self._reject()
        elif byte == LF:
            self._frame_buf = None
            self._on_frame(bytes(buf))

    def _reject(self) -> None:
        self.naks_sent += 1
        self._write(bytes([NAK]))

    def _on_frame(self, raw: bytes) -> None:
        frame = parse_frame(raw)
        if frame is None:
            self._reject()
            return
        if frame.fn == self._last_fn:
            self._write(bytes([ACK]))  # a repeat of the last frame: its ACK was lost
            self._deadline_s = self._now() + self.receiver_timeout_s
            return
        if frame.fn != self._expected_fn:
            self._reject()
            return
        if self.nak_next_frames > 0:
            self.nak_next_frames -= 1
            self._reject()
            return
        self._partial += frame.text
        if frame.final:
            for line in bytes(self._partial).split(b"\r"):
                if line:
                    self._records.append(line.decode("latin-1"))
            self._partial = bytearray()
        self._last_fn = frame.fn
        self._expected_fn = (self._expected_fn + 1) % 8
        self._deadline_s = self._now() + self.receiver_timeout_s
        if self.interrupt_requested:
            self.interrupt_requested = False
            self._write(bytes([EOT]))
        else:
            self._write(bytes([ACK]))

    def _end_transfer(self) -> None:
        if self._records:
            self._events.append(MessageReceived(tuple(self._records)))
        self._records, self._partial = [], bytearray()
        self._enter(LinkState.IDLE)
