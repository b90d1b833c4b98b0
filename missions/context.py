"""Everything a mission may use, injected: who it runs on, the clock, the devices, the event sink."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hal.clock import Clock
from hal.device_set import DeviceSet
from missions.events import MissionEvent
from missions.media import InMemoryMediaStore, MediaStore
from missions.site import SiteConditions


@dataclass(frozen=True)
class MissionContext:
    robot_id: str
    clock: Clock
    devices: DeviceSet
    emit: Callable[[MissionEvent], None]
    home_dock: str
    #: evidence images and recordings (see missions/media.py)
    media: MediaStore = field(default_factory=InMemoryMediaStore)
    #: the building's alarms, updated by the robot (shared, not copied)
    site: SiteConditions = field(default_factory=SiteConditions)
