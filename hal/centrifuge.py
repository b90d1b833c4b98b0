"""Centrifuge: spins the tubes the tube handler loaded into its rotor (serum separation)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device
from hal.handle import Handle


@dataclass(frozen=True, slots=True)
class SpinResult:
    rcf_g: float
    duration_s: float
    tubes: int  # how many tubes the rotor held
    completed_s: float


class Centrifuge(Device):
    kind = "centrifuge"

    @abstractmethod
    def rotor_area(self) -> str:
        """The tube handler area that is this centrifuge's rotor."""

    @abstractmethod
    def start_spin(self, *, rcf_g: float, duration_s: float) -> Handle[SpinResult, str]:
        """Close and lock the lid, spin, brake, unlock. Fails with a reason on an unbalanced
        rotor, an open lid or a drive fault; feedback is the remaining time in seconds."""
