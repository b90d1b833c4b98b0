"""Simulated area dosimeter: background plus scatter from the dose delivered in its room."""

from __future__ import annotations

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.dosimeter import DoseReading, Dosimeter
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.devices.xray import bind_room
from sim.environment import SimEnvironment
from sim.imaging_patients import ImagingRoom


class SimDosimeterConfig(DeviceConfig):
    room: str = "radiology-xray"
    background_usv_per_h: float = 0.1
    #: scatter reaching the dosimeter (behind the robot's shield, ~2 m) per unit of DAP
    scatter_usv_per_mgy_cm2: float = 0.002
    exposing_rate_usv_per_h: float = 800.0


class SimDosimeter(Dosimeter):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, room: ImagingRoom,
                 config: SimDosimeterConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.room_model = room
        self.config = config
        self._start_s: float | None = None
        self._start_dap = 0.0

    def setup(self) -> None:
        super().setup()
        self._start_s = self.clock.now_s()
        self._start_dap = self.room_model.dap_delivered_mgy_cm2

    def read(self) -> DoseReading:
        self._require_open()
        self.sim.raise_on_fault()
        cfg, now_s = self.config, self.clock.now_s()
        hours = (now_s - (self._start_s if self._start_s is not None else now_s)) / 3600.0
        scatter = (self.room_model.dap_delivered_mgy_cm2 - self._start_dap) * cfg.scatter_usv_per_mgy_cm2
        rate = cfg.exposing_rate_usv_per_h if self.room_model.exposing else cfg.background_usv_per_h
        return DoseReading(round(hours * cfg.background_usv_per_h + scatter, 6), rate, now_s)

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimDosimeterConfig, ctx: BuildContext) -> SimDosimeter:
    env, body = sim_context(ctx)
    return SimDosimeter(name, ctx.clock, env, body, bind_room(ctx, env, body, config.room), config)


def register(registry: DeviceRegistry) -> None:
    registry.register("dosimeter", "sim", SimDosimeterConfig, build)
