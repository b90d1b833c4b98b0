"""Simulated battery: the body's charge model."""

from __future__ import annotations

from hal.battery import Battery, BatteryState
from hal.clock import Clock
from hal.device import DeviceHealth, HealthStatus
from hal.registry import BuildContext, DeviceConfig
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment


class SimBatteryConfig(DeviceConfig):
    low_warning_fraction: float = 0.15


class SimBattery(Battery):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimBatteryConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config

    def state(self) -> BatteryState:
        self._require_open()
        body = self.sim.body
        return BatteryState(body.soc_fraction, body.voltage_v, body.current_a, body.is_charging, self.clock.now_s())

    def health(self) -> DeviceHealth:
        health = self.sim.health()
        if health.status is HealthStatus.OK and self.sim.body.soc_fraction < self.config.low_warning_fraction:
            return self._health(HealthStatus.WARNING, f"low charge {self.sim.body.soc_fraction:.0%}")
        return health


def build(name: str, config: SimBatteryConfig, ctx: BuildContext) -> SimBattery:
    env, body = sim_context(ctx)
    return SimBattery(name, ctx.clock, env, body, config)
