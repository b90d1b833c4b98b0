"""ROS stays optional: the simulator, the CLI and the rclpy-free parts of robots.ros never import rclpy."""

from __future__ import annotations

import subprocess
import sys

RCLPY_FREE = ["robots.cli", "sim.cli", "sim.runner", "sim.ros_bridge", "robots.ros", "robots.ros.host",
              "robots.ros.clock", "robots.ros.launch_data", "robots.ros.parameters", "hal.drivers.nav2_navigator"]


def test_non_ros_code_paths_do_not_import_rclpy() -> None:
    code = (f"import importlib, sys\nfor m in {RCLPY_FREE!r}: importlib.import_module(m)\n"
            "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'rosidl_parser', 'rpyutils'))\n"
            "print(','.join(leaked))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "", f"imported ROS modules: {out.stdout.strip()}"
