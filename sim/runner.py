"""Runs a scenario: one process, the whole fleet, on a SimClock as fast as the machine allows."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from fleet.config import FleetConfigError, fleet_config_from
from fleet.demand import DemandError
from fleet.site import site_from_json
from hal.clock import SimClock, iso_utc
from hal.geometry import Twist2D
from hal.registry import ConfigError
from robots.command_handler import attach_commands
from robots.config import kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from robots.robot import Robot, RobotIdentity, build_devices
from sim.building_site import SimBuilding
from sim.clinical_truth import grade_deterioration
from sim.environment import SimEnvironment
from sim.fleet_audit import AuditEvent, audit_fleet
from sim.fleet_link import FleetSetup, FleetTap, LoopbackFleet
from sim.hospital import HospitalContext, HospitalError, HospitalPart, load_hospital_factory
from sim.hospital.building import FirePanelSim
from sim.map_render import render_tracks_png
from sim.patients import PatientCensus
from sim.people import PeopleConfig
from sim.run_telemetry import ValidatingSink, _telemetry
from sim.scenario import Scenario
from sim.summary import RunCollector
from sim.traffic_link import attach_traffic, traffic_map_of
from sim.world import World, WorldError, load_world
from sim.world_export import world_json
from telemetry.commands import CommandPolicy
from telemetry.sinks import TelemetrySink
from telemetry.topics import FLEET_ID

if TYPE_CHECKING:
    from sim.his_feed import HisFeed

log = logging.getLogger(__name__)

#: control period of a robot with nothing to do (see Robot.is_idle): its health check period
#: (robots/robot.py HEALTH_CHECK_PERIOD_S). Work, a command or the fire alarm makes it busy and
#: ticked every step at once; an e-stop pressed meanwhile latches on that first tick, before it moves.
IDLE_TICK_S = 5.0

#: midnight UTC of the simulated day (2026-01-05, a Monday)
SIM_DAY_START_S = 1767571200.0


class CountingSink:
    """Counts messages per channel (deterministic, unlike what a broker saw) and forwards them."""

    def __init__(self, inner: TelemetrySink, counts: Counter[str]) -> None:
        self._inner = inner
        self._counts = counts

    def publish(self, channel: Any, body: dict[str, Any], stamp_s: float) -> None:
        self._counts[str(channel)] += 1
        self._inner.publish(channel, body, stamp_s)

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class SimOptions:
    seed: int = 1
    hours: float | None = None
    #: None: no MQTT at all (tests); "embedded": start an in-process broker; else mqtt://host:port
    broker: str | None = "embedded"
    report_dir: Path | None = None
    journal_dir: Path | None = None
    progress: bool = True
    #: does the broker speak MQTT 5 (the data center then uses a shared subscription)? None: yes,
    #: except for the embedded amqtt broker, which speaks 3.1.1 only
    mqtt5: bool | None = None
    #: publish the fleet on ROS 2 (/clock + each robot's topics); needs the `ros` extra
    ros: bool = False
    #: simulated seconds per wall second (0 = as fast as the machine allows), for watching a run
    #: live on the dashboard or in ROS tools
    realtime_factor: float = 0.0


class SimulationRun:
    def __init__(self, scenario: Scenario, options: SimOptions) -> None:
        self.scenario = scenario
        self.options = options
        self.world = _load_world(scenario)
        self.hours = options.hours if options.hours is not None else scenario.hours
        self.start_s = SIM_DAY_START_S + scenario.start_offset_s()
        self.clock = SimClock(self.start_s)
        self.census = PatientCensus(
            options.seed, self.world.beds(), self.start_s,
            deteriorating_fraction=scenario.patients.deteriorating_fraction,
            swapped_wristbands=scenario.patients.swapped_wristbands,
        )
        self.his_feed: HisFeed | None = None
        if scenario.his.enabled:  # before anything reads a ref: the feed renames patients to the HIS link's
            from sim.his_feed import HisFeed  # hl7apy and the HIS link load only when asked for

            try:
                self.his_feed = HisFeed(scenario.his, self.census, self.clock, options.seed,
                                        day_start_s=SIM_DAY_START_S, start_s=self.start_s,
                                        end_s=self.start_s + self.hours * 3600.0)
            except ValueError as exc:
                raise ConfigError(scenario.source, "his", str(exc)) from None
        crowd = scenario.people
        people = PeopleConfig(visitors_per_level=crowd.visitors_per_level, beds_per_level=crowd.beds_per_level,
                              levels=tuple(crowd.levels) if crowd.levels is not None else None)
        self.env = SimEnvironment(self.world, self.census, self.clock, options.seed,
                                  people=people if people.enabled else None)
        self.collector = RunCollector()
        self.telemetry_counts: Counter[str] = Counter()
        self.robots: dict[str, Robot] = {}
        self._event_log: TextIO | None = None
        self._ros: Any = None
        self.hospital: dict[str, HospitalPart] = {}
        self.fleet: LoopbackFleet | None = None
        self._fire_panel = FirePanelSim(scenario.building, SIM_DAY_START_S, self.start_s, self._on_fire_panel)
        try:
            self.building = SimBuilding(self.env, scenario.building, SIM_DAY_START_S, self.start_s,
                                        source=scenario.source)
        except ValueError as exc:
            raise ConfigError(scenario.source, "building", str(exc)) from None
        # lifts go into fire service and fire doors close as the panel rings (the fleet parks robots)
        self._fire_panel.add_listener(self.building.set_fire_alarm)
        self._ordered_robots: list[Robot] = []
        self._ordered_parts: list[HospitalPart] = []
        self._idle_every = 1
        self._fleet_every = 1
        #: robots whose process died (no longer ticked); when each comes back is not simulated
        self.failed_robots: set[str] = set()
        #: (at_s, what, arg) happenings of the run: robot failures, e-stops, fleet restarts
        self._happenings: list[tuple[float, str, str]] = []
        self._audit_events: list[AuditEvent] = []
        self._fleet_alarms: list[dict[str, Any]] = []

    def _on_fire_panel(self, active: bool, reason: str) -> None:
        if self.fleet is not None and self.fleet.service is not None:
            self.fleet.service.fire_panel(active, reason, self.clock.now_s())

    def _dispatch(self, robot_id: str, kind: str, params: dict[str, Any], priority: int, mission_id: str) -> None:
        self.robots[robot_id].dispatch(kind, params, priority=priority, mission_id=mission_id)

    def _request_task(self, body: dict[str, Any]) -> None:
        """A person's request (the simulated hospital's): onto the fleet's request topic."""
        if self.fleet is not None:
            self.fleet.deliver(FLEET_ID, "tasks/request", body, self.clock.now_s())

    def _build_hospital(self) -> None:
        ctx = HospitalContext(
            world=self.world, census=self.census, env=self.env, clock=self.clock, seed=self.options.seed,
            start_s=self.start_s, end_s=self.start_s + self.hours * 3600.0, robots=list(self.scenario.robots),
            request_task=self._request_task, fire_panel=self._on_fire_panel,
        )
        for name, settings in sorted(self.scenario.hospital.items()):
            try:
                self.hospital[name] = load_hospital_factory(name)(ctx, settings)
            except (HospitalError, ValueError) as exc:
                raise ConfigError(self.scenario.source, f"hospital.{name}", str(exc)) from None

    def _build_fleet_service(self, journal_dir: Path, fleet_sink: TelemetrySink) -> None:
        settings = dict(self.scenario.fleet)
        # the scenario's staff accounts and the reception desk (visitors' requests) may ask for work
        settings.setdefault("requesters", {**{u: {"role": g.get("role")} for u, g in self.scenario.operators.items()},
                                           "reception-desk": {"role": "operator"},
                                           # the HIS link's lab pick-ups (sim/his_feed.py)
                                           **({"his": {"role": "operator"}} if self.his_feed else {})})
        try:
            config = fleet_config_from(settings, f"{self.scenario.source}: fleet")
        except FleetConfigError as exc:
            raise ConfigError(self.scenario.source, "fleet", str(exc)) from None
        information: dict[str, Any] = {}
        for name in sorted(self.hospital):
            information.update(self.hospital[name].information())
        if self.his_feed is not None:
            # who lies in which bed: the HIS link's census, as the fleet reads it off the contract
            # (fleet/census.py), with the ward's care plan for the flags
            information.pop("ward_census", None)
        if self.options.journal_dir is not None:
            # the robots resume from the journals kept there, and so does the fleet that gave them
            # their work: a fresh fleet would book again, under new task ids, what they are finishing
            store = self.options.journal_dir / "fleet.db"
        else:
            store = (self.options.report_dir or journal_dir) / "fleet.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{store}{suffix}").unlink(missing_ok=True)  # a run starts with an empty fleet
        messages = None if self.options.report_dir is None else self.options.report_dir / "fleet.jsonl"
        setup = FleetSetup(config=config, messages_path=messages,
                           site=site_from_json(world_json(self.world), self.world.name),
                           site_id=self.scenario.site, store_path=store, seed=self.options.seed,
                           start_s=self.start_s, end_s=self.start_s + self.hours * 3600.0, hospital=information)
        try:
            self.fleet = LoopbackFleet(setup, fleet_sink=fleet_sink)
        except (DemandError, ValueError) as exc:
            raise ConfigError(self.scenario.source, "fleet.demand", str(exc)) from None
        self._fleet_every = max(1, round(config.step_period_s / self.scenario.tick_s))

    def _schedule_happenings(self) -> None:
        def at(hh_mm: str) -> float:
            return _time_of_day_s(SIM_DAY_START_S, self.start_s, hh_mm)

        for failure in self.scenario.robot_failures:
            self._happenings.append((at(failure.at), "robot_failure", failure.robot))
        for incident in self.scenario.estop_incidents:
            self._happenings.append((at(incident.at), "estop_press", incident.robot))
            self._happenings.append((at(incident.at) + incident.duration_min * 60.0, "estop_release", incident.robot))
        for n, request in enumerate(self.scenario.task_requests):
            self._happenings.append((at(request.at), "task_request", str(n)))
        for restart in self.scenario.fleet_restarts:
            self._happenings.append((at(restart.at), "fleet_kill", ""))
            self._happenings.append((at(restart.at) + restart.down_s, "fleet_restart", ""))
        self._happenings.sort()

    def _happen(self, now_s: float) -> None:
        while self._happenings and self._happenings[0][0] <= now_s:
            _, what, robot_id = self._happenings.pop(0)
            log.info("sim: %s %s at %s", what, robot_id, iso_utc(now_s))
            if what == "robot_failure" and robot_id not in self.failed_robots:
                robot = self.robots[robot_id]
                drive = robot.devices.drive_base
                if drive is not None:
                    drive.command_velocity(Twist2D.zero())
                self.failed_robots.add(robot_id)
                self._ordered_robots = [r for r in self._ordered_robots if r.identity.robot_id != robot_id]
                if self.fleet is not None:  # the broker publishes the dead robot's Last Will
                    self.fleet.deliver(robot_id, "connection", {"state": "CONNECTION_BROKEN", "session": 1}, now_s)
            elif what == "estop_press":
                self.env.press_estop(robot_id, "button")
            elif what == "estop_release":
                self.env.release_estop(robot_id)
                self.robots[robot_id].reset_estop(by="ward staff at the robot")
            elif what == "task_request":
                request = self.scenario.task_requests[int(robot_id)]
                self._request_task({"action": "submit", "issued_by": {"user": request.by, "role": request.role},
                                    "task": dict(request.task)})
            elif what == "fleet_kill" and self.fleet is not None:
                self.fleet.kill()
            elif what == "fleet_restart" and self.fleet is not None:
                self.fleet.restart()

    def _build_fleet(self, journal_dir: Path, sinks: dict[str, TelemetrySink]) -> None:
        registry = load_device_registry()
        self._build_hospital()
        self._build_fleet_service(journal_dir, sinks.get(FLEET_ID) or ValidatingSink(
            self.scenario.site, FLEET_ID, self._telemetry.errors))
        assert self.fleet is not None
        fleet_user = self.fleet.setup.config.service_user
        policy = CommandPolicy.from_dict({**self.scenario.operators,
                                          fleet_user: {"role": "operator", "targets": [f"{self.scenario.site}/*"]}})
        traffic_map = traffic_map_of(self.world)
        self.building.start()
        for placement in self.scenario.robots:
            if placement.dock not in self.world.places:
                raise ConfigError(self.scenario.source, f"robots[{placement.id}].dock",
                                  f"no place {placement.dock!r} in the world",
                                  [p.name for p in self.world.docks()])
            config = self.building.robot_config(placement.id, load_robot_config(kind_config_path(placement.kind)))
            if self.scenario.telemetry.viz_period_s is not None:
                config = config.model_copy(update={"telemetry": config.telemetry.model_copy(
                    update={"viz_period_s": self.scenario.telemetry.viz_period_s})})
            # the body is built to the kind's spec: top speed and battery as its config declares
            start = placement.start or placement.dock
            places = self.world.places
            if start not in places or places[start].level != places[placement.dock].level:
                raise ConfigError(self.scenario.source, f"robots[{placement.id}].start",
                                  f"{start!r} is not a place on the floor of its dock {placement.dock}", [])
            body = self.env.add_robot(placement.id, start, max_speed_mps=config.safety.max_speed_mps,
                                      battery_capacity_wh=config.safety.battery_capacity_wh)
            devices = build_devices(config, registry, self.clock, placement.id,
                                    {"sim_env": self.env, "sim_body": body})
            tap = FleetTap(sinks[placement.id], self.scenario.site, placement.id, self.fleet)
            sink = CountingSink(tap, self.telemetry_counts)
            robot = Robot(
                RobotIdentity(placement.id, self.scenario.site, placement.dock, placement.serves, placement.confined),
                config, devices, self.clock, site_map=self.world, telemetry=sink, journal_dir=journal_dir,
            )
            attach_traffic(robot, sink, tap, traffic_map)
            # commands from the fleet (loopback) and, with a broker, from operators over MQTT
            audit_dir = (self.options.report_dir or journal_dir) / "audit"
            audit_dir.mkdir(parents=True, exist_ok=True)
            if self.options.journal_dir is None:
                # a fresh journal is a fresh robot: an audit log left by an earlier run in the same
                # report folder would answer this run's (deterministic) command ids as repeats
                (audit_dir / f"{placement.id}.jsonl").unlink(missing_ok=True)
            robot.attach_commands(attach_commands(robot, tap, policy=policy,
                                                  audit_path=audit_dir / f"{placement.id}.jsonl"))
            self.collector.add_robot(placement.id, placement.kind)
            robot.add_listener(self.collector.on_event)
            robot.add_listener(self._on_event)
            self.robots[placement.id] = robot
        for fault in self.scenario.faults:
            hours, minutes = fault.at.split(":")
            at_s = SIM_DAY_START_S + int(hours) * 3600 + int(minutes) * 60
            if at_s < self.start_s:
                at_s += 86400
            until_s = at_s + fault.duration_min * 60 if fault.duration_min is not None else None
            self.env.inject_fault(fault.robot, fault.device, fault.reason, until_s=until_s, from_s=at_s)
        # the order every tick visits them in (sorted: a seed reproduces the run)
        self._ordered_robots = [self.robots[rid] for rid in sorted(self.robots)]
        self._idle_every = max(1, round(IDLE_TICK_S / self.scenario.tick_s))
        self._ordered_parts = [self.hospital[name] for name in sorted(self.hospital)]
        self._schedule_happenings()
        if self.his_feed is not None:
            self.his_feed.attach(self.fleet, self.hospital.get("lab"))

    def _on_event(self, event: Any) -> None:
        self._fire_panel.on_event(event)
        for part in self._ordered_parts:
            part.on_event(event)
        robot = self.robots.get(event.robot_id)
        task_id = robot.task_of(event.mission_id) if robot is not None else None
        self._audit_events.append(AuditEvent.of(event, task_id))
        if self._event_log is not None:
            self._event_log.write(json.dumps(_event_line(event, task_id), sort_keys=True) + "\n")
            self._event_log.flush()  # line by line: a killed run still leaves a readable log

    def run(self) -> dict[str, Any]:
        if self.options.report_dir is not None:
            self.options.report_dir.mkdir(parents=True, exist_ok=True)
            self._event_log = (self.options.report_dir / "events.jsonl").open("w", encoding="utf-8")
        try:
            with tempfile.TemporaryDirectory(prefix="medbot-journal-") as tmp:
                journal_dir = self.options.journal_dir or Path(tmp)
                with _telemetry(self.options.broker, self.scenario, self.robots_ids(),
                            self.options.report_dir, self.options.mqtt5) as telemetry:
                    self._telemetry = telemetry
                    self._build_fleet(journal_dir, telemetry.sinks())
                    for robot_id in sorted(self.robots):
                        self.robots[robot_id].setup()
                        assert self.fleet is not None  # the process is up: what its publisher says on connect
                        self.fleet.deliver(robot_id, "connection", {"state": "ONLINE", "session": 1},
                                           self.clock.now_s())
                    if self.options.ros:
                        from sim.ros_bridge import RosFleetBridge  # rclpy is imported only here

                        self._ros = RosFleetBridge(self.robots, realtime_factor=0.0)  # the loop paces
                    try:
                        if self.his_feed is not None:  # the store beside the fleet's, kept when resuming
                            his_dir = self.options.journal_dir or self.options.report_dir or journal_dir
                            # the census was admitted before the simulated day: stamped its midnight,
                            # whatever time a (resumed) run starts at
                            self.his_feed.start(his_dir / "his.db", fresh=self.options.journal_dir is None,
                                                admitted_at_s=SIM_DAY_START_S)
                        self._loop()
                    finally:
                        if self.his_feed is not None:
                            self.his_feed.close()
                        if self._ros is not None:
                            self._ros.close()
                            self._ros = None
                        self._fleet_summary = self._fleet_figures()
                        service = self.fleet.service if self.fleet is not None else None
                        self._building_summary = self.building.summary(
                            service.traffic if service is not None else None)
                        if self.fleet is not None:
                            self.fleet.close()
                        for robot in self.robots.values():
                            robot.close()
                        self.building.close()
        finally:
            if self._event_log is not None:
                self._event_log.close()
                self._event_log = None
        summary = self._summary()
        if self.options.report_dir is not None:
            self.write_report(self.options.report_dir, summary)
        return summary

    @property
    def datacenter_result(self) -> dict[str, Any] | None:
        """What the data center stored during the run (None without a broker or report folder)."""
        telemetry = getattr(self, "_telemetry", None)
        return None if telemetry is None else telemetry.datacenter_result

    def robots_ids(self) -> list[str]:
        return [r.id for r in self.scenario.robots]

    def _fleet_figures(self) -> dict[str, Any]:
        """The fleet section of the summary: the service's KPIs from its task store, checked against
        the robots' own events (tasks lost, run twice)."""
        if self.fleet is None or self.fleet.service is None:
            return {}
        service = self.fleet.service
        figures = service.kpis()
        figures.update(audit_fleet(service.tasks(), self._audit_events))
        self._fleet_alarms = service.alarm.summary()
        figures["restarts"] = self.fleet.restarts
        figures["robots_failed"] = sorted(self.failed_robots)
        figures["charging_missions"] = service.charging.sent
        figures["sources"] = {s.name: s.summary() for s in service.sources}
        if service.census.ready:  # the HIS link's census, as the fleet read it (the HIS feed)
            figures["census"] = service.census.summary()
        return figures

    def step_site(self, tick: int, *, every_robot: bool = False) -> float:
        """Tick `tick` of the run for the whole site: the clock, the building's alarms, the
        simulated hospital, the fleet service, the robots, the simulated world. Returns the tick's simulated time.

        An idle robot (nothing to do, standing still) is ticked every IDLE_TICK_S of simulated
        time; its body keeps being simulated every step. `every_robot` ticks every robot every
        step (a test that presses an idle robot's e-stop on an arbitrary tick)."""
        dt_s = self.scenario.tick_s
        # set, not add, so that float error cannot accumulate over a day of ticks
        now_s = self.start_s + tick * dt_s
        self.clock.set(now_s)
        if self._happenings:
            self._happen(now_s)
        self._fire_panel.step(now_s)
        if self.his_feed is not None:
            self.his_feed.step(now_s)
        self.building.step(now_s)
        for part in self._ordered_parts:
            part.step(now_s)
        if self.fleet is not None and tick % self._fleet_every == 0:
            self.fleet.step(now_s)
        idle_tick = every_robot or tick % self._idle_every == 0
        for robot in self._ordered_robots:
            if idle_tick or not robot.is_idle():
                robot.step(now_s)
        if self._ros is not None:
            self._ros.step(now_s)
        self.env.step(dt_s)
        return now_s

    def _loop(self) -> None:
        dt_s = self.scenario.tick_s
        n_ticks = round(self.hours * 3600.0 / dt_s)
        progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[clock]}"),
            TimeRemainingColumn(), disable=not self.options.progress, transient=False,
        )
        report_every = max(1, round(60.0 / dt_s))  # refresh once per simulated minute
        flush_every = max(1, round(1.0 / dt_s))  # hand telemetry to the gateway every simulated second
        wall_start_s = time.monotonic()
        with progress:
            task = progress.add_task(f"{self.scenario.name} seed {self.options.seed}", total=n_ticks,
                                     clock=iso_utc(self.start_s)[11:16])
            for tick in range(n_ticks):
                now_s = self.step_site(tick)
                if tick % flush_every == 0:
                    self._telemetry.flush()
                    if self.options.realtime_factor > 0:
                        self._pace(now_s, wall_start_s)
                if tick % report_every == 0:
                    progress.update(task, completed=tick, clock=iso_utc(now_s)[11:16])
            progress.update(task, completed=n_ticks, clock=iso_utc(self.start_s + n_ticks * dt_s)[11:16])
        self.clock.set(self.start_s + n_ticks * dt_s)

    def _pace(self, now_s: float, wall_start_s: float) -> None:
        """Hold the run to `realtime_factor` (the simulator may sleep; robot logic never does)."""
        ahead_s = (now_s - self.start_s) / self.options.realtime_factor - (time.monotonic() - wall_start_s)
        if ahead_s > 0:
            time.sleep(min(ahead_s, 1.0))

    def _summary(self) -> dict[str, Any]:
        extra: dict[str, dict[str, Any]] = {}
        for robot_id in sorted(self.robots):
            body = self.env.body(robot_id)
            extra[robot_id] = {
                "distance_m": round(body.distance_travelled_m, 1),
                "charge_cycles": body.charge_cycles,
                "final_soc_fraction": round(body.soc_fraction, 3),
            }
        header = {
            "scenario": self.scenario.name,
            "world": self.world.name,
            "seed": self.options.seed,
            "hours": self.hours,
            "tick_s": self.scenario.tick_s,
            "sim_start": iso_utc(self.start_s),
            "sim_end": iso_utc(self.clock.now_s()),
        }
        end_s = self.clock.now_s()
        cases = grade_deterioration(list(self.census.deteriorating()), self.collector.first_news2_alert_by_bed(),
                                    self.start_s, end_s)
        urgent = [c for c in cases if c.urgent_from_s is not None]
        deterioration = {
            "patients": len(cases),
            "became_urgent": len(urgent),
            "urgent_and_alerted": sum(1 for c in urgent if c.first_alert_s is not None),
            "cases": [c.as_dict(self.start_s) for c in cases],
        }
        summary = self.collector.summary(
            header=header, robots_extra=extra, deterioration=deterioration,
            total_beds=len(self.world.beds()), telemetry_counts=dict(self.telemetry_counts),
        )
        summary["building_alarms"] = self._fleet_alarms
        summary["building"] = getattr(self, "_building_summary", None) or self.building.summary(None)
        summary["fleet"] = getattr(self, "_fleet_summary", {})
        summary["hospital"] = {name: self.hospital[name].summary() for name in sorted(self.hospital)}
        summary["telemetry_contract_errors"] = dict(sorted(self._telemetry.errors.items()))
        if self.his_feed is not None:
            summary["his"] = self.his_feed.summary()
        return summary

    def write_report(self, report_dir: Path, summary: dict[str, Any]) -> None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        tracks: dict[str, Sequence[tuple[float, float] | tuple[float, float, int]]] = {
            rid: list(self.env.body(rid).track) for rid in sorted(self.robots)}
        render_tracks_png(self.world, tracks, report_dir / "map.png", markers=self.collector.alert_positions)


def _time_of_day_s(day_start_s: float, run_start_s: float, hh_mm: str) -> float:
    hours, minutes = hh_mm.split(":")
    at_s = day_start_s + int(hours) * 3600 + int(minutes) * 60
    return at_s + 86400 if at_s < run_start_s else at_s


def _event_line(event: Any, task_id: str | None) -> dict[str, Any]:
    return {"t": iso_utc(event.stamp_s), "robot": event.robot_id, "event": event.kind, "mission": event.mission_id,
            "task": task_id, "mission_kind": event.mission_kind, "step": event.step, "reason": event.reason,
            "data": event.data}


def _load_world(scenario: Scenario) -> World:
    try:
        return load_world(scenario.world_path())
    except WorldError as exc:
        raise ConfigError(scenario.source, "world", str(exc)) from None
