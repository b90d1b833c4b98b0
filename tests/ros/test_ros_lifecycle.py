"""The robot node's managed lifecycle, walked from another process as a lifecycle manager would."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import start_robot
from ros_harness import Probe, RobotProcess, wait_for

pytestmark = pytest.mark.timeout(60)

NODE = "/nurse_l/medbot_robot"


@pytest.fixture(scope="module")
def managed_robot(ros_session: Path, probe: Probe) -> Iterator[RobotProcess]:
    """Not autostarted, on wall time (no /clock): the lifecycle manager is the test."""
    robot = start_robot(ros_session, "managed_robot", robot_id="nurse-l", autostart=False, use_sim_time=False)
    yield robot
    code = robot.stop()
    assert code == 0, f"robot node exited with {code}:\n{robot.output()[-3000:]}"


def _state(probe: Probe) -> str:
    from lifecycle_msgs.srv import GetState

    label: str = probe.call(GetState, f"{NODE}/get_state", GetState.Request(), timeout_s=15.0).current_state.label
    return label


def _transition(probe: Probe, transition_id: int) -> bool:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    request = ChangeState.Request(transition=Transition(id=transition_id))
    ok: bool = probe.call(ChangeState, f"{NODE}/change_state", request, timeout_s=10.0).success
    return ok


def _odom_flows(probe: Probe, within_s: float) -> bool:
    probe.clear("/nurse_l/odom")
    try:
        probe.message("/nurse_l/odom", timeout_s=within_s)
    except AssertionError:
        return False
    return True


def _goal_accepted(probe: Probe) -> bool:
    from medbot_interfaces.action import RunMission
    from rclpy.action import ActionClient

    client: Any = ActionClient(probe.node, RunMission, "/nurse_l/run_mission")
    try:
        assert client.wait_for_server(timeout_sec=5.0)
        future = client.send_goal_async(RunMission.Goal(kind="return_to_dock"))
        handle = wait_for(lambda: future.done() and future.result(), 5.0, "the goal answer")
        accepted: bool = handle.accepted
        if accepted:
            handle.cancel_goal_async()
        return accepted
    finally:
        client.destroy()


def test_lifecycle_transitions(managed_robot: RobotProcess, probe: Probe) -> None:
    from lifecycle_msgs.msg import Transition
    from nav_msgs.msg import Odometry
    from std_srvs.srv import Trigger

    probe.subscribe(Odometry, "/nurse_l/odom")
    assert _state(probe) == "unconfigured"
    assert wait_for(lambda: "/nurse_l/pause" not in dict(probe.node.get_service_names_and_types()) or None,
                    1.0, "no operator services before configure")

    assert _transition(probe, Transition.TRANSITION_CONFIGURE)
    assert _state(probe) == "inactive"
    assert not _odom_flows(probe, 0.5), "an inactive robot must not tick"
    refused = probe.call(Trigger, "/nurse_l/pause", Trigger.Request())
    assert not refused.success and "not active" in refused.message
    assert not _goal_accepted(probe)

    assert _transition(probe, Transition.TRANSITION_ACTIVATE)
    assert _state(probe) == "active"
    assert _odom_flows(probe, 5.0)
    assert _goal_accepted(probe)

    assert _transition(probe, Transition.TRANSITION_DEACTIVATE)
    assert _state(probe) == "inactive"
    time.sleep(0.2)  # let a message already in flight arrive before we start looking
    assert not _odom_flows(probe, 0.5), "deactivate must stop the tick"

    assert _transition(probe, Transition.TRANSITION_CLEANUP)
    assert _state(probe) == "unconfigured"
    assert _transition(probe, Transition.TRANSITION_CONFIGURE)  # devices open again after a cleanup
    assert _transition(probe, Transition.TRANSITION_ACTIVATE)
    assert _odom_flows(probe, 5.0)

    assert _transition(probe, Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert _state(probe) == "finalized"
    assert "configured nurse-l" in managed_robot.output()
