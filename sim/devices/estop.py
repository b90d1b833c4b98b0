"""Simulated e-stop button: pressed and released through the environment (tests, scenarios)."""

from __future__ import annotations

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.estop import EStop, EStopState
from hal.registry import BuildContext, DeviceConfig
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment


class SimEStopConfig(DeviceConfig):
    source: str = "button"  # reported while released


class SimEStop(EStop):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimEStopConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config

    def state(self) -> EStopState:
        """A faulted e-stop channel raises: the robot must treat an unreadable e-stop as pressed."""
        self._require_open()
        self.sim.raise_on_fault()
        source = self.sim.env.estop_pressed(self.sim.robot_id)
        return EStopState(source is not None, source or self.config.source, self.clock.now_s())

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimEStopConfig, ctx: BuildContext) -> SimEStop:
    env, body = sim_context(ctx)
    return SimEStop(name, ctx.clock, env, body, config)
