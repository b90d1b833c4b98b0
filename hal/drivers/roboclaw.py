"""Differential drive base on a Basicmicro RoboClaw motor controller, packet serial mode.

Protocol (RoboClaw user manual, "Packet Serial"): a packet is `address, command, data...,
CRC16` with the CRC (CCITT, polynomial 0x1021, initial 0, most significant byte first) over every
byte before it. A write is acknowledged by a single 0xFF; a packet with a bad CRC gets no reply.
A read's reply is `data..., CRC16` where the CRC covers the address and command sent plus the
data received. Numbers are big-endian.

Commands used: 37 drive M1/M2 with signed speed (quadrature pulses per second, 4 bytes each),
78 read both encoder counters (2 × 4 bytes, signed), 90 read error status (4 bytes), 20 reset
encoders, 14 set the serial timeout (tenths of a second: the controller's own watchdog, which stops
the motors when no valid packet arrives in time). M1 is the left wheel, M2 the right.

Every transaction waits at most `reply_timeout_s` (wall time, an I/O bound of milliseconds).
`command_velocity()` and `odometry()` never raise a link error into the tick: the last good
odometry is returned, health says what is wrong, and a silent controller is retried every
`retry_period_s` on the injected clock rather than on every tick.
"""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Callable

from serial import serial_for_url

from hal.clock import Clock
from hal.device import DeviceError, DeviceFault, DeviceHealth, DeviceTimeout, HealthStatus
from hal.drive_base import DriveBase, Odometry
from hal.drivers.serial_port import Opener, Pump, SerialPort, SerialPortError
from hal.geometry import Pose2D, Twist2D, wrap_angle_rad
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry

CMD_SET_SERIAL_TIMEOUT = 14
CMD_RESET_ENCODERS = 20
CMD_MIXED_SPEED = 37
CMD_READ_ENCODERS = 78
CMD_READ_ERROR = 90
ACK = 0xFF

#: error-status bits the manual documents as errors (the higher bits are warnings)
ERROR_BITS = {
    0x0001: "e-stop",
    0x0002: "temperature error",
    0x0004: "temperature 2 error",
    0x0008: "main battery high",
    0x0010: "logic battery high",
    0x0020: "logic battery low",
    0x0040: "M1 driver fault",
    0x0080: "M2 driver fault",
    0x0100: "M1 speed error",
    0x0200: "M2 speed error",
    0x0400: "M1 position error",
    0x0800: "M2 position error",
    0x1000: "M1 current error",
    0x2000: "M2 current error",
}


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC16-CCITT (XModem variant: poly 0x1021, init 0, no reflection), as the manual gives it."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def packet(address: int, command: int, data: bytes = b"") -> bytes:
    body = bytes([address, command]) + data
    return body + struct.pack(">H", crc16(body))


def check_reply(address: int, command: int, reply: bytes) -> bytes:
    """The data of a read reply, or RoboClawCrcError."""
    if len(reply) < 2:
        raise RoboClawCrcError("roboclaw", "short reply")
    data, crc = reply[:-2], struct.unpack(">H", reply[-2:])[0]
    if crc16(bytes([address, command]) + data) != crc:
        raise RoboClawCrcError("roboclaw", f"reply CRC mismatch for command {command}")
    return data


def describe_errors(status: int) -> list[str]:
    return [name for bit, name in ERROR_BITS.items() if status & bit]


class RoboClawError(DeviceError):
    """Base of the RoboClaw driver's errors."""


class RoboClawCrcError(RoboClawError):
    """A reply whose CRC does not match (line noise, a second master on the bus)."""


class RoboClawTimeout(RoboClawError, DeviceTimeout):
    """No (complete) reply within the reply timeout."""


class RoboClawFault(RoboClawError, DeviceFault):
    """The controller reports an error in its status."""


class RoboClawConfig(DeviceConfig):
    port: str
    address: int = 0x80
    baudrate: int = 38400
    wheel_radius_m: float = 0.08
    track_width_m: float = 0.45
    ticks_per_rev: int = 4096
    max_speed_mps: float = 1.0
    max_angular_radps: float = 1.5
    serial_timeout_s: float = 0.5  # the controller's watchdog (0.1 s steps, 0..25.5 s)
    reply_timeout_s: float = 0.02
    retry_period_s: float = 1.0
    status_period_s: float = 1.0
    write_timeout_s: float = 0.2


class RoboClawDriveBase(DriveBase):
    def __init__(self, name: str, clock: Clock, config: RoboClawConfig, *, opener: Opener | None = None,
                 pump: Pump | None = None) -> None:
        super().__init__(name, clock)
        self.config = config
        self.port = SerialPort(name, config.port, clock, baudrate=config.baudrate,
                               write_timeout_s=config.write_timeout_s, pump=pump, opener=opener or serial_for_url)
        self._commanded = Twist2D.zero()
        self._pose = Pose2D(0.0, 0.0, 0.0)
        self._velocity = Twist2D.zero()
        self._distance_m = 0.0
        self._stamp_s = clock.now_s()
        self._last_ticks: tuple[int, int] | None = None
        self._last_ticks_s = clock.now_s()
        self._silent_until_s = float("-inf")
        self._next_status_s = float("-inf")
        self.error_status = 0
        self.last_error: str | None = None
        self.crc_errors = 0
        self.timeouts = 0

    @property
    def max_speed_mps(self) -> float:
        return self.config.max_speed_mps

    @property
    def metres_per_tick(self) -> float:
        return 2.0 * math.pi * self.config.wheel_radius_m / self.config.ticks_per_rev

    # -- lifecycle ---------------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        if self.port.ensure_open():
            try:
                tenths = max(0, min(255, round(self.config.serial_timeout_s * 10)))
                self._write_command(CMD_SET_SERIAL_TIMEOUT, bytes([tenths]))
                self._write_command(CMD_RESET_ENCODERS)
            except DeviceError as exc:
                self.last_error = exc.reason

    def close(self) -> None:
        if self.port.is_open:
            with contextlib.suppress(DeviceError):  # if this fails, the watchdog stops the motors
                self._write_command(CMD_MIXED_SPEED, struct.pack(">ii", 0, 0))
        self.port.close()
        self._commanded = Twist2D.zero()
        super().close()

    # -- DriveBase -----------------------------------------------------------------------------------

    def wheel_speeds_qpps(self, twist: Twist2D) -> tuple[int, int]:
        half = self.config.track_width_m / 2.0
        left = (twist.linear_mps - twist.angular_radps * half) / self.metres_per_tick
        right = (twist.linear_mps + twist.angular_radps * half) / self.metres_per_tick
        return round(left), round(right)

    def command_velocity(self, twist: Twist2D) -> None:
        self._require_open()
        v = max(-self.config.max_speed_mps, min(self.config.max_speed_mps, twist.linear_mps))
        w = max(-self.config.max_angular_radps, min(self.config.max_angular_radps, twist.angular_radps))
        clamped = Twist2D(v, w)
        left, right = self.wheel_speeds_qpps(clamped)
        if self._guarded(lambda: self._write_command(CMD_MIXED_SPEED, struct.pack(">ii", left, right))):
            self._commanded = clamped

    def commanded_velocity(self) -> Twist2D:
        return self._commanded

    def odometry(self) -> Odometry:
        """Read the encoders and integrate; on a link problem, the last good odometry (health
        tells why it is stale)."""
        if self.is_open and self._guarded(self._update_odometry):
            now_s = self.clock.now_s()
            if now_s >= self._next_status_s:  # a failed read above stays visible in health
                self._next_status_s = now_s + self.config.status_period_s
                self._guarded(self._read_status)
        return Odometry(self._pose, self._velocity, self._distance_m, self._stamp_s)

    def health(self) -> DeviceHealth:
        if not self.is_open:
            return self._health(HealthStatus.STALE, "not set up")
        if not self.port.is_open:
            return self._health(HealthStatus.ERROR, f"port {self.config.port}: {self.port.last_error or 'closed'}")
        if self.error_status & 0xFFFF:
            return self._health(HealthStatus.ERROR, "controller: " + ", ".join(describe_errors(self.error_status)))
        if self.last_error is not None:
            return self._health(HealthStatus.ERROR, self.last_error)
        if self.error_status:
            return self._health(HealthStatus.WARNING, f"controller warning status 0x{self.error_status:08X}")
        return self._health(HealthStatus.OK)

    # -- transactions ------------------------------------------------------------------------------

    def _guarded(self, action: Callable[[], None]) -> bool:
        """Run one transaction; a link error is recorded (never raised into the tick)."""
        now_s = self.clock.now_s()
        if now_s < self._silent_until_s or not self.port.ensure_open():
            return False
        try:
            action()
        except RoboClawTimeout as exc:
            self.timeouts += 1
            self.last_error = exc.reason
            self._silent_until_s = now_s + self.config.retry_period_s
            return False
        except RoboClawCrcError as exc:
            self.crc_errors += 1
            self.last_error = exc.reason
            self._drain()
            return False
        except SerialPortError as exc:
            self.last_error = exc.reason
            return False
        self.last_error = None
        return True

    def _drain(self) -> None:
        with contextlib.suppress(SerialPortError):
            self.port.read_available()  # drop the rest of a garbled reply before the next request

    def _write_command(self, command: int, data: bytes = b"") -> None:
        self.port.write(packet(self.config.address, command, data))
        reply = self.port.read_exact(1, self.config.reply_timeout_s)
        if reply != bytes([ACK]):
            if reply:
                raise RoboClawCrcError(self.name, f"command {command}: unexpected reply {reply.hex()}")
            raise RoboClawTimeout(self.name, f"command {command}: no acknowledgement")

    def _read(self, command: int, n_data: int) -> bytes:
        self.port.write(packet(self.config.address, command))
        reply = self.port.read_exact(n_data + 2, self.config.reply_timeout_s)
        if len(reply) < n_data + 2:
            raise RoboClawTimeout(self.name, f"command {command}: {len(reply)}/{n_data + 2} reply bytes")
        try:
            return check_reply(self.config.address, command, reply)
        except RoboClawCrcError as exc:
            raise RoboClawCrcError(self.name, exc.reason) from None

    def _update_odometry(self) -> None:
        left, right = struct.unpack(">ii", self._read(CMD_READ_ENCODERS, 8))
        now_s = self.clock.now_s()
        if self._last_ticks is not None:
            dl = (left - self._last_ticks[0]) * self.metres_per_tick
            dr = (right - self._last_ticks[1]) * self.metres_per_tick
            self._integrate(dl, dr, now_s - self._last_ticks_s)
        self._last_ticks, self._last_ticks_s, self._stamp_s = (left, right), now_s, now_s

    def _integrate(self, dl_m: float, dr_m: float, dt_s: float) -> None:
        ds = (dl_m + dr_m) / 2.0
        dyaw = (dr_m - dl_m) / self.config.track_width_m
        p = self._pose
        mid = p.yaw_rad + dyaw / 2.0  # midpoint heading: second-order accurate for an arc
        self._pose = Pose2D(p.x_m + ds * math.cos(mid), p.y_m + ds * math.sin(mid), wrap_angle_rad(p.yaw_rad + dyaw),
                            p.level)
        self._distance_m += abs(ds)
        if dt_s > 0:
            self._velocity = Twist2D(ds / dt_s, dyaw / dt_s)

    def _read_status(self) -> None:
        (self.error_status,) = struct.unpack(">I", self._read(CMD_READ_ERROR, 4))

    def raise_on_fault(self) -> None:
        """For callers that want the controller's error as an exception."""
        if self.error_status & 0xFFFF:
            raise RoboClawFault(self.name, ", ".join(describe_errors(self.error_status)))


def build(name: str, config: RoboClawConfig, ctx: BuildContext) -> RoboClawDriveBase:
    return RoboClawDriveBase(name, ctx.clock, config, pump=ctx.extras.get("serial_pumps", {}).get(name))


def register(registry: DeviceRegistry) -> None:
    registry.register("drive_base", "roboclaw", RoboClawConfig, build)
