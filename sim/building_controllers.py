"""What the building's lift and door controllers do, as the simulator's building model offers it.

This is the seam between the simulated building (`sim/building_model.py`, stepped on the sim
clock) and the two ways a robot reaches it: in-process (`sim/devices/lift_caller.py`,
`sim/devices/door_opener.py`) and over Modbus TCP (`sim/emulators/modbus_building.py` maps these
calls onto registers; `hal/drivers/modbus_building.py` is the robot's client). A real building's
controllers behave the same way, which is why the names follow a lift controller's vocabulary
(hall call, car call, door hold, session) rather than the simulator's.

A *session* is the robot's claim on a lift car: capacity is one robot, so a car answers a call
only for the session that holds it (or takes a free car for the caller). Sessions are small
positive integers (they fit a Modbus register); 0 means "none".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class LiftMode(enum.IntEnum):
    NORMAL = 0
    OUT_OF_SERVICE = 1  # stopped at a floor with its doors open; takes no calls
    FIRE_SERVICE = 2  # recalled during a fire alarm: no rides for robots


class DoorPosition(enum.IntEnum):
    CLOSED = 0
    OPENING = 1
    OPEN = 2
    CLOSING = 3


class Motion(enum.IntEnum):
    IDLE = 0
    UP = 1
    DOWN = 2


@dataclass(frozen=True, slots=True)
class LiftStatus:
    lift: str
    car_level: int  # the floor the car is at, or the last one passed while moving
    door: DoorPosition
    motion: Motion
    mode: LiftMode
    session: int  # the session holding the car, 0 when free
    target_level: int | None  # where the car is going, None when idle
    stamp_s: float


@dataclass(frozen=True, slots=True)
class DoorStatus:
    door: str
    position: DoorPosition
    fire_closed: bool  # a fire door released by the alarm: it will not open for a robot
    fault: bool  # the controller reports the door jammed or failed
    stamp_s: float


class LiftRefused(Exception):
    """The controller refused a request; `reason` says why in words an operator reads."""

    def __init__(self, lift: str, reason: str) -> None:
        super().__init__(f"lift {lift}: {reason}")
        self.lift = lift
        self.reason = reason


class LiftControllers(Protocol):
    """The lift bank's controllers. Every call answers at once; the car moves on the sim clock."""

    def lift_names(self) -> list[str]: ...

    def lift_status(self, lift: str) -> LiftStatus:
        """KeyError for an unknown lift."""
        ...

    def hall_call(self, lift: str, level: int, session: int) -> None:
        """Claim the car for `session` and bring it to `level` with its doors open (a car already
        there with its doors open just stays open). LiftRefused when the car is held by another
        session, out of service or in fire service, or does not serve `level`."""
        ...

    def car_call(self, lift: str, level: int, session: int) -> None:
        """Close the doors and take the car to `level`, opening there. LiftRefused unless
        `session` holds the car and the car is in normal service."""
        ...

    def hold_door(self, lift: str, session: int) -> None:
        """Keep the doors open (re-open when closing) while the robot boards or leaves."""
        ...

    def release(self, lift: str, session: int) -> None:
        """End the session: the car is free for the next call. Releasing a car not held by
        `session` does nothing (a repeated release after a restart is harmless)."""
        ...


class DoorControllers(Protocol):
    """The building's powered and fire doors."""

    def door_names(self) -> list[str]: ...

    def door_status(self, door: str) -> DoorStatus:
        """KeyError for an unknown door."""
        ...

    def request_open(self, door: str, session: int) -> None:
        """Open and hold open for the requester (the door closes by itself after its hold time).
        A fire-closed door or a faulted one stays shut; its status says why."""
        ...
