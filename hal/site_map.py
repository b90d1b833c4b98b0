"""What the robot needs to know about its site at run time, whatever the map's source."""

from __future__ import annotations

from typing import Protocol

from hal.geometry import Pose2D


class SiteMap(Protocol):
    def speed_limit_at_mps(self, x_m: float, y_m: float, level: int = 0) -> float:
        """Zone speed limit at a point (slower in wards)."""
        ...

    def route_distance_m(self, pose: Pose2D, place: str) -> float:
        """Length of the route from a pose to a named place (inf when unreachable)."""
        ...


class OpenSiteMap:
    """A site without zones or routes: the robot's own top speed everywhere, docks 'near'.
    For bench tests of a single robot, never for a hospital."""

    def __init__(self, speed_limit_mps: float = 1.0) -> None:
        self._speed_limit_mps = speed_limit_mps

    def speed_limit_at_mps(self, x_m: float, y_m: float, level: int = 0) -> float:
        return self._speed_limit_mps

    def route_distance_m(self, pose: Pose2D, place: str) -> float:
        return 0.0
