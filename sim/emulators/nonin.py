"""A Nonin pulse oximeter emulator streaming Data Format #2 (75 frames/s, 25-frame packets) from
the simulated patient: sensor-disconnected frames when no finger (no patient) is there.

Only the last second of packets is generated per service call (older ones would have overflowed
a real UART FIFO that nobody read). Knobs: `silent`, `noise_probability` (one byte of a packet
flipped), `artifact` (status ARTF set).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hal.clock import Clock
from hal.drivers.vitals import nonin
from sim.emulators.pty_device import PtyDevice
from sim.patients import TrueVitals

PACKET_S = nonin.FRAMES_PER_PACKET / nonin.FRAMES_PER_S  # 1/3 s


class NoninEmulator:
    def __init__(self, clock: Clock, rng: np.random.Generator, vitals: Callable[[float], TrueVitals | None], *,
                 pty: PtyDevice | None = None) -> None:
        self.clock = clock
        self.rng = rng
        self.vitals = vitals
        self.pty = pty or PtyDevice("oximeter")
        self.silent = False
        self.artifact = False
        self.noise_probability = 0.0
        self.packets_sent = 0
        self._next_packet_s = clock.now_s()

    @property
    def port_url(self) -> str:
        return self.pty.port_path

    def close(self) -> None:
        self.pty.close()

    def service(self, host_wrote: int = 0) -> int:
        self.pty.read(expect_bytes=host_wrote)  # the oximeter ignores input
        now_s = self.clock.now_s()
        self._next_packet_s = max(self._next_packet_s, now_s - 1.0)
        out = bytearray()
        while self._next_packet_s <= now_s:
            out += self._packet(self._next_packet_s)
            self._next_packet_s += PACKET_S
        if self.silent or not out:
            return 0
        return self.pty.write(bytes(out))

    def _packet(self, t_s: float) -> bytes:
        self.packets_sent += 1
        v = self.vitals(t_s)
        if v is None:
            return nonin.encode_packet(None, None, status=nonin.SNSD)
        spo2 = min(100, round(v.spo2_percent + float(self.rng.normal(0, 0.5))))
        hr = round(v.pulse_bpm + float(self.rng.normal(0, 1.0)))
        status = 0b010 | (nonin.ARTF if self.artifact else 0)  # green perfusion
        raw = bytearray(nonin.encode_packet(hr, spo2, status=status))
        if self.rng.random() < self.noise_probability:
            raw[int(self.rng.integers(0, len(raw)))] ^= 0x10
        return bytes(raw)
