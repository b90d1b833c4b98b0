"""The robot's standard topics, each at its own period on ROS time, published from the tick.

A device that cannot be read this tick (faulted, not ready) is skipped, not fatal: its health is
on `/diagnostics`, which is exactly where a ROS user looks for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from diagnostic_msgs.msg import DiagnosticArray
from medbot_interfaces.msg import MissionState, RobotState
from nav_msgs.msg import Odometry
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import BatteryState, CompressedImage, Image, LaserScan

from hal.device import DeviceError
from hal.safety_status import SafetyStatus
from robots.robot import Robot
from robots.ros import convert

if TYPE_CHECKING:
    from rclpy.node import Node

log = logging.getLogger(__name__)

#: state is latched, so that a tool started later still sees the robot's last state
_LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)


@dataclass(frozen=True)
class TopicPeriods:
    """Seconds between messages (0: every tick)."""

    odom_s: float = 0.0
    battery_s: float = 1.0
    scan_s: float = 0.2
    camera_s: float = 1.0  # a low rate: frames are large and mostly for a remote look
    diagnostics_s: float = 1.0
    state_s: float = 30.0  # plus on every relevant change


class _Every:
    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self._next_s = float("-inf")

    def due(self, now_s: float) -> bool:
        if now_s < self._next_s:
            return False
        self._next_s = now_s + self.period_s
        return True


class RobotPublishers:
    def __init__(self, node: Node, robot: Robot, periods: TopicPeriods, *, frame_prefix: str,
                 camera_compressed: bool) -> None:
        self._node = node
        self._robot = robot
        self._prefix = frame_prefix
        self._camera_compressed = camera_compressed
        devices = robot.devices
        self._odom = node.create_publisher(Odometry, "odom", 10)
        self._battery = node.create_publisher(BatteryState, "battery_state", 10)
        self._scan = node.create_publisher(LaserScan, "scan", qos_profile_sensor_data) \
            if devices.range_scanner is not None else None
        self._camera: Any = None
        if devices.camera is not None:
            sensor_qos = qos_profile_sensor_data
            self._camera = (node.create_publisher(CompressedImage, "camera/image_raw/compressed", sensor_qos)
                            if camera_compressed else node.create_publisher(Image, "camera/image_raw", sensor_qos))
        # absolute, as diagnostic aggregators listen there; statuses are named <robot_id>/<device>
        self._diagnostics = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._state = node.create_publisher(RobotState, "robot_state", _LATCHED)
        self._every = {name: _Every(getattr(periods, f"{name}_s")) for name in
                       ("odom", "battery", "scan", "camera", "diagnostics", "state")}
        self._health: tuple[tuple[str, str], ...] = ()
        self._last_signature: tuple[object, ...] | None = None
        self._tf = _tf_publisher(node)

    def destroy(self) -> None:
        for pub in (self._odom, self._battery, self._scan, self._camera, self._diagnostics, self._state, self._tf):
            if pub is not None:
                self._node.destroy_publisher(pub)

    def on_tick(self, now_s: float, status: SafetyStatus) -> None:
        devices = self._robot.devices
        drive, battery, scanner = devices.drive_base, devices.battery, devices.range_scanner
        assert drive is not None and battery is not None
        if self._every["odom"].due(now_s):
            odom = convert.odometry(drive.odometry(), self._prefix)
            self._odom.publish(odom)
            if self._tf is not None:
                self._tf.publish(_tf_message(odom))
        if self._every["battery"].due(now_s):
            self._publish(self._battery, lambda: convert.battery_state(battery.state(), f"{self._prefix}base_link"))
        if self._scan is not None and scanner is not None and self._every["scan"].due(now_s):
            self._publish(self._scan, lambda: convert.laser_scan(scanner.scan(), f"{self._prefix}laser"))
        if self._camera is not None and self._every["camera"].due(now_s):
            self._publish(self._camera, self._camera_frame)
        if self._every["diagnostics"].due(now_s):
            healths = [(d.name, d.kind, d.health()) for d in devices]
            self._health = tuple((name, h.status.value) for name, _kind, h in healths)
            self._diagnostics.publish(convert.diagnostics(self._robot.identity.robot_id, healths, now_s))
        signature = self._signature(status)
        if signature != self._last_signature or self._every["state"].due(now_s):
            self._last_signature = signature
            self._state.publish(self._state_message(now_s, status))

    def _camera_frame(self) -> Any:
        camera = self._robot.devices.camera
        assert camera is not None
        frame = camera.read()
        frame_id = f"{self._prefix}camera"
        return convert.compressed_image(frame, frame_id) if self._camera_compressed else convert.image(frame, frame_id)

    def _publish(self, publisher: Any, build: Any) -> None:
        try:
            publisher.publish(build())
        except DeviceError as exc:
            log.debug("not published (%s): %s", publisher.topic_name, exc)

    def _signature(self, status: SafetyStatus) -> tuple[object, ...]:
        runner = self._robot.runner
        mission = runner.current
        battery = self._robot.devices.battery
        return (
            runner.paused, status.state, status.estop_latched, status.reason,
            battery.state().is_charging if battery is not None else None,
            (mission.mission_id, mission.state, mission.step) if mission is not None else None,
            tuple(q.mission_id for q in runner.queue_snapshot()),
            self._health,
        )

    def _state_message(self, now_s: float, status: SafetyStatus) -> RobotState:
        robot = self._robot
        runner = robot.runner
        current = runner.current
        battery = robot.devices.battery
        assert battery is not None
        charge = battery.state()
        msg = RobotState()
        msg.header.stamp = convert.ros_time(now_s)
        msg.header.frame_id = f"{self._prefix}base_link"
        msg.robot_id, msg.kind, msg.site = robot.identity.robot_id, robot.config.kind, robot.identity.site
        msg.operating_mode = "paused" if runner.paused else "automatic"
        msg.safety_state, msg.estop_latched, msg.safety_reason = status.state.value, status.estop_latched, status.reason
        msg.soc_fraction, msg.charging = float(charge.soc_fraction), charge.is_charging
        msg.has_mission = current is not None
        msg.mission = MissionState(**convert.mission_fields(current.describe() if current is not None else None))
        msg.queue = [MissionState(mission_id=q.mission_id, kind=q.kind, state=q.state) for q in runner.queue_snapshot()]
        msg.device_names = [name for name, _ in self._health]
        msg.device_health = [health for _, health in self._health]
        return msg


def _tf_publisher(node: Node) -> Any:
    """odom → base_link on `tf`, where tf2_msgs exists (a full ROS install; not on PyPI)."""
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:
        return None
    return node.create_publisher(TFMessage, "tf", 100)


def _tf_message(odom: Odometry) -> Any:
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    transform = TransformStamped()
    transform.header = odom.header
    transform.child_frame_id = odom.child_frame_id
    position = odom.pose.pose.position
    transform.transform.translation.x, transform.transform.translation.y = position.x, position.y
    transform.transform.rotation = odom.pose.pose.orientation
    return TFMessage(transforms=[transform])
