"""Navigator on Nav2: each goal is a `nav2_msgs/action/NavigateToPose` goal (robot hardware).

Nav2 drives the base itself, behind its own collision monitor, so `velocity_request()` is None.
`nav2_msgs` exists only on a full ROS 2 install, so it is imported when the device is set up; the
translation (named place → map pose, feedback, goal status → handle status) is plain Python and
tested without it. The device needs the robot node (`ros_node` in the build extras) for its
action client; all callbacks run on that node's executor, the same thread as the tick.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth, HealthStatus
from hal.geometry import Pose2D, Twist2D
from hal.handle import HandleStatus
from hal.navigation_handle import NavigationGoalHandle
from hal.navigator import NavigationFeedback, NavigationGoal, NavigationHandle, NavigationResult, Navigator
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry

# action_msgs/GoalStatus codes (stable since ROS 2 Dashing)
STATUS_SUCCEEDED, STATUS_CANCELED, STATUS_ABORTED = 4, 5, 6


class Nav2NavigatorConfig(DeviceConfig):
    action_name: str = "navigate_to_pose"
    #: a world file (its `places:` list gives each named place's map pose)
    places_file: str
    frame_id: str = "map"
    behavior_tree: str = ""  # empty: Nav2's default navigate-to-pose tree
    server_timeout_s: float = 5.0


def load_places(path: str | Path) -> dict[str, Pose2D]:
    """Named places from a world file's `places:` list (x, y in metres, yaw in degrees)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return {str(p["name"]): Pose2D(float(p["x"]), float(p["y"]), math.radians(float(p.get("yaw_deg", 0.0))),
                                   int(p.get("level", 0)))
            for p in data.get("places", [])}


def goal_pose(goal: NavigationGoal, places: dict[str, Pose2D]) -> Pose2D:
    if goal.pose is not None:
        return goal.pose
    assert goal.place is not None
    if goal.place not in places:
        raise DeviceError("nav2", f"unknown place {goal.place!r} (known: {len(places)} places)")
    return places[goal.place]


def pose_fields(pose: Pose2D) -> dict[str, float]:
    """A planar pose as geometry_msgs/Pose fields (REP 103: yaw about +z)."""
    return {"x": pose.x_m, "y": pose.y_m, "qz": math.sin(pose.yaw_rad / 2.0), "qw": math.cos(pose.yaw_rad / 2.0)}


def pose_from_fields(x: float, y: float, qz: float, qw: float, level: int = 0) -> Pose2D:
    return Pose2D(x, y, 2.0 * math.atan2(qz, qw), level)


def handle_status(goal_status: int) -> HandleStatus:
    return {STATUS_SUCCEEDED: HandleStatus.SUCCEEDED, STATUS_CANCELED: HandleStatus.CANCELLED}.get(
        goal_status, HandleStatus.FAILED)


class Nav2Handle(NavigationGoalHandle):
    """One NavigateToPose goal. Fed by the action client's futures and feedback callback."""

    def __init__(self, start_pose: Pose2D, start_s: float, now_fn: Any) -> None:
        super().__init__()
        self._now = now_fn
        self._start_pose, self._start_s = start_pose, start_s
        self.goal_handle: Any = None  # rclpy ClientGoalHandle once Nav2 accepted
        self.cancel_requested = False

    def on_feedback(self, distance_remaining_m: float, current: Pose2D) -> None:
        self.set_feedback(NavigationFeedback(distance_remaining_m, current, self._now()))

    def on_rejected(self) -> None:
        self.fail("Nav2 rejected the goal")

    def on_result(self, goal_status: int, error_msg: str = "") -> None:
        status = handle_status(goal_status)
        if status is HandleStatus.SUCCEEDED:
            final = self.feedback.current_pose if self.feedback is not None else self._start_pose
            self.succeed(NavigationResult(final, final.distance_to_m(self._start_pose), self._now() - self._start_s))
        else:
            self.finish(status, error=f"Nav2 goal ended with status {goal_status}"
                        + (f": {error_msg}" if error_msg else ""))

    def cancel(self) -> None:
        if self.status is not HandleStatus.RUNNING:
            return
        self.cancel_requested = True
        if self.goal_handle is not None:
            self.goal_handle.cancel_goal_async()
        super().cancel()  # missions stop waiting at once; Nav2 stops the base


class Nav2Navigator(Navigator):
    def __init__(self, name: str, clock: Clock, config: Nav2NavigatorConfig, node: Any) -> None:
        super().__init__(name, clock)
        self.config = config
        self._node = node
        self._places = load_places(config.places_file)
        self._client: Any = None
        self._goal_type: Any = None
        self._handle: Nav2Handle | None = None
        self._pose = Pose2D(0.0, 0.0, 0.0)

    def setup(self) -> None:
        from nav2_msgs.action import NavigateToPose  # a full ROS 2 install only
        from rclpy.action import ActionClient

        self._goal_type = NavigateToPose
        self._client = ActionClient(self._node, NavigateToPose, self.config.action_name)
        super().setup()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self._client is not None:
            self._client.destroy()
            self._client = None
        super().close()

    def health(self) -> DeviceHealth:
        if not self.is_open:
            return self._health(HealthStatus.STALE, "not set up")
        if not self._client.server_is_ready():
            return self._health(HealthStatus.ERROR, f"no Nav2 action server {self.config.action_name!r}")
        return self._health(HealthStatus.OK)

    def known_places(self) -> list[str]:
        return sorted(self._places)

    def velocity_request(self) -> Twist2D | None:
        return None  # Nav2's controller drives the base

    def step(self, now_s: float) -> None:
        """Nothing to advance: Nav2 runs the controller; our callbacks arrive on the executor."""

    def start_go_to(self, goal: NavigationGoal) -> NavigationHandle:
        self._require_open()
        target = goal_pose(goal, self._places)
        if self._handle is not None:
            self._handle.cancel()
        if not self._client.server_is_ready():
            raise DeviceError(self.name, f"Nav2 action server {self.config.action_name!r} is not available")
        msg = self._goal_type.Goal()
        msg.pose.header.frame_id = self.config.frame_id
        fields = pose_fields(target)
        msg.pose.pose.position.x, msg.pose.pose.position.y = fields["x"], fields["y"]
        msg.pose.pose.orientation.z, msg.pose.pose.orientation.w = fields["qz"], fields["qw"]
        msg.behavior_tree = self.config.behavior_tree
        handle = Nav2Handle(self._pose, self.clock.now_s(), self.clock.now_s)
        self._handle = handle

        def on_feedback(message: Any) -> None:
            fb = message.feedback
            p = fb.current_pose.pose
            self._pose = pose_from_fields(p.position.x, p.position.y, p.orientation.z, p.orientation.w)
            handle.on_feedback(float(fb.distance_remaining), self._pose)

        def on_accepted(future: Any) -> None:
            goal_handle = future.result()
            if not goal_handle.accepted:
                handle.on_rejected()
                return
            handle.goal_handle = goal_handle
            if handle.cancel_requested:
                goal_handle.cancel_goal_async()
            goal_handle.get_result_async().add_done_callback(
                lambda f: handle.on_result(int(f.result().status), str(getattr(f.result().result, "error_msg", ""))))

        self._client.send_goal_async(msg, feedback_callback=on_feedback).add_done_callback(on_accepted)
        return handle


def register(registry: DeviceRegistry) -> None:
    def build(name: str, config: Nav2NavigatorConfig, ctx: BuildContext) -> Nav2Navigator:
        node = ctx.extras.get("ros_node")
        if node is None:
            raise KeyError("the nav2 navigator runs inside the ROS robot node (extras 'ros_node')")
        return Nav2Navigator(name, ctx.clock, config, node)

    registry.register("navigator", "nav2", Nav2NavigatorConfig, build)
