"""What the launch files start, as data: `launch/*.yaml` → validated node specs. No ROS imports.

The launch files in `launch/` stay thin: they call `load_launch_data()` and turn each `NodeSpec`
into a `launch_ros` node. CI validates the same data without `launch` (not on PyPI): every
executable is a console script of this project, every parameter file exists and holds ROS
parameters the node declares, every robot config loads, every home dock is a place of the map.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hal.registry import ConfigError
from robots.config import load_robot_config
from robots.ros.host import resolve_robot_config, ros_name
from robots.ros.parameters import PARAMETERS

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCH_DIR = REPO_ROOT / "launch"
PACKAGE = "medbot"


@dataclass(frozen=True)
class NodeSpec:
    package: str
    executable: str
    name: str
    namespace: str
    params_files: list[Path]
    parameters: dict[str, Any] = field(default_factory=dict)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), "<file>", f"cannot read launch data: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "<top>", "expected a mapping")
    return data


def _path(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def ros_parameters(path: Path) -> dict[str, Any]:
    """The `ros__parameters` of a ROS 2 parameter file (every node section merged, `/**` first)."""
    data = _read(path)
    merged: dict[str, Any] = {}
    for node_name in sorted(data, key=lambda n: n != "/**"):
        section = data[node_name]
        if not isinstance(section, dict) or not isinstance(section.get("ros__parameters"), dict):
            raise ConfigError(str(path), node_name, "expected `<node>: {ros__parameters: {...}}`")
        merged.update(section["ros__parameters"])
    return merged


def load_launch_data(path: Path) -> list[NodeSpec]:
    """One node spec per robot of a launch data file (a site's fleet, or a single robot)."""
    data = _read(path)
    base = path.parent
    source = str(path)
    common = [_path(base, p) for p in data.get("params_files", [])]
    specs = []
    for i, robot in enumerate(data.get("robots", [])):
        where = f"robots[{i}]"
        if not isinstance(robot, dict) or not robot.get("robot_id"):
            raise ConfigError(source, where, "each robot needs a robot_id")
        parameters = {k: v for k, v in robot.items() if k != "params_files"}
        specs.append(NodeSpec(
            package=str(data.get("package", PACKAGE)),
            executable=str(data.get("executable", "medbot-robot-node")),
            name=str(data.get("node_name", "medbot_robot")),
            namespace=ros_name(str(robot["robot_id"])),
            params_files=[*common, *(_path(base, p) for p in robot.get("params_files", []))],
            parameters={"frame_prefix": f"{ros_name(str(robot['robot_id']))}/", **parameters}
            if data.get("frame_prefix_per_robot", True) else parameters,
        ))
    if not specs:
        raise ConfigError(source, "robots", "no robots to launch")
    return specs


def validate(spec: NodeSpec, *, source: str) -> dict[str, Any]:
    """Check one node spec against the project; returns its effective parameters."""
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    if spec.executable not in scripts:
        raise ConfigError(source, spec.namespace, f"unknown executable {spec.executable!r}", scripts)
    effective: dict[str, Any] = {}
    for path in spec.params_files:
        if not path.is_file():
            raise ConfigError(source, spec.namespace, f"no parameter file {path}")
        effective.update(ros_parameters(path))
    effective.update(spec.parameters)
    known = set(PARAMETERS) | {"use_sim_time"}
    unknown = sorted(set(effective) - known)
    if unknown:
        raise ConfigError(source, spec.namespace, f"parameters the node does not declare: {unknown}", known)
    for required in ("robot_id", "robot_config", "home_dock"):
        if not effective.get(required):
            raise ConfigError(source, spec.namespace, f"no {required}")
    config_path = resolve_robot_config(str(effective["robot_config"]))
    load_robot_config(config_path)
    map_file = str(effective.get("map_file") or effective.get("sim.world") or "")
    if map_file:
        places = {p["name"] for p in _read(_path(REPO_ROOT, map_file)).get("places", [])}
        if effective["home_dock"] not in places:
            raise ConfigError(source, spec.namespace, f"home dock {effective['home_dock']!r} is not in {map_file}")
    return effective
