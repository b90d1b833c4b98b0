"""Air-quality sensor of a patrol robot: smoke obscuration (optical, %/m) and carbon monoxide (ppm).

Point smoke detectors alarm at about 1.6-13 %/m obscuration (UL 268 sensitivity range,
0.5-4 %/ft); clean indoor air reads near 0. CO is near 0-5 ppm indoors, tens of ppm in a busy
car park, and rises with a smouldering or open fire.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


@dataclass(frozen=True, slots=True)
class AirQualityReading:
    smoke_obscuration_pct_per_m: float
    co_ppm: float
    stamp_s: float


class AirQualitySensor(Device):
    kind = "air_quality"

    @abstractmethod
    def read(self) -> AirQualityReading:
        """Current reading (synchronous, bounded); raises DeviceError on fault."""
