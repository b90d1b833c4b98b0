"""Water-leak probe: floor moisture under the robot (a conductive probe skimming the floor)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


@dataclass(frozen=True, slots=True)
class LeakReading:
    #: 0 dry .. 1 standing water, from the probe's conductance
    moisture_fraction: float
    #: the probe's own wet/dry decision (its comparator threshold)
    wet: bool
    stamp_s: float


class LeakSensor(Device):
    kind = "leak_sensor"

    @abstractmethod
    def read(self) -> LeakReading:
        """Current reading (synchronous, bounded); raises DeviceError on fault."""
