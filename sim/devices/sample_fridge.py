"""Simulated sample fridge: about 4.5 °C with the compressor's slow cycle and probe noise, or
the temperature of an excursion the scenario seeded (`lab_site(env).excursions`)."""

from __future__ import annotations

import math

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from hal.sample_fridge import FridgeReading, SampleFridge
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.lab_samples import lab_site


class SimSampleFridgeConfig(DeviceConfig):
    setpoint_c: float = 4.5
    cycle_amplitude_c: float = 0.6
    cycle_period_s: float = 1800.0
    noise_c: float = 0.05


class SimSampleFridge(SampleFridge):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody,
                 config: SimSampleFridgeConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config

    def read_temperature(self) -> FridgeReading:
        self._require_open()
        self.sim.raise_on_fault()
        now_s = self.clock.now_s()
        cfg = self.config
        excursion = lab_site(self.sim.env).fridge_temperature_c(self.sim.robot_id, now_s)
        base = excursion if excursion is not None else cfg.setpoint_c + cfg.cycle_amplitude_c * math.sin(
            2 * math.pi * now_s / cfg.cycle_period_s)
        value = base + cfg.noise_c * float(self.sim.rng().standard_normal())
        return FridgeReading(round(value, 2), False, now_s)

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimSampleFridgeConfig, ctx: BuildContext) -> SimSampleFridge:
    env, body = sim_context(ctx)
    return SimSampleFridge(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("sample_fridge", "sim", SimSampleFridgeConfig, build)
