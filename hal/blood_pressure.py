"""Non-invasive blood-pressure (NIBP) monitor."""

from __future__ import annotations

from dataclasses import dataclass

from hal.measurement import MeasuringDevice


@dataclass(frozen=True, slots=True)
class BloodPressureReading:
    systolic_mmhg: int
    diastolic_mmhg: int
    mean_arterial_mmhg: int
    pulse_bpm: int
    stamp_s: float


class BloodPressureMonitor(MeasuringDevice[BloodPressureReading]):
    kind = "blood_pressure"
