"""A robot's devices by kind, typed, so missions can ask for exactly what they need."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TypeVar

from hal.battery import Battery
from hal.blood_pressure import BloodPressureMonitor
from hal.bumper import Bumper
from hal.camera import Camera
from hal.device import Device, DeviceError
from hal.drawer import Drawer
from hal.drive_base import DriveBase
from hal.estop import EStop
from hal.glucometer import Glucometer
from hal.navigator import Navigator
from hal.pulse_oximeter import PulseOximeter
from hal.range_scanner import RangeScanner
from hal.respiration_monitor import RespirationMonitor
from hal.scale import Scale
from hal.speaker import Speaker
from hal.tag_reader import TagReader
from hal.thermometer import Thermometer
from hal.voice_inquiry import VoiceInquiry

D = TypeVar("D", bound=Device)


class MissingDevice(DeviceError):
    """A mission asked for a device kind this robot does not have."""


@dataclass
class DeviceSet:
    """One optional slot per device kind; `require()` names what is missing."""

    drive_base: DriveBase | None = None
    navigator: Navigator | None = None
    battery: Battery | None = None
    estop: EStop | None = None
    bumper: Bumper | None = None
    range_scanner: RangeScanner | None = None
    camera: Camera | None = None
    tag_reader: TagReader | None = None
    speaker: Speaker | None = None
    voice_inquiry: VoiceInquiry | None = None
    drawer: Drawer | None = None
    thermometer: Thermometer | None = None
    blood_pressure: BloodPressureMonitor | None = None
    pulse_oximeter: PulseOximeter | None = None
    glucometer: Glucometer | None = None
    scale: Scale | None = None
    respiration_monitor: RespirationMonitor | None = None

    @classmethod
    def slot_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def require(self, kind: type[D]) -> D:
        device = getattr(self, kind.kind, None)
        if not isinstance(device, kind):
            raise MissingDevice(kind.kind, "this robot has no such device configured")
        return device

    def add(self, device: Device) -> None:
        if device.kind not in self.slot_names():
            raise ValueError(f"no slot for device kind {device.kind!r}")
        if getattr(self, device.kind) is not None:
            raise ValueError(f"a {device.kind} is already configured")
        setattr(self, device.kind, device)

    def __iter__(self) -> Iterator[Device]:
        for name in self.slot_names():
            device = getattr(self, name)
            if device is not None:
                yield device
