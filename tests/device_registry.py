"""The device registry the device tests build (every simulated backend plus the hardware drivers,
as a nursing robot's config sees them) and the device kinds a simulated nursing robot has."""

from __future__ import annotations

from hal.drivers import register as register_drivers
from hal.registry import DeviceRegistry
from sim.devices import register as register_sim

#: the nursing robot's simulated kinds that are not measuring devices
NURSING_BASE_KINDS = (
    "drive_base",
    "navigator",
    "battery",
    "estop",
    "bumper",
    "range_scanner",
    "camera",
    "tag_reader",
    "speaker",
    "voice_inquiry",
    "drawer",
)
#: its measuring devices (vital signs)
NURSING_MEASURING_KINDS = (
    "thermometer",
    "blood_pressure",
    "pulse_oximeter",
    "respiration_monitor",
    "glucometer",
    "scale",
)


def sim_and_driver_registry() -> DeviceRegistry:
    """A fresh registry with the simulated backends and the hardware drivers registered."""
    registry = DeviceRegistry()
    register_sim(registry)
    register_drivers(registry)
    return registry
