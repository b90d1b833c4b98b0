"""A serial port opened from a URL, with bounded I/O, typed errors and reconnect with backoff.

The URL is whatever pyserial accepts: a device path (`/dev/ttyUSB0`, a pty), `socket://host:port`,
`rfc2217://host:port`, `loop://`. Reads never block longer than asked (default: not at all);
writes have a `write_timeout`. A failed open or a port that disappears mid-run is reported as a
`PortUnavailable` and retried on the injected clock with exponential backoff, so a tick never
hangs and a replugged adapter comes back by itself.

`pump` is the simulator's hook (see `sim.emulators`): a callable given the number of bytes this
port wrote since the last call, returning how many bytes the emulator wrote back. The port then
waits (bounded) until those bytes have arrived, which makes a pty exchange deterministic. On a
robot it is None and nothing changes.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Callable
from typing import Any

import serial

from hal.clock import Clock
from hal.device import DeviceError, DeviceTimeout

Pump = Callable[[int], int]
Opener = Callable[..., Any]

#: a pump's bytes are waited for at most this long (wall time: they are already in the kernel)
PUMP_SETTLE_TIMEOUT_S = 0.2


class SerialPortError(DeviceError):
    """Base of the serial port's errors."""


class PortUnavailable(SerialPortError):
    """The port cannot be opened, or disappeared; reconnection is scheduled."""


class PortWriteTimeout(SerialPortError, DeviceTimeout):
    """The port did not accept the bytes within `write_timeout_s`."""


class SerialPort:
    def __init__(
        self,
        device_name: str,
        url: str,
        clock: Clock,
        *,
        baudrate: int = 9600,
        write_timeout_s: float = 0.5,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        opener: Opener = serial.serial_for_url,
        pump: Pump | None = None,
    ) -> None:
        if write_timeout_s <= 0:
            raise ValueError("write_timeout_s must be > 0 (an unbounded write could hang a tick)")
        self.device_name = device_name
        self.url = url
        self.clock = clock
        self.baudrate = baudrate
        self.write_timeout_s = write_timeout_s
        self.reconnect_initial_s = reconnect_initial_s
        self.reconnect_max_s = reconnect_max_s
        self.pump = pump
        self._opener = opener
        self._port: Any = None
        self._backoff_s = reconnect_initial_s
        self._next_attempt_s = float("-inf")
        self.last_error: str | None = None
        self.connects = 0
        self.disconnects = 0
        self._written_since_pump = 0

    @property
    def is_open(self) -> bool:
        return self._port is not None

    @property
    def next_attempt_s(self) -> float:
        return self._next_attempt_s

    def open(self) -> None:
        """Open now; raises PortUnavailable (and schedules the next attempt) on failure."""
        if self._port is not None:
            return
        try:
            # timeout=0: reads return what is there; write_timeout bounds every write.
            self._port = self._opener(
                self.url, baudrate=self.baudrate, timeout=0, write_timeout=self.write_timeout_s
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            self._failed(f"cannot open {self.url}: {exc}")
            raise PortUnavailable(self.device_name, self.last_error or "cannot open") from None
        self.connects += 1
        self.last_error = None
        self._backoff_s = self.reconnect_initial_s
        self._written_since_pump = 0

    def ensure_open(self) -> bool:
        """Open if closed and the backoff allows; never raises. True when the port is open."""
        if self._port is None and self.clock.now_s() >= self._next_attempt_s:
            try:
                self.open()
            except PortUnavailable:
                return False
        return self._port is not None

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):  # a vanished device
                port.close()

    def read_available(self, max_bytes: int = 4096) -> bytes:
        """What has arrived, without blocking (bounded settle when a pump is attached)."""
        port = self._require()
        expect = 0
        if self.pump is not None:
            expect = self.pump(self._written_since_pump)
            self._written_since_pump = 0
        try:
            data = bytes(port.read(max_bytes))
            if len(data) < expect:
                data += self._settle(port, expect - len(data), max_bytes - len(data))
        except (serial.SerialException, OSError) as exc:
            self._lost(f"read failed: {exc}")
            raise PortUnavailable(self.device_name, self.last_error or "read failed") from None
        return data

    def read_exact(self, n_bytes: int, timeout_s: float) -> bytes:
        """Up to `n_bytes`, waiting at most `timeout_s` of wall time: a request/response device's
        reply. The wait is an I/O bound of a few milliseconds, not robot logic, hence wall time."""
        data = self.read_available(n_bytes)
        if len(data) >= n_bytes or timeout_s <= 0:
            return data
        port = self._require()
        deadline = time.monotonic() + timeout_s
        fileno = getattr(port, "fileno", None)
        try:
            while len(data) < n_bytes:
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    break
                if fileno is not None:
                    select.select([fileno()], [], [], min(remaining_s, 0.005))
                else:
                    time.sleep(min(remaining_s, 0.001))  # loop:// and friends have no fd to wait on
                data += bytes(port.read(n_bytes - len(data)))
        except (serial.SerialException, OSError) as exc:
            self._lost(f"read failed: {exc}")
            raise PortUnavailable(self.device_name, self.last_error or "read failed") from None
        return data

    def write(self, data: bytes) -> None:
        port = self._require()
        if not data:
            return
        try:
            port.write(data)
        except serial.SerialTimeoutException:
            raise PortWriteTimeout(self.device_name, f"write of {len(data)} bytes timed out") from None
        except (serial.SerialException, OSError) as exc:
            self._lost(f"write failed: {exc}")
            raise PortUnavailable(self.device_name, self.last_error or "write failed") from None
        self._written_since_pump += len(data)

    def reset_input(self) -> None:
        port = self._require()
        try:
            port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            self._lost(f"reset failed: {exc}")
            raise PortUnavailable(self.device_name, self.last_error or "reset failed") from None

    # -- internals -------------------------------------------------------------------------------

    def _require(self) -> Any:
        if self._port is None:
            raise PortUnavailable(self.device_name, self.last_error or f"{self.url} is not open")
        return self._port

    def _settle(self, port: Any, missing: int, max_bytes: int) -> bytes:
        """Wait (bounded) for bytes the emulator has already written."""
        data = bytearray()
        deadline = time.monotonic() + PUMP_SETTLE_TIMEOUT_S
        fileno = getattr(port, "fileno", None)
        while len(data) < missing and max_bytes - len(data) > 0:
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                break
            if fileno is not None:
                select.select([fileno()], [], [], min(remaining_s, 0.01))
            data += bytes(port.read(max_bytes - len(data)))
        return bytes(data)

    def _failed(self, reason: str) -> None:
        self.last_error = reason
        self._next_attempt_s = self.clock.now_s() + self._backoff_s
        self._backoff_s = min(self.reconnect_max_s, self._backoff_s * 2)

    def _lost(self, reason: str) -> None:
        self.close()
        self.disconnects += 1
        self._failed(reason)
