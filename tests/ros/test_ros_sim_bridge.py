"""`medbot sim --ros`: the fleet bridge publishes /clock and every robot's topics under its namespace."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ros_harness import Probe

from hal.clock import DEFAULT_SIM_EPOCH_S, SimClock
from robots.ros.host import HostSettings

pytestmark = pytest.mark.timeout(60)


def test_fleet_bridge_publishes_clock_and_each_robots_topics(ros_session: Path, probe: Probe) -> None:
    from medbot_interfaces.msg import RobotState
    from nav_msgs.msg import Odometry
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from rosgraph_msgs.msg import Clock

    from sim.ros_bridge import RosFleetBridge, SimRobotHost

    clock = SimClock(DEFAULT_SIM_EPOCH_S)
    hosts = [SimRobotHost(HostSettings(robot_id=rid, robot_config="nursing", home_dock=dock,
                                       journal_dir=ros_session / "bridge-journal"), clock)
             for rid, dock in (("nurse-a", "dock-ward-a"), ("nurse-b", "dock-ward-b"))]
    probe.subscribe(Clock, "/clock")
    probe.subscribe(Odometry, "/nurse_b/odom")
    latched = QoSProfile(depth=5, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    probe.subscribe(RobotState, "/nurse_a/robot_state", latched)
    for host in hosts:
        host.robot.setup()
    try:
        with RosFleetBridge({h.robot.identity.robot_id: h.robot for h in hosts}) as bridge:
            deadline = time.monotonic() + 10.0  # discovery takes up to a few seconds
            topics = ("/clock", "/nurse_b/odom", "/nurse_a/robot_state")
            tick = 0
            while time.monotonic() < deadline and not all(probe.latest.get(t) for t in topics):
                tick += 1
                time.sleep(0.01)  # ~10 x real time: a bounded stream while the probe discovers us
                now_s = DEFAULT_SIM_EPOCH_S + tick * 0.1
                clock.set(now_s)
                for host in hosts:
                    host.before_step(now_s)
                    host.robot.step(now_s)
                    host.after_step(now_s, 0.1)
                bridge.step(now_s)
            odom = probe.message("/nurse_b/odom")
            stamp = probe.message("/clock").clock
            state = probe.message("/nurse_a/robot_state")
    finally:
        for host in hosts:
            host.robot.close()
            host.close()
    assert odom.header.frame_id == "nurse_b/odom" and odom.child_frame_id == "nurse_b/base_link"
    assert odom.pose.pose.position.x == pytest.approx(96.0, abs=0.5)  # at dock-ward-b
    assert DEFAULT_SIM_EPOCH_S <= stamp.sec <= DEFAULT_SIM_EPOCH_S + tick * 0.1 + 1
    assert state.robot_id == "nurse-a" and state.kind == "nursing"
