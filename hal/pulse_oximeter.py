"""Pulse oximeter: SpO2 and pulse."""

from __future__ import annotations

from dataclasses import dataclass

from hal.measurement import MeasuringDevice


@dataclass(frozen=True, slots=True)
class PulseOximetryReading:
    spo2_percent: int
    pulse_bpm: int
    perfusion_index_percent: float
    stamp_s: float


class PulseOximeter(MeasuringDevice[PulseOximetryReading]):
    kind = "pulse_oximeter"
