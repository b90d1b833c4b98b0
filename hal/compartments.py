"""Locked cargo compartments of a delivery robot: load, unload, lock state and a tamper switch.

Loading and unloading are handles: the compartment unlocks for an authenticated member of staff,
waits for the goods to be put in (or taken out) and the door closed, and locks again. The tamper
switch latches when a locked compartment is forced; only `clear_tamper` (by staff) resets it.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device
from hal.handle import Handle


@dataclass(frozen=True, slots=True)
class CompartmentState:
    compartment_id: str
    locked: bool
    door_open: bool
    #: what the compartment's sensors say is inside (item code → quantity); empty when empty
    contents: dict[str, int]
    #: latched when the locked door was forced, until cleared by staff
    tampered: bool
    stamp_s: float

    @property
    def empty(self) -> bool:
        return not self.contents


CompartmentHandle = Handle[CompartmentState, str]


class Compartments(Device):
    kind = "compartments"

    @abstractmethod
    def compartment_ids(self) -> list[str]: ...

    @abstractmethod
    def state(self, compartment_id: str) -> CompartmentState:
        """Current state; DeviceError for an unknown compartment."""

    @abstractmethod
    def start_loading(self, compartment_id: str, manifest: dict[str, int], *, authorised_by: str) -> CompartmentHandle:
        """Unlock for `authorised_by`, wait until `manifest` is inside and the door shut, lock.
        Fails when the door is left open or the contents do not match the manifest."""

    @abstractmethod
    def start_unloading(self, compartment_id: str, *, authorised_by: str) -> CompartmentHandle:
        """Unlock for `authorised_by`, wait until the goods are taken and the door shut, lock."""

    @abstractmethod
    def clear_tamper(self, compartment_id: str, *, authorised_by: str) -> None: ...
