"""Battery: state of charge and charging."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


@dataclass(frozen=True, slots=True)
class BatteryState:
    soc_fraction: float  # 0..1
    voltage_v: float
    current_a: float  # positive while charging
    is_charging: bool
    stamp_s: float


class Battery(Device):
    kind = "battery"

    @abstractmethod
    def state(self) -> BatteryState: ...
