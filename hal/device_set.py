"""A robot's devices by kind, typed, so missions can ask for exactly what they need."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
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
    """A robot's devices. The common kinds have a typed slot each; any other kind (imaging,
    lab, security devices ...) and a second device of a kind live in `others`, found by kind
    (and name) through `require()` / `find()`, which name what is missing."""

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
    others: list[Device] = field(default_factory=list)

    @classmethod
    def slot_names(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "others"]

    def find(self, kind: type[D], name: str | None = None) -> D | None:
        """The device of this kind (and name, when given); None when absent."""
        matches = [d for d in self if isinstance(d, kind) and (name is None or d.name == name)]
        if name is None and len(matches) > 1:
            raise MissingDevice(kind.kind, f"several devices of this kind ({', '.join(d.name for d in matches)}): "
                                "ask by name")
        return matches[0] if matches else None

    def require(self, kind: type[D], name: str | None = None) -> D:
        device = self.find(kind, name)
        if device is None:
            what = f"no {kind.kind} device" + (f" named {name!r}" if name else "")
            raise MissingDevice(kind.kind, f"{what} is configured on this robot")
        return device

    def add(self, device: Device) -> None:
        if any(d.name == device.name for d in self):
            raise ValueError(f"a device named {device.name!r} is already configured")
        if device.kind in self.slot_names() and getattr(self, device.kind) is None:
            setattr(self, device.kind, device)
        else:
            self.others.append(device)

    def __iter__(self) -> Iterator[Device]:
        for name in self.slot_names():
            device = getattr(self, name)
            if device is not None:
                yield device
        yield from self.others
