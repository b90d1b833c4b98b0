"""What the safety supervisor tells the rest of the robot each tick."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SafetyState(enum.StrEnum):
    NORMAL = "normal"
    ESTOP = "estop"  # latched: nothing moves until an explicit reset
    PROTECTIVE_STOP = "protective_stop"  # bumper contact or obstacle too close: stop, clears by itself
    WATCHDOG_STOP = "watchdog_stop"  # no fresh velocity command in time


@dataclass(frozen=True, slots=True)
class SafetyStatus:
    state: SafetyState
    reason: str
    speed_limit_mps: float  # the zone limit in force here
    estop_latched: bool
    battery_reserve_reached: bool  # must head for the dock now, while the charge still gets it there
    battery_soc_fraction: float
    stamp_s: float

    @property
    def motion_allowed(self) -> bool:
        return self.state is SafetyState.NORMAL or self.state is SafetyState.WATCHDOG_STOP
