"""Plain geometry types shared by devices (REP 103: metres, radians, counter-clockwise yaw)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pose2D:
    x_m: float
    y_m: float
    yaw_rad: float
    level: int = 0  # floor, so that the format is ready for lifts

    def distance_to_m(self, other: Pose2D) -> float:
        return math.hypot(other.x_m - self.x_m, other.y_m - self.y_m)


@dataclass(frozen=True, slots=True)
class Twist2D:
    linear_mps: float
    angular_radps: float

    @staticmethod
    def zero() -> Twist2D:
        return Twist2D(0.0, 0.0)

    @property
    def is_zero(self) -> bool:
        return self.linear_mps == 0.0 and self.angular_radps == 0.0


def wrap_angle_rad(angle_rad: float) -> float:
    """Wrap to (-pi, pi]."""
    wrapped = math.atan2(math.sin(angle_rad), math.cos(angle_rad))
    return math.pi if wrapped == -math.pi else wrapped
