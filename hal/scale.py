"""Patient scale (bed or standing)."""

from __future__ import annotations

from dataclasses import dataclass

from hal.measurement import MeasuringDevice


@dataclass(frozen=True, slots=True)
class WeightReading:
    weight_kg: float
    stamp_s: float


class Scale(MeasuringDevice[WeightReading]):
    kind = "scale"
