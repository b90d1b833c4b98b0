"""Simulated contact bumper: the body's contact flag from its last integration step (a wall, another
robot's footprint or a person: `SimBody.last_contact` says which, `SimEnvironment.contacts` counts them)."""

from __future__ import annotations

from hal.bumper import Bumper, BumperState
from hal.clock import Clock
from hal.device import DeviceHealth
from hal.registry import BuildContext, DeviceConfig
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment


class SimBumperConfig(DeviceConfig):
    pass


class SimBumper(Bumper):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimBumperConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)

    def state(self) -> BumperState:
        self._require_open()
        return BumperState(self.sim.body.bumper_contact, self.clock.now_s())

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimBumperConfig, ctx: BuildContext) -> SimBumper:
    env, body = sim_context(ctx)
    return SimBumper(name, ctx.clock, env, body, config)
