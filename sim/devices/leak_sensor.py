"""Simulated floor-moisture probe: wet where `sim.security_world` has a puddle under the robot."""

from __future__ import annotations

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.leak_sensor import LeakReading, LeakSensor
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.security_world import security_world_for


class SimLeakSensorConfig(DeviceConfig):
    wet_threshold_fraction: float = 0.3
    noise_sigma_fraction: float = 0.02


class SimLeakSensor(LeakSensor):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimLeakSensorConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.security = security_world_for(env)

    def read(self) -> LeakReading:
        self._require_open()
        self.sim.raise_on_fault()
        now_s = self.clock.now_s()
        noise = abs(float(self.sim.rng().normal(0.0, self.config.noise_sigma_fraction)))
        moisture = min(1.0, self.security.floor_moisture(self.sim.body.pose, now_s) + noise)
        return LeakReading(round(moisture, 3), moisture >= self.config.wet_threshold_fraction, now_s)

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimLeakSensorConfig, ctx: BuildContext) -> SimLeakSensor:
    env, body = sim_context(ctx)
    return SimLeakSensor(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("leak_sensor", "sim", SimLeakSensorConfig, build)
