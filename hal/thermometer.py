"""Clinical thermometer (non-contact or probe)."""

from __future__ import annotations

from dataclasses import dataclass

from hal.measurement import MeasuringDevice


@dataclass(frozen=True, slots=True)
class TemperatureReading:
    temperature_c: float
    site: str  # oral, tympanic, axillary, forehead
    stamp_s: float


class Thermometer(MeasuringDevice[TemperatureReading]):
    kind = "thermometer"
