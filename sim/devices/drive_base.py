"""Simulated drive base: writes the body's commanded velocity; odometry from the body."""

from __future__ import annotations

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.drive_base import DriveBase, Odometry
from hal.geometry import Twist2D
from hal.registry import BuildContext, DeviceConfig
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment


class SimDriveBaseConfig(DeviceConfig):
    max_speed_mps: float | None = None  # None: the body's own limit
    max_angular_radps: float = 1.5


class SimDriveBase(DriveBase):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimDriveBaseConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self._max_speed_mps = min(config.max_speed_mps or body.max_speed_mps, body.max_speed_mps)
        self._max_angular_radps = config.max_angular_radps
        self._commanded = Twist2D.zero()

    @property
    def max_speed_mps(self) -> float:
        return self._max_speed_mps

    def command_velocity(self, twist: Twist2D) -> None:
        self._require_open()
        if self.sim.fault() is not None:
            twist = Twist2D.zero()  # a faulted motor controller does not move (and says so in health)
        v = max(-self._max_speed_mps, min(self._max_speed_mps, twist.linear_mps))
        w = max(-self._max_angular_radps, min(self._max_angular_radps, twist.angular_radps))
        self._commanded = Twist2D(v, w)
        self.sim.body.commanded = self._commanded

    def commanded_velocity(self) -> Twist2D:
        return self._commanded

    def odometry(self) -> Odometry:
        body = self.sim.body
        return Odometry(body.pose, body.velocity, body.distance_travelled_m, self.clock.now_s())

    def close(self) -> None:
        self._commanded = Twist2D.zero()
        self.sim.body.commanded = self._commanded
        super().close()

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimDriveBaseConfig, ctx: BuildContext) -> SimDriveBase:
    env, body = sim_context(ctx)
    return SimDriveBase(name, ctx.clock, env, body, config)
