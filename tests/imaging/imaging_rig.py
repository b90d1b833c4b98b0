"""A real imaging robot on simulated devices in the default hospital, ticked by hand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hal.clock import SimClock
from hal.device import Device
from missions.events import MissionEvent
from robots.config import kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from robots.robot import Robot, RobotIdentity, build_devices
from sim.devices.xray import SimXRay
from sim.environment import SimEnvironment
from sim.imaging_patients import ImagingPatient, ImagingRoom, imaging_site
from sim.patients import PatientCensus
from sim.scenario import WORLDS_DIR
from sim.world import World, load_world
from telemetry.sinks import NullSink

START_S = 1767596400.0
ROBOT = "imaging-1"
_WORLD: list[World] = []


def world() -> World:
    if not _WORLD:
        _WORLD.append(load_world(WORLDS_DIR / "default_hospital.yaml"))
    return _WORLD[0]


class ImagingRig:
    def __init__(self, journal_dir: Path, *, start_place: str = "radiology-xray", seed: int = 3,
                 env: SimEnvironment | None = None, dt_s: float = 0.1) -> None:
        self.dt_s = dt_s
        if env is None:
            clock = SimClock(START_S)
            env = SimEnvironment(world(), PatientCensus(seed, world().beds(), START_S), clock, seed)
            env.add_robot(ROBOT, start_place)
        self.env = env
        self.clock = env.clock
        self.now_s = self.clock.now_s()
        config = load_robot_config(kind_config_path("imaging"))
        self.devices = build_devices(config, load_device_registry(), self.clock, ROBOT,
                                     {"sim_env": env, "sim_body": env.body(ROBOT)})
        self.robot = Robot(RobotIdentity(ROBOT, "general-hospital", "dock-radiology"), config, self.devices,
                           self.clock, site_map=world(), telemetry=NullSink(), journal_dir=journal_dir)
        self.events: list[MissionEvent] = []
        self.robot.add_listener(self.events.append)
        self.robot.setup()
        self.site = imaging_site(env)

    def device(self, name: str) -> Any:
        found: Device = next(d for d in self.devices if d.name == name)
        return found

    @property
    def xray(self) -> SimXRay:
        device: SimXRay = self.device("xray")
        return device

    def room(self, name: str = "radiology-xray") -> ImagingRoom:
        return self.site.room(name)

    def admit(self, patient: ImagingPatient, room: str = "radiology-xray") -> None:
        self.room(room).admit(patient, self.now_s)

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.now_s += self.dt_s
            self.clock.set(self.now_s)
            self.robot.step(self.now_s)
            self.env.step(self.dt_s)

    def run_until(self, done: Callable[[], bool], max_s: float = 600.0) -> None:
        end = self.now_s + max_s
        while not done():
            if self.now_s >= end:
                raise AssertionError(f"not done within {max_s} s; step {self.step_name()}")
            self.tick()

    def step_name(self) -> str | None:
        m = self.robot.runner.current
        return m.step.name.lower() if m is not None else None

    def finished(self, mission_id: str) -> bool:
        return any(r.mission_id == mission_id for r in self.robot.runner.history)

    def result(self, mission_id: str) -> Any:
        return next(r for r in self.robot.runner.history if r.mission_id == mission_id)

    def of_kind(self, kind: str, step: str | None = None) -> list[MissionEvent]:
        return [e for e in self.events if e.kind == kind and (step is None or e.step == step)]

    def study(self) -> dict[str, Any]:
        records = [e.data for e in self.of_kind("clinical.record") if e.data.get("record_type") == "imaging_study"]
        assert records, "no study reported"
        return dict(records[-1]["observations"])


def exam(accession: str = "ACC-0001", patient_ref: str = "pt-a1b2c3", procedure: str = "XR-CHEST-PA",
         modality: str = "DX", **extra: Any) -> dict[str, Any]:
    return {"accession_number": accession, "patient_ref": patient_ref, "procedure_code": procedure,
            "modality": modality, **extra}


def calm_patient(patient_ref: str = "pt-a1b2c3", accession: str = "ACC-0001", **kw: Any) -> ImagingPatient:
    defaults: dict[str, Any] = {"offset_mm": (35.0, -20.0), "drift_mm_per_s": (0.2, 0.1), "compliance": 0.9}
    defaults.update(kw)
    return ImagingPatient(patient_ref, accession, **defaults)
