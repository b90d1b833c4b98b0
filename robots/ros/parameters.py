"""The robot node's parameters and their defaults (rclpy-free, so launch data can be checked
without ROS). Set them in a YAML file passed with `--ros-args --params-file`."""

from __future__ import annotations

from typing import Any

PARAMETERS: dict[str, Any] = {
    "robot_id": "",
    "robot_config": "",  # path to a robot kind YAML, or a kind name
    "home_dock": "",
    "site": "default",
    "backend": "hardware",  # or "sim" (sim.ros_bridge), or any medbot.ros_hosts entry point
    "journal_dir": "/var/lib/medbot/journal",
    "mqtt_url": "",
    "serves": "",  # the ward / department / area the robot is stationed in (its factsheet tells the fleet)
    "confined": False,  # never leaves `serves` (infection control)
    # who may command it over MQTT: a JSON command policy file ({"<user>": {"role": "operator"}});
    # empty: only the fleet service's account `fleet-service`
    "command_policy": "",
    "map_file": "",  # world YAML with the site's places and zones (hardware backend)
    "tick_period_s": 0.0,  # 0: the robot config's tick_period_s
    "frame_prefix": "",
    "camera_compressed": True,
    "odom_period_s": 0.0,
    "battery_period_s": 1.0,
    "scan_period_s": 0.2,
    "camera_period_s": 1.0,
    "diagnostics_period_s": 1.0,
    "state_period_s": 0.0,  # 0: the robot config's telemetry.state_period_s
    "autostart": False,  # configure + activate at start, for a launch without a lifecycle manager
    "sim.world": "",
    "sim.seed": 1,
    "sim.start_place": "",
}
