"""Contact bumper."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


@dataclass(frozen=True, slots=True)
class BumperState:
    contact: bool
    stamp_s: float


class Bumper(Device):
    kind = "bumper"

    @abstractmethod
    def state(self) -> BumperState: ...
