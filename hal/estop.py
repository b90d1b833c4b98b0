"""Emergency stop input (hardware button, remote e-stop relay)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


@dataclass(frozen=True, slots=True)
class EStopState:
    pressed: bool
    source: str  # which button or channel
    stamp_s: float


class EStop(Device):
    kind = "estop"

    @abstractmethod
    def state(self) -> EStopState: ...
