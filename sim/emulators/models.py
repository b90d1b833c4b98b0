"""Device models that run the hardware driver against its emulator: `astm-emulated`,
`roboclaw-emulated`, `nonin-emulated`, `serial-emulated`. Each takes the driver's config (the port
is filled in by `attach`) plus `emulator: {...}` settings for the emulator."""

from __future__ import annotations

from typing import Any

import pydantic

from hal.device import Device
from hal.drivers.astm.analyzer_driver import AstmAnalyzer, AstmAnalyzerConfig
from hal.drivers.roboclaw import RoboClawConfig, RoboClawDriveBase
from hal.drivers.vitals import drivers as vitals
from hal.registry import BuildContext, DeviceRegistry
from sim.devices.common import sim_context
from sim.emulators import attach, pump_for


class _Emulated(pydantic.BaseModel):
    port: str = ""  # filled in by the emulator
    emulator: dict[str, Any] = pydantic.Field(default_factory=dict)


class EmulatedAstmConfig(_Emulated, AstmAnalyzerConfig):
    pass


class EmulatedRoboClawConfig(_Emulated, RoboClawConfig):
    pass


class EmulatedNoninConfig(_Emulated, vitals.NoninConfig):
    pass


class EmulatedBedsideConfig(_Emulated, vitals.SerialVitalsConfig):
    pass


def _factory(kind: str, driver: Any, driver_config: type[pydantic.BaseModel]) -> Any:
    def build(name: str, config: _Emulated, ctx: BuildContext) -> Device:
        env, _body = sim_context(ctx)
        settings = dict(config.emulator)
        if kind == "drive_base":  # the emulated wheels are the ones the driver is configured for
            assert isinstance(config, RoboClawConfig)
            settings.update(wheel_radius_m=config.wheel_radius_m, track_width_m=config.track_width_m,
                            ticks_per_rev=config.ticks_per_rev, address=config.address)
        if kind == "analyzer":  # the instrument names itself as the driver expects it to
            assert isinstance(config, AstmAnalyzerConfig)
            settings.setdefault("instrument", config.instrument)
        url = attach(env, ctx.robot_id, name, kind, **settings)
        fields = config.model_dump(exclude={"emulator"}) | {"port": url}
        device: Device = driver(name, ctx.clock, driver_config(**fields), pump=pump_for(env, ctx.robot_id, name))
        return device

    return build


def register(registry: DeviceRegistry) -> None:
    registry.register("analyzer", "astm-emulated", EmulatedAstmConfig,
                      _factory("analyzer", AstmAnalyzer, AstmAnalyzerConfig))
    registry.register("drive_base", "roboclaw-emulated", EmulatedRoboClawConfig,
                      _factory("drive_base", RoboClawDriveBase, RoboClawConfig))
    registry.register("pulse_oximeter", "nonin-emulated", EmulatedNoninConfig,
                      _factory("pulse_oximeter", vitals.NoninPulseOximeter, vitals.NoninConfig))
    for kind, cls in (("thermometer", vitals.SerialThermometer), ("blood_pressure", vitals.SerialBloodPressure),
                      ("glucometer", vitals.SerialGlucometer), ("scale", vitals.SerialScale)):
        registry.register(kind, "serial-emulated", EmulatedBedsideConfig,
                          _factory(kind, cls, vitals.SerialVitalsConfig))
