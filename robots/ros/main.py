"""`medbot-robot-node`: one robot's lifecycle node (`ros2 run medbot robot_node` on a robot).

    medbot-robot-node --ros-args --params-file robot.yaml [-r __ns:=/nurse_a]

Without a namespace remap the node is namespaced by its `robot_id` from the parameter file(s).
With `autostart: true` it configures and activates itself; otherwise a lifecycle manager (or
`ros2 lifecycle set`) brings it up.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from robots.ros.host import ros_name


def namespace_from_args(args: list[str]) -> str | None:
    """`/<robot_id>` from the `--params-file` arguments, unless `__ns` is remapped already."""
    if any(arg.startswith("__ns:=") for arg in args):
        return None
    robot_id = None
    for i, arg in enumerate(args[:-1]):
        if arg != "--params-file":
            continue
        try:
            data: Any = yaml.safe_load(Path(args[i + 1]).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue  # rclpy reports a bad file itself, with its own message
        for section in (data or {}).values():
            params = section.get("ros__parameters", {}) if isinstance(section, dict) else {}
            robot_id = params.get("robot_id", robot_id)
    return f"/{ros_name(str(robot_id))}" if robot_id else None


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from robots.ros.node import RobotNode

    args = list(sys.argv if argv is None else argv)
    rclpy.init(args=args)
    namespace = namespace_from_args(args)
    node = RobotNode(namespace=namespace) if namespace else RobotNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if node.param("autostart"):
            node.trigger_configure()
            node.trigger_activate()
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.shutdown_robot("process exiting")
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
