"""Simulated devices: one module per device kind, model name "sim".

Factories read the simulator from the build context's extras: `sim_env` (a `SimEnvironment`) and
`sim_body` (this robot's `SimBody`).
"""

from __future__ import annotations

import importlib
import pkgutil

from hal.registry import DeviceRegistry


def register(registry: DeviceRegistry) -> None:
    """Register every simulated device model (entry point `medbot.devices: sim`)."""
    from sim.devices import (
        battery,
        blood_pressure,
        bumper,
        camera,
        drawer,
        drive_base,
        estop,
        glucometer,
        navigator,
        pulse_oximeter,
        range_scanner,
        respiration_monitor,
        scale,
        speaker,
        tag_reader,
        thermometer,
        voice_inquiry,
    )

    registry.register("drive_base", "sim", drive_base.SimDriveBaseConfig, drive_base.build)
    registry.register("navigator", "sim", navigator.SimNavigatorConfig, navigator.build)
    registry.register("battery", "sim", battery.SimBatteryConfig, battery.build)
    registry.register("estop", "sim", estop.SimEStopConfig, estop.build)
    registry.register("bumper", "sim", bumper.SimBumperConfig, bumper.build)
    registry.register("range_scanner", "sim", range_scanner.SimRangeScannerConfig, range_scanner.build)
    registry.register("camera", "sim", camera.SimCameraConfig, camera.build)
    registry.register("tag_reader", "sim", tag_reader.SimTagReaderConfig, tag_reader.build)
    registry.register("speaker", "sim", speaker.SimSpeakerConfig, speaker.build)
    registry.register("voice_inquiry", "sim", voice_inquiry.SimVoiceInquiryConfig, voice_inquiry.build)
    registry.register("drawer", "sim", drawer.SimDrawerConfig, drawer.build)
    registry.register("thermometer", "sim", thermometer.SimThermometerConfig, thermometer.build)
    registry.register("blood_pressure", "sim", blood_pressure.SimBloodPressureConfig, blood_pressure.build)
    registry.register("pulse_oximeter", "sim", pulse_oximeter.SimPulseOximeterConfig, pulse_oximeter.build)
    registry.register(
        "respiration_monitor", "sim", respiration_monitor.SimRespirationMonitorConfig, respiration_monitor.build
    )
    registry.register("glucometer", "sim", glucometer.SimGlucometerConfig, glucometer.build)
    registry.register("scale", "sim", scale.SimScaleConfig, scale.build)
    _register_discovered(registry)


def _register_discovered(registry: DeviceRegistry) -> None:
    """Modules added later register themselves: any `sim.devices.<module>` with a
    `register(registry)` function is called, in name order (deterministic)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        hook = getattr(module, "register", None)
        if callable(hook):
            hook(registry)
