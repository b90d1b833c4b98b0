"""Sample fridge (QC material, held specimens): its temperature, which must stay 2-8 °C."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


@dataclass(frozen=True, slots=True)
class FridgeReading:
    temperature_c: float
    door_open: bool
    stamp_s: float


class SampleFridge(Device):
    kind = "sample_fridge"

    @abstractmethod
    def read_temperature(self) -> FridgeReading:
        """The current cabinet temperature; `DeviceError` when the probe cannot be read."""
