"""Contact-free respiration-rate monitor (radar or thermal), counted over 60 s as NEWS2 asks."""

from __future__ import annotations

from dataclasses import dataclass

from hal.measurement import MeasuringDevice


@dataclass(frozen=True, slots=True)
class RespirationReading:
    respiration_rate_per_min: int
    stamp_s: float


class RespirationMonitor(MeasuringDevice[RespirationReading]):
    kind = "respiration_monitor"
