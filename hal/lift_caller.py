"""Lifts called over the building network: call a lift to the robot's floor, board, ride, get off.

A ride is one handle: the lift is called to `from_level`, its doors open, the robot boards, the
lift travels and the robot leaves at `to_level`, standing at that floor's lobby place. Feedback
names the phase ("called", "boarding", "travelling", "leaving").
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device
from hal.handle import Handle


@dataclass(frozen=True, slots=True)
class LiftRoute:
    lift: str
    from_level: int
    to_level: int
    board_at: str  # lobby place on from_level where the robot waits for the lift
    leave_at: str  # lobby place on to_level where the robot stands after the ride


@dataclass(frozen=True, slots=True)
class LiftRide:
    lift: str
    level: int
    duration_s: float
    stamp_s: float


LiftHandle = Handle[LiftRide, str]


class LiftCaller(Device):
    kind = "lift_caller"

    @abstractmethod
    def place_level(self, place: str) -> int:
        """The floor of a named place; DeviceError when unknown."""

    @abstractmethod
    def route(self, from_level: int, to_level: int) -> LiftRoute:
        """A lift serving both floors; DeviceError when there is none."""

    @abstractmethod
    def start_ride(self, route: LiftRoute) -> LiftHandle:
        """Call, board, ride and leave; the robot must stand at `route.board_at`."""
