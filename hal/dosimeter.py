"""Area dosimeter: scattered dose outside the patient's beam, for the ALARA record."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


@dataclass(frozen=True, slots=True)
class DoseReading:
    cumulative_dose_usv: float  # since the dosimeter was set up
    dose_rate_usv_per_h: float
    stamp_s: float


class Dosimeter(Device):
    kind = "dosimeter"

    @abstractmethod
    def read(self) -> DoseReading:
        """Current reading; raises `DeviceError` on fault."""
