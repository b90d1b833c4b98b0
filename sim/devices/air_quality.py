"""Simulated smoke/CO sensor: reads `sim.security_world`'s air at the robot's pose."""

from __future__ import annotations

from hal.air_quality import AirQualityReading, AirQualitySensor
from hal.clock import Clock
from hal.device import DeviceHealth
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.security_world import security_world_for


class SimAirQualityConfig(DeviceConfig):
    pass


class SimAirQuality(AirQualitySensor):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimAirQualityConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.security = security_world_for(env)

    def read(self) -> AirQualityReading:
        self._require_open()
        self.sim.raise_on_fault()
        now_s = self.clock.now_s()
        smoke, co = self.security.air(self.sim.body.pose, now_s, self.sim.rng())
        return AirQualityReading(smoke, co, now_s)

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimAirQualityConfig, ctx: BuildContext) -> SimAirQuality:
    env, body = sim_context(ctx)
    return SimAirQuality(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("air_quality", "sim", SimAirQualityConfig, build)
