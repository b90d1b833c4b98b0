"""The simulator on ROS 2.

* `sim_robot_host`: the `sim` backend of the robot node (`backend: sim`): one `Robot` on
  simulated devices in its own simulated world, built the way `SimulationRun` builds a fleet,
  ticked by the node on ROS time (`use_sim_time` + `/clock` to run faster than real time).
* `RosFleetBridge`: `medbot sim --ros` — publishes a whole simulated fleet on ROS 2 (`/clock`
  and each robot's standard topics under its namespace), called from the runner's loop.

rclpy is imported only here and in `robots.ros`; `medbot sim` without `--ros` never imports it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hal.clock import DEFAULT_SIM_EPOCH_S, Clock, SimClock
from robots.config import load_robot_config
from robots.robot import Robot
from robots.ros.host import HostSettings, RobotHost, build_robot, make_sink, resolve_robot_config, ros_name
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.world import default_world_path, load_world

# ---- the node's sim backend -------------------------------------------------------------------


class SimRobotHost(RobotHost):
    """A robot in a simulated hospital of its own; the body moves as the node ticks."""

    simulated = True

    def __init__(self, settings: HostSettings, clock: Clock) -> None:
        extra = settings.extra
        world_file = str(extra.get("sim.world", "")) or str(default_world_path())
        world = load_world(Path(world_file).expanduser())
        seed = int(extra.get("sim.seed", 1))
        start_s = clock.now_s() if clock.now_s() > 0 else DEFAULT_SIM_EPOCH_S
        # the world's own clock (patients, doors) follows the node's ROS time, tick by tick
        self.sim_clock = SimClock(start_s)
        self.env = SimEnvironment(world, PatientCensus(seed, world.beds(), start_s), self.sim_clock, seed)
        body = self.env.add_robot(settings.robot_id, str(extra.get("sim.start_place", "")) or settings.home_dock)
        config = load_robot_config(resolve_robot_config(settings.robot_config))
        sink = make_sink(settings)
        robot = build_robot(settings, config, clock, world, sink, {"sim_env": self.env, "sim_body": body})
        super().__init__(robot, sink)
        self._clock = clock

    def before_step(self, now_s: float) -> None:
        if now_s > self.sim_clock.now_s():
            self.sim_clock.set(now_s)

    def after_step(self, now_s: float, dt_s: float) -> None:
        self.env.step(dt_s)

    def inject_fault(self, device: str, reason: str, duration_s: float, *, clear: bool) -> tuple[bool, str]:
        robot_id = self.robot.identity.robot_id
        known = {d.name for d in self.robot.devices} | {d.kind for d in self.robot.devices}
        if device not in known:
            return False, f"no device {device!r} on {robot_id} (devices: {', '.join(sorted(known))})"
        if clear:
            self.env.clear_fault(robot_id, device)
            return True, f"{device}: faults cleared"
        until_s = self._clock.now_s() + duration_s if duration_s > 0 else None
        self.env.inject_fault(robot_id, device, reason or "injected fault", until_s)
        return True, f"{device}: {reason or 'injected fault'}"


def sim_robot_host(settings: HostSettings, clock: Clock) -> RobotHost:
    return SimRobotHost(settings, clock)


# ---- medbot sim --ros ---------------------------------------------------------------------------


class RosFleetBridge:
    """Publishes a running simulation on ROS 2: `/clock`, and per robot (namespace = robot id as
    a ROS name) odom, battery_state, scan, camera, robot_state and `/diagnostics`.

    Wiring in the runner (see docs/ros2.md): create it after the fleet is built, call
    `step(now_s)` after the robots' ticks, `close()` at the end. `realtime_factor` > 0 paces the
    loop to that multiple of wall time so that tools such as rviz can watch; 0 runs flat out.
    """

    def __init__(self, robots: Mapping[str, Robot], *, realtime_factor: float = 0.0,
                 camera_period_s: float = 5.0, domain_id: int | None = None) -> None:
        import rclpy
        from rclpy.context import Context
        from rosgraph_msgs.msg import Clock as ClockMsg

        from robots.ros.publishers import RobotPublishers, TopicPeriods

        self._context = Context()
        rclpy.init(context=self._context, domain_id=domain_id)
        self._clock_node = rclpy.create_node("medbot_sim_clock", context=self._context)
        self._clock_pub = self._clock_node.create_publisher(ClockMsg, "/clock", 10)
        self._clock_msg = ClockMsg
        self._nodes: list[Any] = []
        self._publishers: list[tuple[Robot, Any]] = []
        periods = TopicPeriods(camera_s=camera_period_s)
        for robot_id in sorted(robots):
            robot = robots[robot_id]
            ns = ros_name(robot_id)
            node = rclpy.create_node("medbot_robot", namespace=f"/{ns}", context=self._context)
            self._nodes.append(node)
            self._publishers.append((robot, RobotPublishers(node, robot, periods, frame_prefix=f"{ns}/",
                                                            camera_compressed=True)))
        self._realtime_factor = realtime_factor
        self._wall_start_s: float | None = None
        self._sim_start_s = 0.0

    def step(self, now_s: float) -> None:
        from robots.ros.convert import ros_time

        self._clock_pub.publish(self._clock_msg(clock=ros_time(now_s)))
        for robot, publishers in self._publishers:
            status = robot.supervisor.status
            if status is not None:  # None before the robot's first tick
                publishers.on_tick(now_s, status)
        self._pace(now_s)

    def _pace(self, now_s: float) -> None:
        if self._realtime_factor <= 0:
            return
        if self._wall_start_s is None:
            self._wall_start_s, self._sim_start_s = time.monotonic(), now_s
            return
        # pacing a viewer, not robot logic: the edge of the simulator may wait for the wall
        ahead_s = (now_s - self._sim_start_s) / self._realtime_factor - (time.monotonic() - self._wall_start_s)
        if ahead_s > 0:
            time.sleep(min(ahead_s, 1.0))

    def close(self) -> None:
        import rclpy

        for _robot, publishers in self._publishers:
            publishers.destroy()
        for node in [*self._nodes, self._clock_node]:
            node.destroy_node()
        rclpy.try_shutdown(context=self._context)

    def __enter__(self) -> RosFleetBridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
