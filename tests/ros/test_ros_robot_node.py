"""A simulated nursing robot as a ROS 2 node in its own process, seen from this process.

The tests run in file order on one robot (module fixture): topics first, then missions (the
robot ends each near its home dock), then a device fault.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
from conftest import NS, ROBOT_ID, START_PLACE
from ros_harness import Probe, wait_for

from hal.clock import DEFAULT_SIM_EPOCH_S
from sim.world import load_default_world

pytestmark = pytest.mark.timeout(60)

START_POSE = load_default_world().place(START_PLACE).pose
DOCK_POSE = load_default_world().place("dock-ward-a").pose


@pytest.fixture(scope="module")
def topics(sim_robot: Any, probe: Probe) -> Probe:
    from diagnostic_msgs.msg import DiagnosticArray
    from nav_msgs.msg import Odometry
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import BatteryState, CompressedImage, LaserScan

    probe.subscribe(Odometry, f"{NS}/odom")
    probe.subscribe(BatteryState, f"{NS}/battery_state")
    probe.subscribe(LaserScan, f"{NS}/scan", qos_profile_sensor_data)
    probe.subscribe(CompressedImage, f"{NS}/camera/image_raw/compressed", qos_profile_sensor_data)
    probe.subscribe(DiagnosticArray, "/diagnostics")
    return probe


def _action_client(probe: Probe) -> Any:
    from medbot_interfaces.action import RunMission
    from rclpy.action import ActionClient

    client: Any = ActionClient(probe.node, RunMission, f"{NS}/run_mission")
    assert client.wait_for_server(timeout_sec=5.0), "run_mission action server not found"
    return client


def _send(client: Any, kind: str, params: dict[str, Any], feedback: list[Any], mission_id: str = "") -> Any:
    from medbot_interfaces.action import RunMission

    goal = RunMission.Goal(kind=kind, params_json=json.dumps(params), mission_id=mission_id)
    future = client.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f.feedback))
    handle = wait_for(lambda: future.done() and future.result(), 5.0, "the goal to be answered")
    assert handle.accepted
    return handle


def _result(handle: Any, timeout_s: float) -> Any:
    future = handle.get_result_async()
    return wait_for(lambda: future.done() and future.result(), timeout_s, "the mission's result")


def _trigger(probe: Probe, name: str) -> Any:
    from std_srvs.srv import Trigger

    return probe.call(Trigger, f"{NS}/{name}", Trigger.Request())


def test_standard_topics_carry_plausible_values(topics: Probe) -> None:
    odom = topics.message(f"{NS}/odom")
    assert (odom.header.frame_id, odom.child_frame_id) == ("odom", "base_link")
    assert math.dist((odom.pose.pose.position.x, odom.pose.pose.position.y), (START_POSE.x_m, START_POSE.y_m)) < 1.0
    quaternion_norm = math.hypot(odom.pose.pose.orientation.z, odom.pose.pose.orientation.w)
    assert quaternion_norm == pytest.approx(1.0)
    stamp_s = odom.header.stamp.sec + odom.header.stamp.nanosec / 1e9
    assert DEFAULT_SIM_EPOCH_S < stamp_s < DEFAULT_SIM_EPOCH_S + 3600  # sim time from our /clock

    battery = topics.message(f"{NS}/battery_state")
    assert 0.5 < battery.percentage <= 1.0 and 20.0 < battery.voltage < 60.0
    assert battery.present

    scan = topics.message(f"{NS}/scan")
    ranges = [r for r in scan.ranges if math.isfinite(r)]
    assert scan.header.frame_id == "laser" and len(scan.ranges) > 90
    assert scan.angle_max == pytest.approx(scan.angle_min + scan.angle_increment * (len(scan.ranges) - 1), rel=1e-4)
    assert ranges and all(scan.range_min <= r <= scan.range_max for r in ranges)  # walls of the utility room

    image = topics.message(f"{NS}/camera/image_raw/compressed")
    assert image.format == "jpeg" and bytes(image.data[:2]) == b"\xff\xd8"

    diagnostics = topics.message("/diagnostics", where=lambda m: any(s.hardware_id == ROBOT_ID for s in m.status))
    names = {s.name for s in diagnostics.status if s.hardware_id == ROBOT_ID}
    assert {f"{ROBOT_ID}/lidar", f"{ROBOT_ID}/battery", f"{ROBOT_ID}/base"} <= names

    state = topics.message(f"{NS}/robot_state")
    assert (state.robot_id, state.kind, state.operating_mode) == (ROBOT_ID, "nursing", "automatic")
    assert state.safety_state == "normal" and not state.estop_latched
    assert len(state.device_names) == len(state.device_health) > 10


def test_mission_runs_through_the_action_with_feedback_and_result(topics: Probe) -> None:
    client = _action_client(topics)
    feedback: list[Any] = []
    handle = _send(client, "return_to_dock", {}, feedback, mission_id="ros-dock-001")
    result = _result(handle, 30.0).result
    assert (result.mission_id, result.outcome) == ("ros-dock-001", "succeeded"), result.reason
    assert feedback and {f.mission_id for f in feedback} == {"ros-dock-001"}
    assert any(f.state == "running" and f.step for f in feedback)
    topics.clear(f"{NS}/odom")
    odom = topics.message(f"{NS}/odom")
    assert math.dist((odom.pose.pose.position.x, odom.pose.pose.position.y), (DOCK_POSE.x_m, DOCK_POSE.y_m)) < 0.5


def test_bad_goal_is_rejected_with_a_reason(topics: Probe) -> None:
    client = _action_client(topics)
    handle = _send(client, "return_to_dock", {"no_such_field": 1}, [])
    result = _result(handle, 5.0).result
    assert result.outcome == "rejected" and "no_such_field" in result.reason
    handle = _send(client, "lab_run", {}, [])  # not a nursing robot's capability
    assert _result(handle, 5.0).result.outcome == "rejected"


def test_mission_can_be_cancelled(topics: Probe) -> None:
    from action_msgs.msg import GoalStatus

    client = _action_client(topics)
    feedback: list[Any] = []
    handle = _send(client, "return_to_dock", {"dock": "dock-ward-b"}, feedback)  # far away
    wait_for(lambda: any(f.state == "running" for f in feedback), 10.0, "the mission to start")
    cancel = handle.cancel_goal_async()
    wait_for(cancel.done, 5.0, "the cancel answer")
    answer = _result(handle, 10.0)
    assert answer.status == GoalStatus.STATUS_CANCELED
    assert answer.result.outcome == "cancelled"
    state = topics.message(f"{NS}/robot_state", where=lambda m: not m.has_mission)
    assert state.mission.mission_id == ""


def _at_rest(odom: Any) -> Any:
    return odom if abs(odom.twist.twist.linear.x) < 1e-3 and abs(odom.twist.twist.angular.z) < 1e-3 else None


def test_pause_and_resume(topics: Probe) -> None:
    client = _action_client(topics)
    feedback: list[Any] = []
    handle = _send(client, "return_to_dock", {"dock": "dock-ward-b"}, feedback)  # long enough to pause
    wait_for(lambda: any(f.state == "running" for f in feedback), 10.0, "the mission to start")
    wait_for(lambda: abs(topics.message(f"{NS}/odom").twist.twist.linear.x) > 0.05, 10.0, "the robot to drive")
    assert _trigger(topics, "pause").success
    wait_for(lambda: any(f.state == "paused" for f in feedback), 5.0, "paused feedback")
    topics.message(f"{NS}/robot_state", where=lambda m: m.operating_mode == "paused")
    # A pause brakes at the drive's deceleration (about 1 s of sim time from cruise), and on a
    # loaded machine the node's sim time runs behind /clock: measure from when it has stopped.
    topics.clear(f"{NS}/odom")
    first = wait_for(lambda: _at_rest(topics.message(f"{NS}/odom")), 10.0, "the paused robot to stop")
    time.sleep(1.0)  # 8 s of sim time: a paused robot stands still
    last = topics.message(f"{NS}/odom")
    assert abs(last.twist.twist.linear.x) < 1e-3
    assert math.dist((first.pose.pose.position.x, first.pose.pose.position.y),
                     (last.pose.pose.position.x, last.pose.pose.position.y)) < 0.01

    assert _trigger(topics, "resume").success
    wait_for(lambda: any(f.state == "running" for f in feedback[-3:]), 5.0, "running feedback again")
    wait_for(lambda: abs(topics.message(f"{NS}/odom").twist.twist.linear.x) > 0.05, 10.0, "the robot to drive on")
    assert topics.message(f"{NS}/robot_state").operating_mode == "automatic"
    handle.cancel_goal_async()  # the far dock is not the point here
    assert _result(handle, 10.0).result.outcome == "cancelled"


def test_device_fault_shows_in_diagnostics(topics: Probe) -> None:
    from diagnostic_msgs.msg import DiagnosticStatus
    from medbot_interfaces.srv import InjectFault

    def lidar_level(msg: Any) -> int | None:
        return next((s.level for s in msg.status if s.name == f"{ROBOT_ID}/lidar"), None)

    answer = topics.call(InjectFault, f"{NS}/sim/inject_fault",
                         InjectFault.Request(device="lidar", reason="laser window dirty"))
    assert answer.success, answer.message
    faulted = topics.message("/diagnostics", where=lambda m: lidar_level(m) == DiagnosticStatus.ERROR)
    status = next(s for s in faulted.status if s.name == f"{ROBOT_ID}/lidar")
    assert status.message == "laser window dirty" and status.hardware_id == ROBOT_ID
    state = topics.message(f"{NS}/robot_state", where=lambda m: "error" in m.device_health)
    assert state.device_health[state.device_names.index("lidar")] == "error"

    assert topics.call(InjectFault, f"{NS}/sim/inject_fault", InjectFault.Request(device="lidar", clear=True)).success
    topics.message("/diagnostics", where=lambda m: lidar_level(m) == DiagnosticStatus.OK)
    unknown = topics.call(InjectFault, f"{NS}/sim/inject_fault", InjectFault.Request(device="warp-drive"))
    assert not unknown.success and "lidar" in unknown.message
