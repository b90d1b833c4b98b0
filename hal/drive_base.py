"""Drive base: velocity command in, odometry out. Only the safety supervisor commands it."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device
from hal.geometry import Pose2D, Twist2D


@dataclass(frozen=True, slots=True)
class Odometry:
    pose: Pose2D  # in the odom frame
    velocity: Twist2D  # measured, base_link frame
    distance_travelled_m: float
    stamp_s: float


class DriveBase(Device):
    kind = "drive_base"

    @abstractmethod
    def command_velocity(self, twist: Twist2D) -> None:
        """Set the commanded velocity; holds until the next command (the supervisor's watchdog
        guards against a stale one)."""

    @abstractmethod
    def commanded_velocity(self) -> Twist2D:
        """The last command actually sent to the motors."""

    @abstractmethod
    def odometry(self) -> Odometry: ...

    @property
    @abstractmethod
    def max_speed_mps(self) -> float: ...
