"""A RoboClaw (packet serial) emulator driving a `SimBody`: wheel speed commands become the
body's commanded twist; the body's actual motion becomes encoder counts; the controller's own
serial-timeout watchdog stops the body when no valid packet arrives in time.

Knobs: `error_status` (bits as in the manual), `silent`, `corrupt_replies` (the next N replies
get a wrong CRC), `garbage_probability`. Unknown commands and bad CRCs get no reply, as on the
real controller.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

from hal.clock import Clock
from hal.drivers.roboclaw import (
    ACK,
    CMD_MIXED_SPEED,
    CMD_READ_ENCODERS,
    CMD_READ_ERROR,
    CMD_RESET_ENCODERS,
    CMD_SET_SERIAL_TIMEOUT,
    crc16,
)
from hal.geometry import Twist2D
from sim.body import SimBody
from sim.emulators.pty_device import PtyDevice

#: data bytes that follow each write command
_WRITE_DATA = {CMD_MIXED_SPEED: 8, CMD_SET_SERIAL_TIMEOUT: 1, CMD_RESET_ENCODERS: 0}
_READS = {CMD_READ_ENCODERS, CMD_READ_ERROR}


@dataclass
class RoboClawGeometry:
    wheel_radius_m: float = 0.08
    track_width_m: float = 0.45
    ticks_per_rev: int = 4096
    address: int = 0x80


class RoboClawEmulator:
    def __init__(self, clock: Clock, body: SimBody, rng: np.random.Generator,
                 geometry: RoboClawGeometry | None = None, *, pty: PtyDevice | None = None) -> None:
        self.clock = clock
        self.body = body
        self.rng = rng
        self.geometry = geometry or RoboClawGeometry()
        self.pty = pty or PtyDevice("roboclaw")
        self.error_status = 0
        self.silent = False
        self.corrupt_replies = 0
        self.garbage_probability = 0.0
        self.serial_timeout_s = 0.0  # 0: watchdog off (the controller's default)
        self.watchdog_trips = 0
        self.packets_ok = 0
        self.packets_rejected = 0
        self._buf = bytearray()
        self._ticks = [0.0, 0.0]
        self._last_packet_s = clock.now_s()
        self._last_integrate_s = clock.now_s()

    @property
    def port_url(self) -> str:
        return self.pty.port_path

    @property
    def metres_per_tick(self) -> float:
        g = self.geometry
        return 2.0 * math.pi * g.wheel_radius_m / g.ticks_per_rev

    def close(self) -> None:
        self.pty.close()

    def encoder_counts(self) -> tuple[int, int]:
        self._integrate()
        return int(self._ticks[0]), int(self._ticks[1])

    def service(self, host_wrote: int = 0) -> int:
        self._integrate()
        data = self.pty.read(expect_bytes=host_wrote)
        self._buf += data
        out = bytearray()
        while self._buf:
            consumed, reply = self._parse()
            if consumed == 0:
                break
            del self._buf[:consumed]
            out += reply
        self._watchdog()
        if self.silent or not out:
            return 0
        if self.rng.random() < self.garbage_probability:
            out = bytearray(self.rng.integers(0, 256, size=3, dtype=np.uint8).tobytes()) + out
        return self.pty.write(bytes(out))

    def _watchdog(self) -> None:
        if self.serial_timeout_s > 0 and self.clock.now_s() - self._last_packet_s > self.serial_timeout_s:
            if not self.body.commanded.is_zero:
                self.watchdog_trips += 1
            self.body.commanded = Twist2D.zero()

    def _integrate(self) -> None:
        now_s = self.clock.now_s()
        dt = now_s - self._last_integrate_s
        self._last_integrate_s = now_s
        if dt <= 0:
            return
        v, w = self.body.velocity.linear_mps, self.body.velocity.angular_radps
        half = self.geometry.track_width_m / 2.0
        self._ticks[0] += (v - w * half) * dt / self.metres_per_tick
        self._ticks[1] += (v + w * half) * dt / self.metres_per_tick

    def _parse(self) -> tuple[int, bytes]:
        """(bytes consumed, reply). Resynchronises on garbage one byte at a time."""
        buf = self._buf
        if buf[0] != self.geometry.address:
            return 1, b""
        if len(buf) < 2:
            return 0, b""
        cmd = buf[1]
        n_data = _WRITE_DATA.get(cmd, 0)
        if cmd not in _WRITE_DATA and cmd not in _READS:
            self.packets_rejected += 1
            return 1, b""
        size = 2 + n_data + 2
        if len(buf) < size:
            return 0, b""
        body, crc = bytes(buf[: size - 2]), struct.unpack(">H", buf[size - 2 : size])[0]
        if crc16(body) != crc:
            self.packets_rejected += 1
            return 1, b""  # no reply to a bad CRC; resynchronise from the next byte
        self.packets_ok += 1
        self._last_packet_s = self.clock.now_s()
        if self.silent:
            return size, b""
        return size, self._execute(cmd, body[2:])

    def _execute(self, cmd: int, data: bytes) -> bytes:
        if cmd == CMD_MIXED_SPEED:
            left, right = struct.unpack(">ii", data)
            mpt = self.metres_per_tick
            v = (left + right) / 2.0 * mpt
            w = (right - left) * mpt / self.geometry.track_width_m
            self.body.commanded = Twist2D.zero() if self.error_status & 0xFFFF else Twist2D(v, w)
            return bytes([ACK])
        if cmd == CMD_SET_SERIAL_TIMEOUT:
            self.serial_timeout_s = data[0] / 10.0
            return bytes([ACK])
        if cmd == CMD_RESET_ENCODERS:
            self._ticks = [0.0, 0.0]
            return bytes([ACK])
        if cmd == CMD_READ_ENCODERS:
            left, right = self.encoder_counts()
            payload = struct.pack(">ii", left, right)
        else:
            payload = struct.pack(">I", self.error_status)
        crc = crc16(bytes([self.geometry.address, cmd]) + payload)
        if self.corrupt_replies > 0:
            self.corrupt_replies -= 1
            crc ^= 0x5A5A
        return payload + struct.pack(">H", crc)
