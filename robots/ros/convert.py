"""HAL readings → standard ROS 2 messages (REP 103 units, REP 105 frames). Pure functions.

Frames: odometry in `<prefix>odom` with child `<prefix>base_link`; sensors in their own frames
under base_link (`<prefix>laser`, `<prefix>camera`). The prefix is empty on a single robot and
`<namespace>/` in a fleet sharing one TF tree.
"""

from __future__ import annotations

import array
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import Odometry as OdometryMsg
from sensor_msgs.msg import BatteryState as BatteryStateMsg
from sensor_msgs.msg import CompressedImage, Image
from sensor_msgs.msg import LaserScan as LaserScanMsg

from hal.battery import BatteryState
from hal.camera import Frame
from hal.device import DeviceHealth, HealthStatus
from hal.drive_base import Odometry
from hal.range_scanner import LaserScan

_DIAG_LEVEL = {
    HealthStatus.OK: DiagnosticStatus.OK,
    HealthStatus.WARNING: DiagnosticStatus.WARN,
    HealthStatus.ERROR: DiagnosticStatus.ERROR,
    HealthStatus.STALE: DiagnosticStatus.STALE,
}
#: odometry covariance (x, y, z, roll, pitch, yaw): planar robot, z/roll/pitch unused → huge
_POSE_VARIANCE = (0.01, 0.01, 1e6, 1e6, 1e6, 0.03)
_TWIST_VARIANCE = (0.005, 0.005, 1e6, 1e6, 1e6, 0.02)


def ros_time(now_s: float) -> Time:
    sec = math.floor(now_s)
    return Time(sec=int(sec), nanosec=min(999_999_999, round((now_s - sec) * 1e9)))


def seconds(stamp: Time) -> float:
    return float(stamp.sec) + stamp.nanosec / 1e9


def battery_state(state: BatteryState, frame_id: str) -> BatteryStateMsg:
    msg = BatteryStateMsg()
    msg.header.stamp = ros_time(state.stamp_s)
    msg.header.frame_id = frame_id
    msg.voltage = float(state.voltage_v)
    msg.current = float(state.current_a)  # sensor_msgs: positive while charging, as ours
    msg.percentage = float(min(1.0, max(0.0, state.soc_fraction)))  # sensor_msgs: 0..1
    for unknown in ("temperature", "charge", "capacity", "design_capacity"):
        setattr(msg, unknown, math.nan)
    msg.power_supply_status = (BatteryStateMsg.POWER_SUPPLY_STATUS_CHARGING if state.is_charging
                               else BatteryStateMsg.POWER_SUPPLY_STATUS_DISCHARGING)
    msg.power_supply_health = BatteryStateMsg.POWER_SUPPLY_HEALTH_UNKNOWN
    msg.power_supply_technology = BatteryStateMsg.POWER_SUPPLY_TECHNOLOGY_LION
    msg.present = True
    return msg


def odometry(odom: Odometry, frame_prefix: str) -> OdometryMsg:
    msg = OdometryMsg()
    msg.header.stamp = ros_time(odom.stamp_s)
    msg.header.frame_id = f"{frame_prefix}odom"
    msg.child_frame_id = f"{frame_prefix}base_link"
    msg.pose.pose.position.x = float(odom.pose.x_m)
    msg.pose.pose.position.y = float(odom.pose.y_m)
    msg.pose.pose.orientation.z = math.sin(odom.pose.yaw_rad / 2.0)
    msg.pose.pose.orientation.w = math.cos(odom.pose.yaw_rad / 2.0)
    msg.twist.twist.linear.x = float(odom.velocity.linear_mps)
    msg.twist.twist.angular.z = float(odom.velocity.angular_radps)
    msg.pose.covariance = _diagonal(_POSE_VARIANCE)
    msg.twist.covariance = _diagonal(_TWIST_VARIANCE)
    return msg


def yaw_from_quaternion(z: float, w: float) -> float:
    """Yaw of a planar (roll = pitch = 0) orientation."""
    return 2.0 * math.atan2(z, w)


def laser_scan(scan: LaserScan, frame_id: str) -> LaserScanMsg:
    msg = LaserScanMsg()
    msg.header.stamp = ros_time(scan.stamp_s)
    msg.header.frame_id = frame_id
    n = int(scan.ranges_m.size)
    msg.angle_min = float(scan.angle_min_rad)
    msg.angle_increment = float(scan.angle_increment_rad)
    msg.angle_max = float(scan.angle_min_rad + scan.angle_increment_rad * max(0, n - 1))
    msg.range_min = float(scan.range_min_m)
    msg.range_max = float(scan.range_max_m)
    # REP 117: +inf means nothing within range, as in our readings
    msg.ranges = array.array("f", np.ascontiguousarray(scan.ranges_m, dtype=np.float32).tobytes())
    return msg


def image(frame: Frame, frame_id: str) -> Image:
    msg = Image()
    msg.header.stamp = ros_time(frame.stamp_s)
    msg.header.frame_id = frame_id
    msg.height, msg.width = frame.height_px, frame.width_px
    msg.encoding = "bgr8"
    msg.step = frame.width_px * 3
    msg.data = np.ascontiguousarray(frame.image_bgr, dtype=np.uint8).tobytes()
    return msg


def compressed_image(frame: Frame, frame_id: str, *, jpeg_quality: int = 80) -> CompressedImage:
    ok, encoded = cv2.imencode(".jpg", frame.image_bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    msg = CompressedImage()
    msg.header.stamp = ros_time(frame.stamp_s)
    msg.header.frame_id = frame_id
    msg.format = "jpeg"
    msg.data = encoded.tobytes()
    return msg


def diagnostics(robot_id: str, devices: Iterable[tuple[str, str, DeviceHealth]], now_s: float) -> DiagnosticArray:
    """One status per device (`<robot_id>/<device>`), hardware_id the robot, as an aggregator expects."""
    msg = DiagnosticArray()
    msg.header.stamp = ros_time(now_s)
    for name, kind, health in devices:
        status = DiagnosticStatus()
        status.level = _DIAG_LEVEL[health.status]
        status.name = f"{robot_id}/{name}"
        status.hardware_id = robot_id
        status.message = health.reason or health.status.value
        status.values = [KeyValue(key="kind", value=kind), KeyValue(key="health", value=health.status.value)]
        msg.status.append(status)
    return msg


def mission_fields(describe: Mapping[str, Any] | None) -> dict[str, Any]:
    """Fields of a MissionState message from `Mission.describe()` (empty when idle)."""
    if describe is None:
        return {"mission_id": "", "kind": "", "state": "", "step": "", "progress_fraction": 0.0}
    return {
        "mission_id": str(describe["id"]),
        "kind": str(describe["kind"]),
        "state": str(describe["state"]),
        "step": str(describe["step"]),
        "progress_fraction": float(describe["progress_fraction"]),
    }


def parse_params_json(text: str) -> dict[str, Any]:
    """A goal's `params_json`: empty means no parameters; anything but a JSON object is refused."""
    if not text.strip():
        return {}
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"params_json is not valid JSON: {exc}") from None
    if not isinstance(params, dict):
        raise ValueError(f"params_json must be a JSON object, got {type(params).__name__}")
    return params


def _diagonal(variances: tuple[float, ...]) -> array.array[float]:
    matrix = [0.0] * 36
    for i, variance in enumerate(variances):
        matrix[i * 7] = variance
    return array.array("d", matrix)
