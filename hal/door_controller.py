"""Networked doors (the shape of TUG's and Open-RMF's door adapters), with the anteroom interlock.

An isolation room is entered through an anteroom with an outer door (to the corridor) and an
inner door (to the room). The two doors of an anteroom are never open at once — that is what
keeps the room's air in — so a controller refuses to open one while the other is not confirmed
CLOSED (`AnteroomInterlock`), whoever asks.
"""

from __future__ import annotations

import enum
from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device, DeviceError
from hal.handle import Handle


class DoorState(enum.StrEnum):
    CLOSED = "closed"
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    UNKNOWN = "unknown"  # fault or no report: treat as not closed


class AnteroomInterlock(DeviceError):
    """Opening this door would open both doors of an anteroom."""


@dataclass(frozen=True, slots=True)
class DoorStatus:
    door_id: str
    state: DoorState
    stamp_s: float

    @property
    def closed(self) -> bool:
        return self.state is DoorState.CLOSED


@dataclass(frozen=True, slots=True)
class Anteroom:
    name: str  # the anteroom's place name
    outer_door: str
    inner_door: str


class DoorController(Device):
    kind = "door_controller"

    @abstractmethod
    def anterooms(self) -> list[Anteroom]: ...

    @abstractmethod
    def door_ids(self) -> list[str]: ...

    @abstractmethod
    def state(self, door_id: str) -> DoorStatus:
        """Last reported state; unknown door → DeviceError."""

    @abstractmethod
    def start_open(self, door_id: str) -> Handle[DoorStatus, DoorState]:
        """Open; the handle succeeds when the door reports OPEN. `AnteroomInterlock` at once when
        the other door of its anteroom is not CLOSED."""

    @abstractmethod
    def start_close(self, door_id: str) -> Handle[DoorStatus, DoorState]:
        """Close; the handle succeeds when the door reports CLOSED."""


def partner_door(anterooms: list[Anteroom], door_id: str) -> str | None:
    """The other door of the anteroom `door_id` belongs to, if any."""
    for room in anterooms:
        if door_id == room.outer_door:
            return room.inner_door
        if door_id == room.inner_door:
            return room.outer_door
    return None
