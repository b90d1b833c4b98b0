"""What a robot node runs: a `Robot` built from its config, plus what its backend needs each tick.

Plain Python (no rclpy), so the node stays a translator: on hardware the devices are drivers
(`HardwareHost`); the simulator's host (`sim.ros_bridge.SimRobotHost`) adds a simulated world
around the same `Robot`. The node picks a host through a `HostFactory`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from hal.clock import Clock
from hal.registry import ConfigError
from hal.site_map import OpenSiteMap, SiteMap
from robots.command_handler import CommandablePublisher, attach_commands
from robots.config import RobotKindConfig, kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from robots.robot import Robot, RobotIdentity, build_devices
from telemetry.commands import CommandPolicy
from telemetry.sinks import NullSink, TelemetrySink

HOST_GROUP = "medbot.ros_hosts"
SITE_MAP_GROUP = "medbot.site_maps"
_ROS_NAME = re.compile(r"[^A-Za-z0-9_]")


def ros_name(robot_id: str) -> str:
    """A robot id as a ROS name token (`nurse-a` → `nurse_a`): ROS names allow no hyphens."""
    token = _ROS_NAME.sub("_", robot_id)
    return f"r_{token}" if not token or token[0].isdigit() else token


@dataclass(frozen=True)
class HostSettings:
    """The node's parameters that decide what robot to build (validated before anything opens)."""

    robot_id: str
    robot_config: str  # a robot kind config file, or a kind name (robots/kinds/<kind>.yaml)
    home_dock: str
    site: str = "default"
    journal_dir: Path = Path("/var/lib/medbot/journal")
    mqtt_url: str = ""  # empty: no MQTT telemetry from this node
    serves: str | None = None
    confined: bool = False
    #: JSON command policy file for MQTT commands; empty: only the fleet service's account
    command_policy: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # backend parameters (sim.*)
    #: the rclpy node, for drivers that talk ROS themselves (the Nav2 navigator)
    ros_node: Any = None

    def __post_init__(self) -> None:
        if not self.robot_id:
            raise ConfigError("ros parameters", "robot_id", "a robot node needs its robot_id")
        if not self.robot_config:
            raise ConfigError("ros parameters", "robot_config", "a robot node needs its robot config (path or kind)")
        if not self.home_dock:
            raise ConfigError("ros parameters", "home_dock", "a robot node needs its home dock (a named place)")


def resolve_robot_config(value: str) -> Path:
    """A path to a robot kind config, or a kind name shipped in robots/kinds."""
    path = Path(value).expanduser()
    if path.suffix in (".yaml", ".yml") or "/" in value:
        if not path.is_file():
            raise ConfigError("ros parameters", "robot_config", f"no robot config file at {path}")
        return path
    return kind_config_path(value)


class RobotHost:
    """A built robot and its backend's hooks around each tick. Subclasses add a world."""

    def __init__(self, robot: Robot, sink: TelemetrySink) -> None:
        self.robot = robot
        self._sink = sink

    def before_step(self, now_s: float) -> None:
        """Called before `robot.step(now_s)`."""

    def after_step(self, now_s: float, dt_s: float) -> None:
        """Called after `robot.step(now_s)` with the time since the previous tick."""

    def inject_fault(self, device: str, reason: str, duration_s: float, *, clear: bool) -> tuple[bool, str]:
        return False, "fault injection exists only on simulated robots"

    def close(self) -> None:
        """Release what the host opened (the robot's devices are closed by `Robot.close`)."""
        self._sink.close()


HostFactory = Callable[[HostSettings, Clock], RobotHost]


def make_sink(settings: HostSettings) -> TelemetrySink:
    """MQTT telemetry when a broker is configured, else none (ROS topics carry the state)."""
    if not settings.mqtt_url:
        return NullSink()
    from telemetry.publisher import TelemetryPublisher  # paho only when asked for

    publisher = TelemetryPublisher(settings.mqtt_url, settings.site, settings.robot_id)
    publisher.connect()
    return publisher


#: the fleet service's account (fleet.config.FleetConfig.service_user), granted by default
FLEET_SERVICE_USER = "fleet-service"


def command_policy(settings: HostSettings) -> CommandPolicy:
    """Who may command this robot over MQTT: the policy file, or the fleet service alone."""
    if not settings.command_policy:
        return CommandPolicy.from_dict({FLEET_SERVICE_USER: {"role": "operator", "targets": ["*"]}})
    path = Path(settings.command_policy).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("expected an object of user -> grant")
        return CommandPolicy.from_dict(data)
    except OSError as exc:
        raise ConfigError("ros parameters", "command_policy", f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError("ros parameters", "command_policy", f"{path}: {exc}") from None


def build_robot(settings: HostSettings, config: RobotKindConfig, clock: Clock, site_map: SiteMap,
                sink: TelemetrySink, extras: dict[str, Any]) -> Robot:
    devices = build_devices(config, load_device_registry(), clock, settings.robot_id, extras)
    robot = Robot(RobotIdentity(settings.robot_id, settings.site, settings.home_dock, settings.serves,
                                settings.confined), config, devices, clock,
                  site_map=site_map, telemetry=sink, journal_dir=settings.journal_dir)
    if isinstance(sink, CommandablePublisher):  # MQTT: the fleet (and operators) command it, polled each tick
        audit = settings.journal_dir / "audit" / f"{settings.robot_id}.jsonl"
        robot.attach_commands(attach_commands(robot, sink, policy=command_policy(settings), audit_path=audit))
    return robot


def load_site_map(map_file: str) -> SiteMap:
    """The site map from a world file, through the `medbot.site_maps` entry point (the world format
    is implemented beside the simulator; robots reach it as a plugin, as they reach device backends)."""
    if not map_file:
        return OpenSiteMap()
    loaders = {ep.name: ep for ep in entry_points(group=SITE_MAP_GROUP)}
    if "world" not in loaders:
        raise ConfigError("ros parameters", "map_file", f"no site map loader installed ({SITE_MAP_GROUP})")
    path = Path(map_file).expanduser()
    if not path.is_file():
        raise ConfigError("ros parameters", "map_file", f"no map file at {path}")
    site_map: SiteMap = loaders["world"].load()(path)
    return site_map


def hardware_host(settings: HostSettings, clock: Clock) -> RobotHost:
    """A robot on its hardware drivers (the config's device models), with the site's map.

    Without `map_file` the robot runs on an `OpenSiteMap` (no zones): for a bench, not a ward."""
    config = load_robot_config(resolve_robot_config(settings.robot_config))
    site_map = load_site_map(str(settings.extra.get("map_file", "")))
    sink = make_sink(settings)
    try:
        robot = build_robot(settings, config, clock, site_map, sink, {"ros_node": settings.ros_node})
    except Exception:
        sink.close()
        raise
    return RobotHost(robot, sink)


def host_factory(backend: str) -> HostFactory:
    """The host for a backend name (`hardware`, `sim`, or any installed `medbot.ros_hosts` entry)."""
    hosts = {ep.name: ep for ep in entry_points(group=HOST_GROUP)}
    if backend == "hardware" and backend not in hosts:
        return hardware_host
    if backend not in hosts:
        raise ConfigError("ros parameters", "backend", f"unknown backend {backend!r}", [*hosts, "hardware"])
    factory: HostFactory = hosts[backend].load()
    return factory
