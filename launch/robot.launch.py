"""One medbot robot node: `ros2 launch medbot robot.launch.py [data:=robot.yaml]`.

Thin on purpose: what to start with which parameters is in the data file (robot.yaml), read and
validated by robots.ros.launch_data, which CI checks too.
"""

# ruff: noqa: I001  (`launch` here is ROS 2's module, not this folder, whatever isort guesses)
from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

from robots.ros.launch_data import load_launch_data

HERE = Path(__file__).resolve().parent


def _nodes(context, *args, **kwargs):
    data = HERE / LaunchConfiguration("data").perform(context)
    return [
        LifecycleNode(package=spec.package, executable=spec.executable, name=spec.name, namespace=spec.namespace,
                      parameters=[*map(str, spec.params_files), spec.parameters], output="screen")
        for spec in load_launch_data(data)
    ]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("data", default_value="robot.yaml", description="launch data file in launch/"),
        OpaqueFunction(function=_nodes),
    ])
