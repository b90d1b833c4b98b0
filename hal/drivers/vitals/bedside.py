"""medbot bedside-module line protocol (docs/protocols/bedside-module.md): framing and codec.

    $MBV,<seq>,<device>,<type>[,<field>...]*<CRC16>\r\n

CRC16 is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over every byte between `$` and `*`,
written as four uppercase hex digits. A line is at most MAX_LINE bytes of printable ASCII;
fields never contain `$`, `*` or `,`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hal.drivers.vitals import VitalsProtocolError

TALKER = "MBV"
MAX_LINE = 160
DEVICES = ("TEMP", "NIBP", "GLU", "SCALE")
#: host → module: START, CANCEL; module → host: ACK, PROG, RES, ERR, HB
TYPES = ("START", "CANCEL", "ACK", "PROG", "RES", "ERR", "HB")
_FORBIDDEN = set("$*,\r\n")


def crc16_ccitt_false(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


@dataclass(frozen=True, slots=True)
class BedsideLine:
    seq: int
    device: str
    type: str
    fields: tuple[str, ...] = ()

    def field_map(self) -> dict[str, str]:
        """`key=value` fields as a dict (RES lines)."""
        out = {}
        for f in self.fields:
            key, sep, value = f.partition("=")
            if sep:
                out[key] = value
        return out


def encode_line(line: BedsideLine) -> bytes:
    if not 0 <= line.seq <= 0xFFFF:
        raise VitalsProtocolError(f"seq out of range: {line.seq}")
    if line.device not in DEVICES or line.type not in TYPES:
        raise VitalsProtocolError(f"unknown device/type {line.device}/{line.type}")
    for f in line.fields:
        if _FORBIDDEN & set(f) or not f.isascii() or not f.isprintable():
            raise VitalsProtocolError(f"field not allowed in a bedside line: {f!r}")
    body = ",".join((TALKER, str(line.seq), line.device, line.type, *line.fields)).encode("ascii")
    out = b"$" + body + b"*" + f"{crc16_ccitt_false(body):04X}".encode("ascii") + b"\r\n"
    if len(out) > MAX_LINE:
        raise VitalsProtocolError(f"line of {len(out)} bytes exceeds {MAX_LINE}")
    return out


def decode_line(raw: bytes) -> BedsideLine:
    """One line from `$` to LF (inclusive)."""
    if len(raw) > MAX_LINE:
        raise VitalsProtocolError(f"oversized line ({len(raw)} bytes)")
    if not raw.startswith(b"$") or not raw.endswith(b"\r\n"):
        raise VitalsProtocolError("not framed as $...\\r\\n")
    star = raw.rfind(b"*")
    if star < 0 or len(raw) - star != 7:
        raise VitalsProtocolError("missing *CRC16")
    body, crc_text = raw[1:star], raw[star + 1 : -2]
    try:
        crc = int(crc_text.decode("ascii"), 16)
        text = body.decode("ascii")
    except (UnicodeDecodeError, ValueError):
        raise VitalsProtocolError("non-ASCII or bad CRC digits") from None
    if crc != crc16_ccitt_false(body):
        raise VitalsProtocolError("CRC mismatch")
    parts = text.split(",")
    if len(parts) < 4 or parts[0] != TALKER:
        raise VitalsProtocolError("not a $MBV line")
    if not parts[1].isdigit() or int(parts[1]) > 0xFFFF:
        raise VitalsProtocolError(f"bad seq {parts[1][:8]!r}")
    if parts[2] not in DEVICES or parts[3] not in TYPES:
        raise VitalsProtocolError(f"unknown device/type {parts[2][:8]}/{parts[3][:8]}")
    return BedsideLine(int(parts[1]), parts[2], parts[3], tuple(parts[4:]))


class LineSplitter:
    """Bytes → complete lines (`$`..LF). Bytes before a `$` are noise; an over-long line is
    dropped whole (counted), never buffered without bound."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        lines = []
        while True:
            start = self._buf.find(b"$")
            if start < 0:
                self._buf.clear()
                break
            if start:
                del self._buf[:start]
            end = self._buf.find(b"\n")
            nxt = self._buf.find(b"$", 1)
            if 0 <= nxt < (end if end >= 0 else len(self._buf)):
                del self._buf[:nxt]  # a truncated line followed by a new one
                self.dropped += 1
                continue
            if end < 0:
                if len(self._buf) > MAX_LINE:
                    self._buf.clear()
                    self.dropped += 1
                break
            lines.append(bytes(self._buf[: end + 1]))
            del self._buf[: end + 1]
        return lines


def start(seq: int, device: str) -> bytes:
    return encode_line(BedsideLine(seq, device, "START"))


def result_fields(values: Sequence[tuple[str, object]]) -> tuple[str, ...]:
    return tuple(f"{k}={v}" for k, v in values)
