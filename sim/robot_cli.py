"""``medbot robot run``: one simulated robot as its own process over MQTT.

For trying the fleet service without ROS 2, and for the fleet's integration test: the same `Robot`
the simulator and the robot node run, on simulated devices in a simulated hospital of its own
(world, patients, staff; `SimEnvironment`, as `sim.ros_bridge.SimRobotHost` builds one), publishing
through a `TelemetryPublisher` (Last Will, store-and-forward spool in the journal folder) and taking
commands through `robots.command_handler` — schema, role, idempotency and audit exactly as on a
real robot. It ticks at its tick period on the wall clock, scaled by ``--time-scale``.

The fleet commands robots as its service account (``service_user`` in the fleet config, by default
``fleet-service``); a robot obeys only accounts its command policy grants. Without ``--operators``
the policy grants ``fleet-service`` the operator role for this robot alone; with ``--operators
policy.json`` (``{"fleet-service": {"role": "operator", "targets": ["<site>/*"]}, "op-0001": ...}``)
the file decides — it must then name the fleet's account itself.

Lives in `sim/` because it builds simulated devices: `sim` may import `robots`, never the reverse,
and the `medbot` CLI finds this group through the ``medbot.commands`` entry point.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import click
import yaml

from fleet.clock import ScaledClock
from hal.clock import Clock, SimClock
from hal.registry import ConfigError
from missions.events import MissionEvent
from robots.command_handler import RobotCommandHandler, attach_commands
from robots.config import RobotKindConfig, kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from robots.robot import Robot, RobotIdentity, build_devices
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.world import World, WorldError, default_world_path, load_world
from telemetry.commands import CommandPolicy
from telemetry.publisher import TelemetryPublisher
from telemetry.tls import TlsConfig
from telemetry.topics import check_segment

log = logging.getLogger(__name__)

#: the fleet's default service account (fleet.config.FleetConfig.service_user; sim may not import fleet)
FLEET_SERVICE_USER = "fleet-service"
#: a tick never integrates more than this (a stalled process must not teleport the body)
MAX_TICK_DT_S = 0.5


class ScaledWallClock(ScaledClock, Clock):
    """`fleet.clock.ScaledClock` as the robot's `hal` clock, so a fleet and its robots given the same
    origin and scale agree on the time."""


@dataclass(frozen=True)
class RobotProcessSettings:
    robot_id: str
    kind: str  # a kind name (robots/kinds) or a kind config file
    dock: str
    site: str
    broker: str
    serves: str | None = None
    confined: bool = False
    seed: int = 1
    journal_dir: Path = Path("medbot-robot-journal")
    policy: CommandPolicy | None = None  # None: grant the fleet's service account this robot
    world: Path | None = None
    tick_s: float | None = None  # None: the kind config's tick period
    username: str | None = None
    password: str | None = None
    tls: TlsConfig | None = None


def default_policy(site: str, robot_id: str) -> CommandPolicy:
    return CommandPolicy.from_dict({FLEET_SERVICE_USER: {"role": "operator", "targets": [f"{site}/{robot_id}"]}})


def load_policy(path: Path) -> CommandPolicy:
    """``{user: {role, targets}}`` from JSON or YAML; errors name the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return CommandPolicy.from_dict(data)
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise click.BadParameter(f"{path}: not a command policy ({type(exc).__name__}: {exc})",
                                 param_hint="--operators") from None


def _kind_config(kind: str) -> RobotKindConfig:
    path = Path(kind)
    return load_robot_config(path if path.suffix in (".yaml", ".yml") else kind_config_path(kind))


class SimRobotProcess:
    """The robot, its world and its MQTT link; `run()` ticks until `stop()`."""

    def __init__(self, settings: RobotProcessSettings, wall: ScaledWallClock) -> None:
        self.settings = settings
        self.wall = wall
        check_segment(settings.site, "site")
        check_segment(settings.robot_id, "robot id")
        self.world: World = load_world(settings.world or default_world_path())
        docks = [p.name for p in self.world.docks()]
        if settings.dock not in self.world.places:
            raise ConfigError("medbot robot run", "--dock", f"no place {settings.dock!r} in the world", docks)
        self.config = _kind_config(settings.kind)
        self.tick_s = settings.tick_s or self.config.tick_period_s
        # one simulated clock for robot, devices and world, set to the scaled wall time each tick:
        # time stands still within a tick, as in `medbot sim`
        self.clock = SimClock(wall.now_s())
        census = PatientCensus(settings.seed, self.world.beds(), self.clock.now_s())
        self.env = SimEnvironment(self.world, census, self.clock, settings.seed)
        body = self.env.add_robot(settings.robot_id, settings.dock, max_speed_mps=self.config.safety.max_speed_mps,
                                  battery_capacity_wh=self.config.safety.battery_capacity_wh)
        devices = build_devices(self.config, load_device_registry(), self.clock, settings.robot_id,
                                {"sim_env": self.env, "sim_body": body})
        settings.journal_dir.mkdir(parents=True, exist_ok=True)
        self.publisher = TelemetryPublisher(
            settings.broker, settings.site, settings.robot_id, username=settings.username,
            password=settings.password, tls=settings.tls, clock_s=wall.now_s,
            spool=settings.journal_dir / f"{settings.robot_id}.spool.sqlite")
        identity = RobotIdentity(settings.robot_id, settings.site, settings.dock, serves=settings.serves,
                                 confined=settings.confined)
        self.robot = Robot(identity, self.config, devices, self.clock, site_map=self.world,
                           telemetry=self.publisher, journal_dir=settings.journal_dir)
        self.robot.add_listener(self._log_event)
        self._stop = threading.Event()
        self.commands: RobotCommandHandler | None = None
        self.ticks = 0

    @staticmethod
    def _log_event(event: MissionEvent) -> None:
        if event.kind != "mission.step":  # the lifecycle, not every step: a log to follow, not a record
            log.info("%s %s (%s)%s", event.kind, event.mission_id, event.mission_kind,
                     f": {event.reason}" if event.reason else "")

    def start(self) -> None:
        """Connect (bounded; raises), take commands, open the devices and resume the journal."""
        self.publisher.connect()
        s = self.settings
        self.commands = attach_commands(self.robot, self.publisher,
                                        policy=s.policy or default_policy(s.site, s.robot_id),
                                        audit_path=s.journal_dir / "audit" / f"{s.robot_id}.jsonl")
        self.robot.attach_commands(self.commands)
        self.robot.setup()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        last_s = self.clock.now_s()
        next_s = self.wall.now_s()
        try:
            while not self._stop.is_set():
                now_s = max(self.wall.now_s(), last_s)
                self.clock.set(now_s)
                self.robot.step(now_s)
                self.env.step(min(now_s - last_s, MAX_TICK_DT_S))
                last_s = now_s
                self.ticks += 1
                next_s += self.tick_s
                ahead_s = next_s - self.wall.now_s()
                if ahead_s < -self.tick_s:
                    next_s = self.wall.now_s()  # fell behind: carry on from now, no burst of ticks
                elif ahead_s > 0:
                    self._stop.wait(ahead_s / self.wall.scale)
        finally:
            self.close()

    def close(self) -> None:
        try:
            self.robot.close()
        finally:
            self.publisher.close()


@click.group("robot")
def robot_command() -> None:
    """One simulated robot as its own process (for the fleet service without ROS 2)."""


@robot_command.command("run")
@click.option("--id", "robot_id", required=True, help="robot id (a-z, 0-9, '-')")
@click.option("--kind", required=True, help="robot kind (robots/kinds: nursing, logistics, ...) or a kind YAML")
@click.option("--dock", required=True, help="its home dock, a place of the world (e.g. dock-ward-a)")
@click.option("--site", required=True, help="the site id of the topic tree")
@click.option("--broker", required=True, help="mqtt://host:port or mqtts://host:port")
@click.option("--serves", default=None, help="the ward or department it is stationed in (in its factsheet)")
@click.option("--confined", is_flag=True, help="it never leaves --serves (isolation): the fleet gives it only that")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True,
              help="seed of its simulated world (patients: pt-refs follow sim.patients.patient_ref_for)")
@click.option("--time-scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              envvar="MEDBOT_TIME_SCALE", help="run this many times faster than wall time (same as the fleet's)")
@click.option("--time-origin", type=float, default=None, envvar="MEDBOT_TIME_ORIGIN",
              help="epoch seconds the scaled clock runs from (same as the fleet's) [default: now]")
@click.option("--journal", "journal_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("medbot-robot-journal"), show_default=True,
              help="mission journal, command audit log and telemetry spool: keep it across restarts, so that "
                   "a restarted robot resumes and never runs a command twice")
@click.option("--operators", "policy_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="command policy JSON/YAML {user: {role, targets}} [default: the fleet's "
                                 f"account {FLEET_SERVICE_USER!r} may command this robot]")
@click.option("--world", "world_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="world YAML [default: sim/worlds/default_hospital.yaml]")
@click.option("--tick-s", type=click.FloatRange(min=0.01, max=MAX_TICK_DT_S), default=None,
              help="control period in (scaled) seconds [default: the kind's tick_period_s]")
@click.option("--username", default=None)
@click.option("--password", default=None, envvar="MEDBOT_ROBOT_PASSWORD", help="or MEDBOT_ROBOT_PASSWORD")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--cert-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def run(robot_id: str, kind: str, dock: str, site: str, broker: str, serves: str | None, confined: bool,
        seed: int, time_scale: float, time_origin: float | None, journal_dir: Path, policy_path: Path | None,
        world_path: Path | None, tick_s: float | None, username: str | None, password: str | None,
        ca_file: Path | None, cert_file: Path | None, key_file: Path | None, log_level: str) -> None:
    """Run one simulated robot until SIGTERM / Ctrl-C (then it stops, says OFFLINE and exits)."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    # transitions logs every state callback at INFO: the mission events say the same, once
    logging.getLogger("transitions").setLevel(max(logging.WARNING, logging.getLogger().level))
    if confined and not serves:
        raise click.BadParameter("--confined needs --serves (the ward it stays in)", param_hint="--confined")
    settings = RobotProcessSettings(
        robot_id=robot_id, kind=kind, dock=dock, site=site, broker=broker, serves=serves, confined=confined,
        seed=seed, journal_dir=journal_dir, policy=load_policy(policy_path) if policy_path else None,
        world=world_path, tick_s=tick_s, username=username, password=password,
        tls=TlsConfig(ca_file, cert_file, key_file) if broker.startswith("mqtts://") else None)
    try:
        process = SimRobotProcess(settings, ScaledWallClock(time_scale, time_origin))
    except (ConfigError, WorldError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        process.start()
    except (TimeoutError, ConnectionError, OSError) as exc:
        process.close()
        raise click.ClickException(str(exc)) from None

    def on_signal(signum: int, frame: FrameType | None) -> None:
        process.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    click.echo(json.dumps({"robot_id": robot_id, "kind": process.config.kind, "site": site, "dock": dock,
                           "serves": serves, "confined": confined, "tick_s": process.tick_s,
                           "time_scale": time_scale}), err=True)
    process.run()
    click.echo(f"medbot robot {robot_id}: stopped after {process.ticks} ticks", err=True)
