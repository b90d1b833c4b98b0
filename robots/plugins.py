"""Discovery of device backends and CLI commands through entry points.

Backends live in packages that depend on `robots` (the simulator) or below it (hardware drivers
in `hal`); entry points let the robot use them without importing upwards.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from hal.registry import DeviceRegistry

DEVICE_GROUP = "medbot.devices"
COMMAND_GROUP = "medbot.commands"


def load_device_registry() -> DeviceRegistry:
    """A fresh registry with every installed backend registered (sorted: deterministic)."""
    registry = DeviceRegistry()
    for ep in sorted(entry_points(group=DEVICE_GROUP), key=lambda e: e.name):
        register = ep.load()
        register(registry)
    return registry
