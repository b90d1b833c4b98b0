"""A whole simulated survey robot on the default hospital, ticked by hand (nothing sleeps)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hal.clock import SimClock
from hal.door_controller import DoorState
from missions.events import MissionEvent
from robots.config import kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from robots.robot import Robot, RobotIdentity, build_devices
from sim.devices.door_controller import SimDoorController
from sim.devices.recorder import SimRecorder
from sim.devices.touchscreen import SimTouchscreen
from sim.devices.uv_lamp import SimUvLamp
from sim.environment import SimEnvironment
from sim.outbreak import Outbreak, OutbreakCase, install_outbreak, isolation_beds
from sim.patients import PatientCensus
from sim.world import World, load_world
from telemetry.sinks import NullSink

ROBOT = "epi-1"
DOCK = "dock-isolation"
_WORLD: dict[str, World] = {}


def world() -> World:
    if "w" not in _WORLD:
        _WORLD["w"] = load_world(Path(__file__).parents[2] / "sim" / "worlds" / "default_hospital.yaml")
    return _WORLD["w"]


@dataclass
class EpiRig:
    clock: SimClock
    env: SimEnvironment
    robot: Robot
    outbreak: Outbreak
    events: list[MissionEvent]
    journal_dir: Path
    both_open_ticks: list[float] = field(default_factory=list)

    @property
    def doors(self) -> SimDoorController:
        d = next(d for d in self.robot.devices if isinstance(d, SimDoorController))
        return d

    @property
    def recorder(self) -> SimRecorder:
        return next(d for d in self.robot.devices if isinstance(d, SimRecorder))

    @property
    def lamp(self) -> SimUvLamp:
        return next(d for d in self.robot.devices if isinstance(d, SimUvLamp))

    @property
    def screen(self) -> SimTouchscreen:
        return next(d for d in self.robot.devices if isinstance(d, SimTouchscreen))

    def kinds(self, kind: str) -> list[MissionEvent]:
        return [e for e in self.events if e.kind == kind]

    def case(self, bed_id: str) -> OutbreakCase:
        return next(c for c in self.outbreak.cases if c.bed_id == bed_id)

    def params(self, bed_id: str, **extra: Any) -> dict[str, Any]:
        case = self.case(bed_id)
        n = int(bed_id.split("-")[1])
        return {
            "case_ref": case.case_ref, "patient_ref": case.patient_ref, "case_reported_s": case.reported_s,
            "approach": f"isolation-room-{n}-approach", "anteroom": f"isolation-room-{n}-anteroom",
            "room_place": f"isolation-bed-{n:02d}", "outer_door": f"isolation-room-{n}-outer-door",
            "inner_door": f"isolation-room-{n}-inner-door", **extra,
        }

    def check_doors(self) -> None:
        doors = self.doors
        for room in doors.anterooms():
            if not doors.state(room.outer_door).closed and not doors.state(room.inner_door).closed:
                self.both_open_ticks.append(self.clock.now_s())

    def tick(self, dt_s: float = 0.5) -> None:
        now_s = self.clock.now_s() + dt_s
        self.clock.set(now_s)
        self.robot.step(now_s)
        self.env.step(dt_s)
        self.check_doors()

    def run_until(self, done: Callable[[], bool], *, dt_s: float = 0.5, max_s: float = 4 * 3600.0,
                  each: Callable[[], None] | None = None) -> None:
        end_s = self.clock.now_s() + max_s
        while not done():
            if self.clock.now_s() > end_s:
                raise AssertionError(f"not reached within {max_s} s (step {self.step()})")
            self.tick(dt_s)
            if each is not None:
                each()

    def step(self) -> str | None:
        current = self.robot.runner.current
        return current.step.name.lower() if current is not None else None

    def idle(self) -> bool:
        return self.robot.runner.current is None and not self.robot.runner.queue_snapshot()

    def restart(self) -> None:
        """Kill and restart the robot's software: a new Robot on the same devices and journal."""
        devices = self.robot.devices
        for device in devices:
            device.close()
        self.robot = _robot(self.clock, self.env, devices, self.journal_dir, self.events)
        self.robot.setup()


def _robot(clock: SimClock, env: SimEnvironment, devices: Any, journal_dir: Path,
           events: list[MissionEvent]) -> Robot:
    config = load_robot_config(kind_config_path("epi_survey"))
    robot = Robot(RobotIdentity(ROBOT, "test-site", DOCK), config, devices, clock, site_map=env.world,
                  telemetry=NullSink(), journal_dir=journal_dir)
    robot.add_listener(events.append)
    return robot


def make_rig(tmp_path: Path, *, seed: int = 3, refusals: int = 1, non_responsive: int = 1) -> EpiRig:
    w = world()
    clock = SimClock()
    census = PatientCensus(seed, w.beds(), clock.now_s())
    env = SimEnvironment(w, census, clock, seed)
    outbreak = Outbreak.seeded(seed, isolation_beds(env), clock.now_s() - 6 * 3600.0, refusals=refusals,
                               non_responsive=non_responsive)
    install_outbreak(env, outbreak)
    config = load_robot_config(kind_config_path("epi_survey"))
    body = env.add_robot(ROBOT, DOCK)
    devices = build_devices(config, load_device_registry(), clock, ROBOT, {"sim_env": env, "sim_body": body})
    events: list[MissionEvent] = []
    journal_dir = tmp_path / "journal"
    robot = _robot(clock, env, devices, journal_dir, events)
    robot.setup()
    return EpiRig(clock, env, robot, outbreak, events, journal_dir)


def bed_where(rig: EpiRig, predicate: Callable[[OutbreakCase], bool]) -> str:
    return next(c.bed_id for c in rig.outbreak.cases if predicate(c))


def door_state(rig: EpiRig, door: str) -> DoorState:
    return rig.doors.state(door).state
