"""Asset tag reader: an inventory round of the tags in range (RFID), each with its signal strength.

Fixed assets (infusion pumps, monitors, wheelchairs) carry a tag whose id the asset register
knows. One inventory round is a handle: the reader sweeps for `duration_s` and reports every tag
seen, strongest reading per tag.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device
from hal.handle import Handle


@dataclass(frozen=True, slots=True)
class TagSighting:
    tag_id: str
    rssi_dbm: float
    reads: int  # how many times it answered during the round


@dataclass(frozen=True, slots=True)
class InventoryRound:
    sightings: tuple[TagSighting, ...]  # sorted by tag_id
    duration_s: float
    stamp_s: float

    @property
    def tag_ids(self) -> list[str]:
        return [s.tag_id for s in self.sightings]


InventoryHandle = Handle[InventoryRound, str]


class AssetReader(Device):
    kind = "asset_reader"

    @abstractmethod
    def start_inventory(self, *, duration_s: float = 5.0) -> InventoryHandle:
        """Sweep for tags around the robot; the handle succeeds with what was seen (maybe nothing)."""
