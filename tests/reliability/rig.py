"""Shared pieces of the reliability suite: a simulated robot of any kind ticked by hand, and the
`hospital-day` fleet stepped tick by tick (the runner's loop, opened up so a test can act between
ticks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hal.clock import SimClock
from missions.events import MissionEvent
from robots.config import kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from robots.robot import Robot, RobotIdentity, build_devices
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.runner import SIM_DAY_START_S, SimOptions, SimulationRun, _telemetry
from sim.scenario import WORLDS_DIR, load_scenario
from sim.world import World, load_world
from telemetry.sinks import NullSink, TelemetrySink

_WORLD: World | None = None


def hospital() -> World:
    global _WORLD
    if _WORLD is None:
        _WORLD = load_world(WORLDS_DIR / "default_hospital.yaml")
    return _WORLD


def at(hhmm: str) -> float:
    hours, minutes = hhmm.split(":")
    return SIM_DAY_START_S + int(hours) * 3600 + int(minutes) * 60


class RobotRig:
    """One robot of `kind` on the simulator's devices (optionally with some devices swapped by
    `device_overrides`), its own SimClock, events collected."""

    def __init__(self, journal_dir: Path, *, kind: str = "nursing", robot_id: str = "rel-1",
                 dock: str = "dock-ward-a", start: str = "07:55", seed: int = 5,
                 telemetry: TelemetrySink | None = None, device_overrides: dict[str, dict[str, Any]] | None = None,
                 ) -> None:
        self.world = hospital()
        self.clock = SimClock(at(start))
        self.census = PatientCensus(seed, self.world.beds(), self.clock.now_s(), deteriorating_fraction=0.0)
        self.env = SimEnvironment(self.world, self.census, self.clock, seed)
        config = load_robot_config(kind_config_path(kind))
        if device_overrides:
            devices = dict(config.devices)
            for name, spec in device_overrides.items():
                devices[name] = {**devices[name], **spec}
            config = config.model_copy(update={"devices": devices})
        self.config = config
        self.robot_id, self.dock = robot_id, dock
        self.body = self.env.add_robot(robot_id, dock, max_speed_mps=config.safety.max_speed_mps,
                                       battery_capacity_wh=config.safety.battery_capacity_wh)
        self.devices = build_devices(config, load_device_registry(), self.clock, robot_id,
                                     {"sim_env": self.env, "sim_body": self.body})
        self.events: list[MissionEvent] = []
        self.robot = Robot(RobotIdentity(robot_id, "test-site", dock), config, self.devices, self.clock,
                           site_map=self.world, telemetry=telemetry or NullSink(), journal_dir=journal_dir)
        self.robot.add_listener(self.events.append)
        self.robot.setup()

    def tick(self, dt_s: float = 0.2) -> None:
        now_s = self.clock.now_s() + dt_s
        self.clock.set(now_s)
        self.robot.step(now_s)
        self.env.step(dt_s)

    def idle(self) -> bool:
        return self.robot.runner.current is None and not self.robot.runner.queue_snapshot()

    def run_until(self, done: Any, *, max_s: float, dt_s: float = 0.2) -> bool:
        for _ in range(int(max_s / dt_s)):
            if done():
                return True
            self.tick(dt_s)
        return bool(done())

    def nursing_round(self, n_beds: int = 3, ward: str = "ward-a") -> dict[str, Any]:
        beds = []
        for place in [p for p in self.world.beds(ward) if p.bed_id][:n_beds]:
            assert place.bed_id is not None
            patient = self.census.patient_at_bed(place.bed_id)
            beds.append({"bed_id": place.bed_id, "place": place.name,
                         "patient_ref": self.census.expected_ref(place.bed_id), "on_oxygen": patient.on_oxygen,
                         "spo2_scale": patient.spo2_scale, "measure_glucose": patient.needs_glucose,
                         "measure_weight": patient.needs_weight, "escalation_in_force": "none"})
        return {"beds": beds}


class FleetStepper:
    """`hospital-day` (or a scenario dict) without MQTT, stepped one tick at a time the way
    `medbot sim` steps it (idle robots at their idle rate) — or every robot every tick."""

    def __init__(self, scenario_path: str, journal_dir: Path, *, hours: float, seed: int = 1,
                 every_robot: bool = False) -> None:
        self.run = SimulationRun(load_scenario(scenario_path),
                                 SimOptions(seed=seed, hours=hours, broker=None, progress=False,
                                            journal_dir=journal_dir))
        run = self.run
        telemetry = _telemetry(None, run.scenario, run.robots_ids(), None)
        run._telemetry = telemetry  # what run() sets up before its loop
        run._build_fleet(journal_dir, telemetry.sinks())
        self.events: list[MissionEvent] = []
        assert run.fleet is not None
        for robot_id in sorted(run.robots):
            robot = run.robots[robot_id]
            robot.add_listener(self.events.append)
            robot.setup()
            # what run() does once a robot is up: its publisher's connection message reaches the
            # fleet, which gives work only to robots it knows are online
            run.fleet.deliver(robot_id, "connection", {"state": "ONLINE", "session": 1}, run.clock.now_s())
        if run.his_feed is not None:  # what run() starts before its loop: the HIS link on loopback
            run.his_feed.start(journal_dir / "his.db", fresh=True, admitted_at_s=SIM_DAY_START_S)
        self.robots = [run.robots[rid] for rid in sorted(run.robots)]
        self.dt_s = run.scenario.tick_s
        self.n_ticks = round(run.hours * 3600.0 / self.dt_s)
        self.tick_index = 0
        self.every_robot = every_robot

    def step(self) -> float:
        now_s = self.run.step_site(self.tick_index, every_robot=self.every_robot)
        self.tick_index += 1
        return now_s

    def close(self) -> None:
        if self.run.his_feed is not None:
            self.run.his_feed.close()
        if self.run.fleet is not None:
            self.run.fleet.close()
        for robot in self.robots:
            robot.close()
