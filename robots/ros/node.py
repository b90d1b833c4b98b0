"""One robot as a managed (lifecycle) rclpy node: a thin translator around `Robot`.

  configure   build the robot from its config (parameters) and open its devices
  activate    start the tick (a node timer on ROS time) and the topics, accept missions
  deactivate  stop motion safely: pause the mission, command zero velocity, stop the tick
  cleanup     close the devices and drop the robot
  shutdown    as cleanup, from any state

The tick period comes from the robot's config unless `tick_period_s` overrides it; with
`use_sim_time` the timer and the robot's clock follow `/clock`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.timer import Timer

from hal.geometry import Twist2D
from hal.registry import ConfigError
from robots.ros.clock import RosClock
from robots.ros.host import HostFactory, HostSettings, RobotHost, host_factory
from robots.ros.mission_action import MissionInterface
from robots.ros.parameters import PARAMETERS
from robots.ros.publishers import RobotPublishers, TopicPeriods

log = logging.getLogger(__name__)

#: a tick never integrates more than this many periods at once (a stalled executor, a /clock jump)
MAX_TICK_PERIODS = 5.0



class RobotNode(LifecycleNode):
    def __init__(self, node_name: str = "medbot_robot", *, hosts: Callable[[str], HostFactory] = host_factory,
                 **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        for name, default in PARAMETERS.items():
            self.declare_parameter(name, default)
        self._hosts = hosts
        self.robot_clock = RosClock(self.get_clock())
        self.host: RobotHost | None = None
        self._topics: RobotPublishers | None = None
        self._missions: MissionInterface | None = None
        self._fault_service: Any = None
        self._timer: Timer | None = None
        self._tick_period_s = 0.1
        self._last_tick_s: float | None = None
        self._paused_by_deactivate = False

    def param(self, name: str) -> Any:
        return self.get_parameter(name).value

    # ---- lifecycle --------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            return self._configure()
        except Exception as exc:  # rclpy swallows a callback's exception silently: say what failed
            self.get_logger().error(f"configure failed: {type(exc).__name__}: {exc}")
            self._release("configure failed")
            return TransitionCallbackReturn.FAILURE

    def _configure(self) -> TransitionCallbackReturn:
        try:
            settings = HostSettings(
                robot_id=self.param("robot_id"), robot_config=self.param("robot_config"),
                home_dock=self.param("home_dock"), site=self.param("site"),
                journal_dir=Path(self.param("journal_dir")).expanduser(), mqtt_url=self.param("mqtt_url"),
                serves=self.param("serves") or None, confined=bool(self.param("confined")),
                command_policy=self.param("command_policy"),
                extra={name: self.param(name) for name in PARAMETERS if name.startswith("sim.") or name == "map_file"},
                ros_node=self,
            )
            host = self._hosts(self.param("backend"))(settings, self.robot_clock)
        except (ConfigError, OSError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        robot = host.robot
        try:
            robot.setup()
        except Exception as exc:  # a device that cannot open: close what opened, stay unconfigured
            self.get_logger().error(f"configure failed: opening devices: {exc}")
            robot.close()
            host.close()
            return TransitionCallbackReturn.FAILURE
        self.host = host
        self._tick_period_s = float(self.param("tick_period_s")) or robot.config.tick_period_s
        periods = TopicPeriods(
            odom_s=self.param("odom_period_s"), battery_s=self.param("battery_period_s"),
            scan_s=self.param("scan_period_s"), camera_s=self.param("camera_period_s"),
            diagnostics_s=self.param("diagnostics_period_s"),
            state_s=float(self.param("state_period_s")) or robot.config.telemetry.state_period_s,
        )
        self._topics = RobotPublishers(self, robot, periods, frame_prefix=self.param("frame_prefix"),
                                           camera_compressed=self.param("camera_compressed"))
        self._missions = MissionInterface(self, robot)
        self._fault_service = _fault_service(self, host)
        self.get_logger().info(f"configured {settings.robot_id} ({robot.config.kind}, {len(list(robot.devices))} "
                               f"devices, tick {self._tick_period_s} s)")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        assert self.host is not None and self._missions is not None
        if self._paused_by_deactivate:
            self.host.robot.resume()
            self._paused_by_deactivate = False
        self._last_tick_s = None
        self._timer = self.create_timer(self._tick_period_s, self._tick)
        self._missions.set_active(True)
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        assert self.host is not None and self._missions is not None
        robot = self.host.robot
        self._missions.set_active(False)
        if not robot.runner.paused:
            robot.pause()  # the mission holds (its navigation is cancelled) and resumes on activate
            self._paused_by_deactivate = True
        if self._last_tick_s is not None:
            robot.step(self.robot_clock.now_s())  # one paused tick: the supervisor commands a stop
        robot.supervisor.command_velocity(Twist2D.zero())
        self._stop_timer()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release("robot node cleaned up")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_timer()
        self._release("robot node shut down")
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_timer()
        self._release("robot node error")
        return TransitionCallbackReturn.SUCCESS

    def shutdown_robot(self, reason: str) -> None:
        """Stop the tick and release the robot, whatever the lifecycle state (process exit)."""
        self._stop_timer()
        self._release(reason)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    def _release(self, reason: str) -> None:
        if self._missions is not None:
            self._missions.destroy(reason)
            self._missions = None
        if self._topics is not None:
            self._topics.destroy()
            self._topics = None
        if self._fault_service is not None:
            self.destroy_service(self._fault_service)
            self._fault_service = None
        if self.host is not None:
            self.host.robot.close()  # stops motion, closes devices in reverse order
            self.host.close()
            self.host = None
        self._paused_by_deactivate = False

    # ---- the tick ---------------------------------------------------------------------------

    def _tick(self) -> None:
        host = self.host
        if host is None or self._topics is None or self._missions is None:
            return
        now_s = self.robot_clock.now_s()
        if now_s <= 0.0 or (self._last_tick_s is not None and now_s <= self._last_tick_s):
            return  # ROS time not started (use_sim_time before /clock) or not advanced
        last = self._last_tick_s
        dt_s = self._tick_period_s if last is None else min(now_s - last, MAX_TICK_PERIODS * self._tick_period_s)
        self._last_tick_s = now_s
        host.before_step(now_s)
        status = host.robot.step(now_s)
        host.after_step(now_s, dt_s)
        self._missions.on_tick()
        self._topics.on_tick(now_s, status)


def _fault_service(node: RobotNode, host: RobotHost) -> Any:
    """`sim/inject_fault` on simulated robots only: breaks a device to exercise diagnostics."""
    if not getattr(host, "simulated", False):
        return None
    from medbot_interfaces.srv import InjectFault

    def inject(request: Any, response: Any) -> Any:
        response.success, response.message = host.inject_fault(
            request.device, request.reason, request.duration_s, clear=request.clear)
        return response

    return node.create_service(InjectFault, "sim/inject_fault", inject)
