"""Room interlocks of an imaging room: door closed, nobody but the patient inside, warning light.

Radiography may only expose while the controlled area holds nobody but the patient, with its door
closed and the "X-ray on" warning light lit (DOMAIN.md §6). `InterlockState.all_hold()` combines
them and `reasons()` says which one is open, so a refusal always names its cause.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


@dataclass(frozen=True, slots=True)
class InterlockState:
    room: str
    door_closed: bool
    room_clear: bool  # nobody but the patient in the controlled area
    warning_light_on: bool  # the "X-ray on" lamp at the door, lit and working
    stamp_s: float

    def reasons(self, *, need_warning_light: bool = True) -> list[str]:
        """Every open interlock, in a fixed order (empty when all hold)."""
        out = []
        if not self.door_closed:
            out.append(f"{self.room}: door open")
        if not self.room_clear:
            out.append(f"{self.room}: staff or visitor in the controlled area")
        if need_warning_light and not self.warning_light_on:
            out.append(f"{self.room}: warning light off")
        return out

    def all_hold(self, *, need_warning_light: bool = True) -> bool:
        return not self.reasons(need_warning_light=need_warning_light)


class RoomInterlocks(Device):
    kind = "room_interlocks"

    @property
    @abstractmethod
    def room(self) -> str:
        """The place name of the room these interlocks guard."""

    @abstractmethod
    def state(self) -> InterlockState:
        """Current interlock inputs; raises `DeviceError` when they cannot be read (treat as open)."""

    @abstractmethod
    def set_warning_light(self, on: bool) -> None:
        """Switch the "X-ray on" lamp at the door (lit before and during every exposure)."""
