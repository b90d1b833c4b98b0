"""Nonin pulse oximeter, serial Data Format #2 (Nonin OEM III module specification).

9600 baud 8N1, 75 frames per second, 25 frames per packet (1/3 s). A frame is five bytes:
`0x01, STATUS, PLETH, DATA, CHECKSUM` where CHECKSUM = (sum of the first four) mod 256.
STATUS: bit 7 always set; bit 6 SNSD sensor disconnected; bit 5 ARTF artifact; bit 4 OOT out of
track; bit 3 SNSA sensor alarm; bit 2 RPRF red and bit 1 GPRF green perfusion (both set: YPRF
yellow); bit 0 SYNC,
set on the first frame of each packet. DATA carries one value per frame position: frame 1 HR MSB
(HR bits 8..7 in bits 1..0), frame 2 HR LSB (bits 6..0), frame 3 SpO2 (bits 6..0), frame 4 the
firmware revision; the other positions (display, fast, beat-to-beat and extended values) are
not used here. HR 511 and SpO2 127 mean "no valid value".
"""

from __future__ import annotations

from dataclasses import dataclass

FRAME_SIZE = 5
FRAMES_PER_PACKET = 25
FRAMES_PER_S = 75.0
START = 0x01
HR_MISSING = 511
SPO2_MISSING = 127
SNSD, ARTF, OOT, SNSA, SYNC = 0x40, 0x20, 0x10, 0x08, 0x01
#: status bits 2..1: 0b01 (bit 1) green = high signal, 0b10 red = low, 0b11 yellow = marginal
PERFUSION = {0b01: "green", 0b10: "red", 0b11: "yellow", 0b00: "none"}


@dataclass(frozen=True, slots=True)
class NoninPacket:
    heart_rate_bpm: int | None
    spo2_percent: int | None
    sensor_disconnected: bool
    artifact: bool
    out_of_track: bool
    sensor_alarm: bool
    perfusion: str
    pleth: tuple[int, ...]

    @property
    def usable(self) -> bool:
        return not (self.sensor_disconnected or self.out_of_track or self.sensor_alarm or self.artifact) and (
            self.heart_rate_bpm is not None and self.spo2_percent is not None)


def frame(status: int, pleth: int, data: int) -> bytes:
    body = bytes([START, 0x80 | status, pleth & 0xFF, data & 0xFF])
    return body + bytes([sum(body) % 256])


def encode_packet(heart_rate_bpm: int | None, spo2_percent: int | None, *, status: int = 0,
                  pleth: tuple[int, ...] = (), revision: int = 0x42) -> bytes:
    """One packet of 25 frames (the emulator's side, and the round-trip tests')."""
    hr = HR_MISSING if heart_rate_bpm is None else max(0, min(HR_MISSING - 1, heart_rate_bpm))
    spo2 = SPO2_MISSING if spo2_percent is None else max(0, min(100, spo2_percent))
    data = [0] * FRAMES_PER_PACKET
    data[0], data[1], data[2], data[3] = (hr >> 7) & 0x03, hr & 0x7F, spo2 & 0x7F, revision
    out = bytearray()
    for i in range(FRAMES_PER_PACKET):
        p = pleth[i] if i < len(pleth) else 128
        out += frame((status & 0x7E) | (SYNC if i == 0 else 0), p, data[i])
    return bytes(out)


class NoninDecoder:
    """Byte stream → packets. Resynchronises on anything that is not a valid frame; a packet is
    only emitted when all 25 frames arrived in order from a SYNC frame."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._frames: list[bytes] = []
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[NoninPacket]:
        self._buf += data
        packets: list[NoninPacket] = []
        buf = self._buf
        i = 0
        while len(buf) - i >= FRAME_SIZE:
            f = bytes(buf[i : i + FRAME_SIZE])
            if f[0] != START or not f[1] & 0x80 or sum(f[:4]) % 256 != f[4]:
                self.bad_frames += 1 if f[0] == START else 0
                i += 1  # slide one byte: resynchronise
                continue
            i += FRAME_SIZE
            if f[1] & SYNC:
                self._frames = [f]
            elif self._frames:
                self._frames.append(f)
            if len(self._frames) == FRAMES_PER_PACKET:
                packets.append(self._decode(self._frames))
                self._frames = []
        del buf[:i]
        if len(buf) > 4 * FRAME_SIZE * FRAMES_PER_PACKET:
            del buf[: -FRAME_SIZE]  # never grow without bound on garbage
        return packets

    @staticmethod
    def _decode(frames: list[bytes]) -> NoninPacket:
        status = frames[-1][1]  # the latest status in the packet
        hr = ((frames[0][3] & 0x03) << 7) | (frames[1][3] & 0x7F)
        spo2 = frames[2][3] & 0x7F
        return NoninPacket(
            heart_rate_bpm=None if hr == HR_MISSING else hr,
            spo2_percent=None if spo2 == SPO2_MISSING or spo2 > 100 else spo2,
            sensor_disconnected=bool(status & SNSD), artifact=bool(status & ARTF),
            out_of_track=bool(status & OOT), sensor_alarm=bool(status & SNSA),
            perfusion=PERFUSION[(status >> 1) & 0x03], pleth=tuple(f[2] for f in frames),
        )
