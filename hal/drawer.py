"""Locked drawer for medication and samples, with a chain-of-custody friendly open log."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


@dataclass(frozen=True, slots=True)
class DrawerState:
    drawer_id: str
    locked: bool
    open: bool
    stamp_s: float


class Drawer(Device):
    kind = "drawer"

    @abstractmethod
    def drawer_ids(self) -> list[str]: ...

    @abstractmethod
    def state(self, drawer_id: str) -> DrawerState: ...

    @abstractmethod
    def unlock(self, drawer_id: str, *, authorised_by: str) -> None:
        """Unlock one drawer for a named (pseudonymous) staff badge; DeviceError if unknown."""

    @abstractmethod
    def lock(self, drawer_id: str) -> None: ...
