"""The robot's `SiteMap` view of a simulated world (zones and route distances)."""

from __future__ import annotations

import math

from hal.geometry import Pose2D
from sim.world import World


class WorldSiteMap:
    def __init__(self, world: World) -> None:
        self._world = world
        self._cache: dict[tuple[str, str], float] = {}

    def speed_limit_at_mps(self, x_m: float, y_m: float, level: int = 0) -> float:
        return self._world.speed_limit_at_mps(x_m, y_m, level)

    def route_distance_m(self, pose: Pose2D, place: str) -> float:
        routes = self._world.routes
        node = routes.nearest_node(pose.x_m, pose.y_m, pose.level)
        key = (node, place)
        if key not in self._cache:
            try:
                self._cache[key] = routes.distance_m(node, place)
            except ValueError:
                self._cache[key] = math.inf
        x_m, y_m = routes.position(node)
        return math.hypot(pose.x_m - x_m, pose.y_m - y_m) + self._cache[key]
