"""Bedside capillary glucometer."""

from __future__ import annotations

from dataclasses import dataclass

from hal.measurement import MeasuringDevice


@dataclass(frozen=True, slots=True)
class GlucoseReading:
    glucose_mmol_per_l: float
    stamp_s: float


class Glucometer(MeasuringDevice[GlucoseReading]):
    kind = "glucometer"
