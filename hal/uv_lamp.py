"""UV-C disinfection lamp with a presence interlock.

UV-C harms skin and eyes, so the lamp is never on while a person is within its range: it refuses
to switch on when its presence sensor sees someone, and switches itself off (the dose handle
fails) when someone comes within range. Dose is radiant exposure in J/m² (irradiance W/m² × s).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device, DeviceError
from hal.handle import Handle


class InterlockRefused(DeviceError):
    """The interlock stopped the lamp (a person within range)."""


@dataclass(frozen=True, slots=True)
class UvLampState:
    on: bool
    irradiance_w_per_m2: float  # at the reference distance, while on
    dose_j_per_m2: float  # delivered by the current (or last) exposure
    person_in_range: bool
    stamp_s: float


@dataclass(frozen=True, slots=True)
class UvDoseResult:
    dose_j_per_m2: float
    duration_s: float


class UvLamp(Device):
    kind = "uv_lamp"

    @abstractmethod
    def state(self) -> UvLampState: ...

    @abstractmethod
    def person_in_range(self) -> bool:
        """What the presence sensor sees now."""

    @abstractmethod
    def start_dose(self, target_j_per_m2: float) -> Handle[UvDoseResult, float]:
        """Switch on until the target dose is delivered (feedback: dose so far, J/m²), then off.
        `InterlockRefused` when a person is within range; cancel switches the lamp off."""

    @abstractmethod
    def off(self) -> None:
        """Switch off at once (always allowed)."""
