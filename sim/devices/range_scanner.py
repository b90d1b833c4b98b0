"""Simulated 2D lidar: ray-cast on the body's level's occupancy grid, and on the footprints of the
other robots and the people there (`SimEnvironment.obstacle_circles`), from the body's pose."""

from __future__ import annotations

import math

import numpy as np

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.range_scanner import LaserScan, RangeScanner
from hal.registry import BuildContext, DeviceConfig
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.lidar import default_scan_angles, raycast, raycast_circles


class SimRangeScannerConfig(DeviceConfig):
    n_beams: int = 360
    fov_rad: float = 2 * math.pi
    range_min_m: float = 0.05
    range_max_m: float = 12.0
    noise_sigma_m: float = 0.01


class SimRangeScanner(RangeScanner):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimRangeScannerConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self._angles = default_scan_angles(config.n_beams, config.fov_rad)

    def scan(self) -> LaserScan:
        self._require_open()
        self.sim.raise_on_fault()
        pose = self.sim.body.pose
        world = self.sim.env.world
        grid = world.grids.get(pose.level, world.grid)
        range_max_m = self.config.range_max_m
        ranges = raycast(grid, pose.x_m, pose.y_m, pose.yaw_rad, self._angles, range_max_m)
        cx, cy, radii = self.sim.env.obstacle_circles(pose.level, pose.x_m, pose.y_m, range_max_m,
                                                      exclude=self.sim.robot_id)
        if len(cx):
            ranges = np.minimum(ranges, raycast_circles(pose.x_m, pose.y_m, pose.yaw_rad, self._angles,
                                                        cx, cy, radii, range_max_m))
        if self.config.noise_sigma_m > 0:
            noise = self.sim.rng().normal(0.0, self.config.noise_sigma_m, size=ranges.shape)
            ranges = np.where(np.isfinite(ranges), ranges + noise, ranges).astype(np.float32)
        ranges = np.maximum(ranges, np.float32(self.config.range_min_m))
        increment = float(self._angles[1] - self._angles[0]) if len(self._angles) > 1 else 0.0
        return LaserScan(
            float(self._angles[0]),
            increment,
            self.config.range_min_m,
            self.config.range_max_m,
            ranges.astype(np.float32),
            self.clock.now_s(),
        )

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimRangeScannerConfig, ctx: BuildContext) -> SimRangeScanner:
    env, body = sim_context(ctx)
    return SimRangeScanner(name, ctx.clock, env, body, config)
