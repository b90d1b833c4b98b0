"""Scenario files: which world, which robots where, patients, schedules, faults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml

from hal.registry import ConfigError

SCENARIOS_DIR = Path(__file__).parent / "scenarios"
WORLDS_DIR = Path(__file__).parent / "worlds"

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _clock_time(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError("must be a time of day HH:MM")
    return value


#: a time of day, HH:MM
ClockTime = Annotated[str, pydantic.AfterValidator(_clock_time)]


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class RobotPlacement(_Strict):
    id: str = pydantic.Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    kind: str
    dock: str
    #: what the robot serves: the ward of a nursing robot, the department or area of others
    serves: str | None = None
    #: the robot never leaves what it serves (infection control): the fleet gives it only that work
    confined: bool = False
    #: where it stands when the run starts, if not on its dock (a parking bay when docks are
    #: fewer than robots): a place on the dock's floor
    start: str | None = None


class PatientSettings(_Strict):
    deteriorating_fraction: float = pydantic.Field(0.2, ge=0, le=1)
    swapped_wristbands: int = pydantic.Field(0, ge=0)


class DeviceFault(_Strict):
    robot: str
    device: str
    at: ClockTime  # HH:MM sim time
    reason: str
    duration_min: float | None = None


class RobotFailure(_Strict):
    robot: str
    at: ClockTime  # HH:MM sim time
    reason: str = "robot failed"


class EstopIncident(_Strict):
    """Someone presses a robot's e-stop; after `duration_min` it is released and reset at the robot."""

    robot: str
    at: ClockTime  # HH:MM sim time
    duration_min: float = pydantic.Field(60.0, gt=0)


class TaskRequestAt(_Strict):
    """Someone asks the fleet for work at a time of day (over its request topic, like a console)."""

    at: ClockTime  # HH:MM sim time
    by: str = pydantic.Field("op-demo", pattern=r"^[a-z0-9-]{1,64}$")
    role: Literal["operator", "viewer"] = "operator"
    task: dict[str, Any]


class FleetRestart(_Strict):
    at: ClockTime  # HH:MM sim time
    down_s: float = pydantic.Field(60.0, ge=0, le=3600)


class FireAlarm(_Strict):
    at: ClockTime  # HH:MM sim time
    duration_min: float = pydantic.Field(20.0, gt=0)
    reason: str = "fire alarm drill"


class LiftOutage(_Strict):
    """A lift taken out of service (a fault, an engineer's visit): it stops at the next floor, opens
    and takes no calls until it is back."""

    lift: str
    at: ClockTime  # HH:MM sim time
    duration_min: float = pydantic.Field(30.0, gt=0)


class BuildingSettings(_Strict):
    #: a fire a robot confirms (camera and smoke sensor agree) sets off the building's alarm; the
    #: fire team clears it after this long
    fire_alarm_clear_after_min: float = pydantic.Field(20.0, gt=0)
    #: scheduled alarms (drills)
    fire_alarms: list[FireAlarm] = []
    lift_outages: list[LiftOutage] = []
    #: how the robots reach the lift and door controllers: in-process ("sim") or over Modbus TCP to
    #: an emulator of the building's controllers ("modbus": the same path as a real building)
    controllers: Literal["sim", "modbus"] = "sim"


class PeopleSettings(_Strict):
    """People walking the building (sim/people.py): visitors, and porters pushing beds; seeded.
    Robots see them and must never touch one; 0 and 0 leaves the corridors to the robots."""

    visitors_per_level: int = pydantic.Field(0, ge=0, le=200)
    beds_per_level: int = pydantic.Field(0, ge=0, le=50)
    #: the floors they walk (None: every floor with somewhere to walk)
    levels: list[int] | None = None


class HisFeedSettings(_Strict):
    """The simulated hospital speaking HL7 v2 over MLLP to an in-process `medbot his` (sim/his_feed.py):
    an ADT A01 for every patient at the start; one A03 discharge; the swapped-bed case put right by
    A08 (through the bed the discharge freed: every bed is occupied at the start); one A02 transfer
    into that bed; every specimen order as OML^O21 (stat ones become pick-ups of their own, one is
    cancelled); every result back as ORU^R01 to a record system. Off unless a scenario turns it on."""

    enabled: bool = False
    #: the time of day of the discharge (None: none)
    discharge_at: ClockTime | None = "10:30"
    #: when ADT puts the swapped beds right (A08; needs a free bed: after the discharge; None: never)
    swap_fix_at: ClockTime | None = "11:00"
    #: the time of day of the transfer, after the discharge (None: none)
    transfer_at: ClockTime | None = "12:30"
    #: the lab's specimen orders go over OML^O21 (stat ones get a pick-up of their own)
    orders: bool = True
    #: the first stat order is cancelled (ORC-1 CA) this long after it was placed (None: none)
    cancel_first_stat_after_min: float | None = pydantic.Field(1.0, ge=0, le=240)
    #: results out: every vitals set and lab result as ORU^R01 to a record system
    results: bool = True
    #: the record system's MLLP listener, HOST:PORT (None: the simulator's own on loopback)
    record_system: str | None = pydantic.Field(None, pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")
    #: the pseudonymisation key: derived from the run's seed (the same refs every run: a seed
    #: reproduces the day) or a fresh random one (refs differ run to run); never written to disk
    key: Literal["seeded", "random"] = "seeded"
    #: every MLLP wait (connect, ACK) is bounded by this
    timeout_s: float = pydantic.Field(10.0, gt=0, le=120)


class TelemetryOverrides(_Strict):
    viz_period_s: float | None = pydantic.Field(None, gt=0)


class Scenario(_Strict):
    name: str
    description: str = ""
    world: str = "default_hospital"
    site: str = pydantic.Field("general-hospital", pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    start_time: ClockTime = "07:00"
    hours: float = pydantic.Field(24.0, gt=0, le=24 * 7)
    tick_s: float = pydantic.Field(0.2, gt=0, le=1.0)
    robots: list[RobotPlacement] = pydantic.Field(min_length=1)
    patients: PatientSettings = PatientSettings()
    #: the simulated hospital's parts (`sim/hospital/<name>.py`): what happens
    hospital: dict[str, dict[str, Any]] = {}
    #: the fleet service's settings (`fleet.config.FleetConfig`): demand sources, allocation, charging
    fleet: dict[str, Any] = {}
    #: robots that fail during the run (the process dies: the broker publishes its Last Will)
    robot_failures: list[RobotFailure] = []
    estop_incidents: list[EstopIncident] = []
    #: requests people make of the fleet during the day (the tasks/request topic)
    task_requests: list[TaskRequestAt] = []
    #: moments the fleet service is killed (kill -9) and restarted, HH:MM, with the downtime
    fleet_restarts: list[FleetRestart] = []
    faults: list[DeviceFault] = []
    building: BuildingSettings = BuildingSettings()
    people: PeopleSettings = PeopleSettings()
    #: who may command the simulated robots over MQTT (staff account -> role and targets); the
    #: dashboard's demo accounts by default
    operators: dict[str, dict[str, Any]] = {
        "op-demo": {"role": "operator", "targets": ["*"]},
        "vw-demo": {"role": "viewer"},
    }
    telemetry: TelemetryOverrides = TelemetryOverrides()
    #: the hospital's ADT, orders and results over HL7 v2 / MLLP with the HIS link (off unless set)
    his: HisFeedSettings = HisFeedSettings()
    mode: Literal["simulation"] = "simulation"
    source: str = "<memory>"

    @pydantic.model_validator(mode="after")
    def _unique_ids(self) -> Scenario:
        ids = [r.id for r in self.robots]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"robot ids must be unique, repeated: {', '.join(duplicates)}")
        if "fleet" in ids:
            raise ValueError("robot id 'fleet' is reserved for the fleet service's topics")
        for what, items in (("robot_failures", self.robot_failures), ("estop_incidents", self.estop_incidents)):
            for item in items:
                if item.robot not in ids:
                    raise ValueError(f"{what}: unknown robot {item.robot!r} (robots: {', '.join(ids)})")
        return self

    def start_offset_s(self) -> float:
        hours, minutes = self.start_time.split(":")
        return int(hours) * 3600.0 + int(minutes) * 60.0

    def world_path(self) -> Path:
        """A world name from sim/worlds, or a path relative to the scenario file."""
        candidate = WORLDS_DIR / f"{self.world}.yaml"
        if candidate.is_file():
            return candidate
        base = Path(self.source).parent if self.source != "<memory>" else Path.cwd()
        return (base / self.world).resolve()


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: mappings merge key by key, anything else (lists too) replaces."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _extended(data: dict[str, Any], source: str, seen: tuple[str, ...]) -> dict[str, Any]:
    """`extends: <scenario>`: this file's keys on top of another scenario (a variant of the day
    names only what differs: a robot failing, the fleet restarted)."""
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError(source, "extends", "must name a scenario")
    parent_path = resolve_scenario(parent)
    if str(parent_path.resolve()) in seen:
        raise ConfigError(source, "extends", f"scenario {parent!r} extends itself")
    try:
        base = yaml.safe_load(parent_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(source, "extends", f"cannot read {parent_path}: {exc}") from None
    if not isinstance(base, dict):
        raise ConfigError(str(parent_path), "<top>", "expected a mapping at the top level")
    return _merge(_extended(base, str(parent_path), (*seen, str(parent_path.resolve()))), data)


def known_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIOS_DIR.glob("*.yaml"))


def resolve_scenario(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(str(path), "<file>", "scenario file not found")
        return path
    candidate = SCENARIOS_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise ConfigError("--scenario", "scenario", f"unknown scenario {name_or_path!r}", known_scenarios())
    return candidate


def load_scenario(name_or_path: str) -> Scenario:
    path = resolve_scenario(name_or_path)
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(source, "<file>", f"cannot read scenario: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, "<file>", f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(source, "<top>", "expected a mapping at the top level")
    data = _extended(data, source, seen=(str(path.resolve()),))
    try:
        return Scenario.model_validate({**data, "source": source})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "<top>"
        raise ConfigError(source, loc, first["msg"]) from None
