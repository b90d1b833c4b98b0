"""The Nav2 adapter's translation, without nav2_msgs (which only a full ROS 2 install has)."""

from __future__ import annotations

import math

import pytest

from hal.device import DeviceError
from hal.drivers.nav2_navigator import (
    STATUS_ABORTED,
    STATUS_CANCELED,
    STATUS_SUCCEEDED,
    Nav2Handle,
    Nav2NavigatorConfig,
    goal_pose,
    load_places,
    pose_fields,
    pose_from_fields,
    register,
)
from hal.geometry import Pose2D
from hal.handle import HandleStatus
from hal.navigator import NavigationGoal
from hal.registry import BuildContext, ConfigError, DeviceRegistry
from sim.world import default_world_path


class FakeClock:
    def __init__(self) -> None:
        self.t_s = 100.0

    def now_s(self) -> float:
        return self.t_s


class FakeGoalHandle:
    def __init__(self) -> None:
        self.cancels = 0

    def cancel_goal_async(self) -> None:
        self.cancels += 1


def test_named_places_become_map_poses_from_the_world_file() -> None:
    places = load_places(default_world_path())
    dock = goal_pose(NavigationGoal(place="dock-ward-a"), places)
    assert (dock.x_m, dock.y_m) == (44.0, 59.0) and dock.yaw_rad == pytest.approx(math.pi / 2)
    explicit = Pose2D(1.0, 2.0, 0.5)
    assert goal_pose(NavigationGoal(pose=explicit), places) is explicit
    with pytest.raises(DeviceError, match="unknown place 'dock-nowhere'"):
        goal_pose(NavigationGoal(place="dock-nowhere"), places)


@pytest.mark.parametrize("yaw_rad", [0.0, 1.0, -2.5, math.pi - 1e-9])
def test_pose_round_trips_through_quaternion_fields(yaw_rad: float) -> None:
    fields = pose_fields(Pose2D(3.0, -4.0, yaw_rad))
    assert math.hypot(fields["qz"], fields["qw"]) == pytest.approx(1.0)
    back = pose_from_fields(fields["x"], fields["y"], fields["qz"], fields["qw"])
    assert (back.x_m, back.y_m) == (3.0, -4.0) and back.yaw_rad == pytest.approx(yaw_rad)


def test_goal_status_maps_onto_the_handle() -> None:
    clock = FakeClock()
    ok = Nav2Handle(Pose2D(0.0, 0.0, 0.0), clock.t_s, clock.now_s)
    ok.on_feedback(2.5, Pose2D(3.0, 4.0, 0.0))
    assert ok.feedback is not None and ok.feedback.distance_remaining_m == 2.5
    clock.t_s += 12.0
    ok.on_result(STATUS_SUCCEEDED)
    assert ok.poll() is HandleStatus.SUCCEEDED and ok.result is not None
    assert ok.result.distance_travelled_m == pytest.approx(5.0) and ok.result.duration_s == pytest.approx(12.0)

    aborted = Nav2Handle(Pose2D(0.0, 0.0, 0.0), clock.t_s, clock.now_s)
    aborted.on_result(STATUS_ABORTED, "no valid path")
    assert aborted.poll() is HandleStatus.FAILED and aborted.error is not None and "no valid path" in aborted.error

    rejected = Nav2Handle(Pose2D(0.0, 0.0, 0.0), clock.t_s, clock.now_s)
    rejected.on_rejected()
    assert rejected.poll() is HandleStatus.FAILED

    external = Nav2Handle(Pose2D(0.0, 0.0, 0.0), clock.t_s, clock.now_s)
    external.on_result(STATUS_CANCELED)
    assert external.poll() is HandleStatus.CANCELLED and external.error is None


def test_cancel_reaches_nav2_once_accepted_and_a_late_result_does_not_revive_it() -> None:
    clock = FakeClock()
    handle = Nav2Handle(Pose2D(0.0, 0.0, 0.0), clock.t_s, clock.now_s)
    goal = FakeGoalHandle()
    handle.goal_handle = goal
    handle.cancel()
    handle.cancel()
    assert handle.poll() is HandleStatus.CANCELLED and goal.cancels == 1
    handle.on_result(STATUS_SUCCEEDED)  # Nav2 had already arrived when the cancel landed
    assert handle.poll() is HandleStatus.CANCELLED and handle.result is None

    early = Nav2Handle(Pose2D(0.0, 0.0, 0.0), clock.t_s, clock.now_s)
    early.cancel()  # before Nav2 answered the goal: the acceptance callback cancels it
    assert early.cancel_requested and early.poll() is HandleStatus.CANCELLED


def test_registered_as_navigator_nav2_and_needs_the_ros_node() -> None:
    registry = DeviceRegistry()
    register(registry)
    assert "nav2" in registry.models("navigator")
    spec = {"kind": "navigator", "model": "nav2", "places_file": str(default_world_path())}
    with pytest.raises(ConfigError, match="ros_node"):
        registry.build("nav", spec, BuildContext(clock=FakeClock(), robot_id="r1"),  # type: ignore[arg-type]
                       source="test", field_path="devices.nav")
    assert Nav2NavigatorConfig(places_file="x").action_name == "navigate_to_pose"
