"""Powered doors called over the building network (as TUG and Open-RMF door adapters do).

`doors_on_route` names the powered doors between the robot and a place, in passing order, so a
mission can ask each to open before it drives through; `avoid` asks for a route around doors
that would not open (None when there is none). `start_open` is a handle that succeeds once the
door reports open; a door that never opens is the caller's deadline, reported with the door's
name.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection
from dataclasses import dataclass

from hal.device import Device
from hal.handle import Handle


@dataclass(frozen=True, slots=True)
class DoorState:
    door: str
    open: bool
    stamp_s: float


DoorHandle = Handle[DoorState, str]


class DoorOpener(Device):
    kind = "door_opener"

    @abstractmethod
    def doors_on_route(self, place: str, *, avoid: Collection[str] = ()) -> list[str] | None:
        """Powered doors from the robot's position to `place`, in order; [] when none; None when
        every route passes a door in `avoid`. DeviceError for an unknown place."""

    @abstractmethod
    def start_open(self, door: str) -> DoorHandle:
        """Ask the door to open (and stay open while the robot passes)."""

    @abstractmethod
    def state(self, door: str) -> DoorState: ...
