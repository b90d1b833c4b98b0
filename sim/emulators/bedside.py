"""Emulator of medbot's bedside module (docs/protocols/bedside-module.md) for one device kind,
fed by the simulated patient in front of the robot.

On START it answers ACK, one PROG, then after the device's duration RES with the patient's true
vitals plus device noise, or ERR NO_PATIENT when nobody is there. A heartbeat (HB) goes out
every `heartbeat_period_s`. Knobs: `silent`, `error_next` (the next measurement ends in ERR with
that text), `corrupt_probability` (a line with a wrong CRC), `garbage_probability`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hal.clock import Clock
from hal.drivers.vitals import VitalsProtocolError, bedside
from sim.emulators.pty_device import PtyDevice
from sim.patients import TrueVitals

VitalsSource = Callable[[float], TrueVitals | None]
DURATION_S = {"TEMP": 5.0, "NIBP": 40.0, "GLU": 20.0, "SCALE": 10.0}


class BedsideEmulator:
    def __init__(self, clock: Clock, device: str, rng: np.random.Generator, vitals: VitalsSource, *,
                 pty: PtyDevice | None = None, heartbeat_period_s: float = 2.0,
                 weight_kg: float = 72.0) -> None:
        if device not in DURATION_S:
            raise ValueError(f"unknown bedside device {device!r} (accepted: {', '.join(DURATION_S)})")
        self.clock = clock
        self.device = device
        self.rng = rng
        self.vitals = vitals
        self.pty = pty or PtyDevice(device.lower())
        self.heartbeat_period_s = heartbeat_period_s
        self.weight_kg = weight_kg
        self.duration_s = DURATION_S[device]
        self.silent = False
        self.error_next: str | None = None
        self.corrupt_probability = 0.0
        self.garbage_probability = 0.0
        self.starts = 0
        self._splitter = bedside.LineSplitter()
        self._active: tuple[int, float] | None = None  # (seq, due_s)
        self._next_hb_s = clock.now_s()

    @property
    def port_url(self) -> str:
        return self.pty.port_path

    def close(self) -> None:
        self.pty.close()

    def service(self, host_wrote: int = 0) -> int:
        now_s = self.clock.now_s()
        out = bytearray()
        for raw in self._splitter.feed(self.pty.read(expect_bytes=host_wrote)):
            try:
                line = bedside.decode_line(raw)
            except VitalsProtocolError:
                continue  # a real module ignores what it cannot read
            if line.device != self.device:
                continue
            if line.type == "START":
                self.starts += 1
                self._active = (line.seq, now_s + self.duration_s)
                out += self._line(line.seq, "ACK") + self._line(line.seq, "PROG", "measuring")
            elif line.type == "CANCEL" and self._active and self._active[0] == line.seq:
                self._active = None
        if self._active is not None and now_s >= self._active[1]:
            seq, self._active = self._active[0], None
            out += self._finish(seq, now_s)
        if now_s >= self._next_hb_s:
            self._next_hb_s = now_s + self.heartbeat_period_s
            out += self._line(0, "HB")
        if self.silent or not out:
            return 0
        if self.rng.random() < self.garbage_probability:
            out = bytearray(b"~\x00noise") + out
        return self.pty.write(bytes(out))

    def _line(self, seq: int, kind: str, *fields: str) -> bytes:
        raw = bedside.encode_line(bedside.BedsideLine(seq, self.device, kind, fields))
        if self.rng.random() < self.corrupt_probability:
            raw = raw[:-4] + (b"0000" if raw[-6:-2] != b"0000" else b"FFFF")[:2] + raw[-2:]
        return raw

    def _finish(self, seq: int, now_s: float) -> bytes:
        if self.error_next is not None:
            text, self.error_next = self.error_next, None
            return self._line(seq, "ERR", "E1", text)
        v = self.vitals(now_s)
        if v is None:
            return self._line(seq, "ERR", "E2", "NO_PATIENT")
        n = self.rng.normal
        fields: list[tuple[str, object]]
        if self.device == "TEMP":
            fields = [("temp_c", f"{v.temperature_c + n(0, 0.1):.1f}"), ("site", "tympanic")]
        elif self.device == "NIBP":
            sys_, dia = round(v.systolic_bp_mmhg + n(0, 3)), round(v.diastolic_bp_mmhg + n(0, 2))
            fields = [("sys", sys_), ("dia", dia), ("map", round((sys_ + 2 * dia) / 3)),
                      ("pr", round(v.pulse_bpm + n(0, 2)))]
        elif self.device == "GLU":
            fields = [("glu_mmol", f"{v.glucose_mmol_per_l + n(0, 0.2):.1f}")]
        else:
            fields = [("kg", f"{self.weight_kg + n(0, 0.1):.1f}")]
        return self._line(seq, "RES", *bedside.result_fields(fields))
