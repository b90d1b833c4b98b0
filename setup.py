"""Build shim for colcon's ament_python (metadata lives in pyproject.toml): installs the ament
index marker, package.xml and the launch files into share/medbot."""

from pathlib import Path

from setuptools import setup

launch = sorted(str(p) for p in Path("launch").glob("*") if p.suffix in (".py", ".yaml"))
params = sorted(str(p) for p in Path("launch/params").glob("*.yaml"))
setup(
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/medbot"]),
        ("share/medbot", ["package.xml"]),
        ("share/medbot/launch", launch),
        ("share/medbot/launch/params", params),
    ],
)
