"""Navigator: go to a named place or a pose, as a handle (the shape of Nav2's NavigateToPose)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device
from hal.geometry import Pose2D, Twist2D
from hal.handle import Handle


@dataclass(frozen=True, slots=True)
class NavigationGoal:
    place: str | None = None  # a named place of the map, or
    pose: Pose2D | None = None  # an explicit pose

    def __post_init__(self) -> None:
        if (self.place is None) == (self.pose is None):
            raise ValueError("NavigationGoal needs exactly one of place or pose")

    def describe(self) -> str:
        return self.place if self.place is not None else f"pose {self.pose}"


@dataclass(frozen=True, slots=True)
class NavigationFeedback:
    distance_remaining_m: float
    current_pose: Pose2D
    stamp_s: float


@dataclass(frozen=True, slots=True)
class NavigationResult:
    final_pose: Pose2D
    distance_travelled_m: float
    duration_s: float


NavigationHandle = Handle[NavigationResult, NavigationFeedback]


class Navigator(Device):
    kind = "navigator"

    @abstractmethod
    def start_go_to(self, goal: NavigationGoal) -> NavigationHandle:
        """Start navigating; any previous goal is cancelled. Unknown place → DeviceError at once."""

    @abstractmethod
    def velocity_request(self) -> Twist2D | None:
        """Velocity this navigator wants this tick, or None when it is not driving.

        The robot passes it through the safety supervisor to the drive base, so that e-stop,
        watchdog and zone limits apply to navigation too. A navigator that drives the base by
        itself (Nav2 on hardware, behind its own collision monitor) returns None.
        """

    @abstractmethod
    def step(self, now_s: float) -> None:
        """Advance the navigator's controller once per robot tick."""

    @abstractmethod
    def known_places(self) -> list[str]: ...
