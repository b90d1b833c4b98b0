"""Tube handler: the lab robot's gripper over its racks (input, carrier, centrifuge, analyzer
load positions, reject, hold, QC, balance, waste).

Positions are named ``<area>:<n>`` (``input:3``, ``chem:1``); an analyzer's load area is named
after the analyzer device, the centrifuge rotor's after the centrifuge. The handler knows which
positions hold a tube (presence sensors), never what a tube is: identity comes only from reading
its label. Moving a tube is two handles, pick then place, so a pause or an e-stop between them
leaves a well-defined state (the tube in the gripper, `holding()` says where it came from).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device
from hal.handle import Handle


def position(area: str, index: int) -> str:
    return f"{area}:{index}"


def area_of(position_name: str) -> str:
    return position_name.rsplit(":", 1)[0]


@dataclass(frozen=True, slots=True)
class RackStatus:
    area: str
    positions: tuple[str, ...]  # every position of the area, in order
    occupied: frozenset[str]  # those holding a tube
    stamp_s: float

    def free(self) -> list[str]:
        return [p for p in self.positions if p not in self.occupied]

    def tubes(self) -> list[str]:
        return [p for p in self.positions if p in self.occupied]


@dataclass(frozen=True, slots=True)
class TubeMove:
    position: str  # where the tube was picked from, placed at, or turned (the gripper)
    stamp_s: float


class TubeHandler(Device):
    kind = "tube_handler"

    @abstractmethod
    def areas(self) -> list[str]:
        """The rack areas this handler reaches."""

    @abstractmethod
    def rack(self, area: str) -> RackStatus:
        """Occupancy of one area; `DeviceError` naming the known areas when unknown."""

    @abstractmethod
    def holding(self) -> str | None:
        """The position the tube now in the gripper was picked from, None when empty."""

    @abstractmethod
    def start_pick(self, position: str) -> Handle[TubeMove, str]:
        """Take the tube at `position` into the (empty) gripper. Fails with a reason when the
        position is empty or the gripper is not; cancelled before done, the tube stays put."""

    @abstractmethod
    def start_place(self, position: str) -> Handle[TubeMove, str]:
        """Put the gripped tube into the free `position`; cancelled before done, it stays held."""

    @abstractmethod
    def start_handover(self, area: str, *, authorised_by: str) -> Handle[RackStatus, str]:
        """Unlock and open a portable rack's lid (the carrier) for an authenticated member of
        staff to load or unload tubes; succeeds when the lid is closed and locked again, with the
        area's occupancy. Fails with a reason on a lock fault."""

    @abstractmethod
    def start_rotate(self) -> Handle[TubeMove, str]:
        """Turn the gripped tube about its axis in front of the label camera (for a re-read)."""
