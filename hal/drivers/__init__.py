"""Hardware-side device models (drivers): register them into a `DeviceRegistry`."""

from __future__ import annotations

from hal.registry import DeviceRegistry


def register(registry: DeviceRegistry) -> None:
    """Register every hardware driver model this package provides."""
    from hal.drivers import modbus_building, opencv_camera, opencv_tags, roboclaw
    from hal.drivers.astm import analyzer_driver
    from hal.drivers.vitals import drivers as vitals

    opencv_tags.register(registry)
    opencv_camera.register(registry)
    analyzer_driver.register(registry)
    roboclaw.register(registry)
    modbus_building.register(registry)
    vitals.register(registry)
