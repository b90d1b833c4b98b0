"""What happens around the security desk of the simulated hospital: the day's incidents, and
visitors at the outpatient hall who ask to be shown the way.

- Incidents are seeded into `sim.security_world` at build (by default a hot spot at central supply
  08:00, a water leak at radiology reception 09:30, a small fire in the kitchen 13:10, the pharmacy
  door stuck open 21:30, an intrusion in the outpatient waiting area 02:10; a time before the run's
  start is the night after). The robots find them — or do not: nothing here reports them.
- Visitors arrive at random (Poisson, `visitor_requests_per_hour`, only during `visitor_hours`) and
  the reception desk asks the fleet for guidance: a `visitor_guidance` task on the fleet's request
  topic (`ctx.request_task`, telemetry/schemas/task_request.json), as any person with an operator
  account would. Which robot comes is the fleet's choice. A person does not ask for a robot kind
  (robot_kinds stays empty: any robot offering `visitor_guidance`), and may wait `visitor_deadline_min`.
- The visitor appears in the security world when a robot starts that task (`mission.started`):
  then they wait at the meeting point, follow at their own pace — some slowly, a few wander off
  and are lost. A visitor who wandered off is not there for a second attempt.

The mission id of a fleet task is the task id (a later attempt ``<task id>.<n>``), which is how a
started mission is matched to the visitor who asked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic

from fleet.demand._common import Strict
from fleet.demand.daily import DAY_S, HHMM, minute_of_day, next_daily_s
from missions import events as ev
from missions.events import MissionEvent
from sim.hospital import HospitalContext, HospitalError, RequestTask, parse_settings
from sim.security_world import Hazard, HazardKind, SecurityWorld, SimVisitor, security_world_for
from telemetry.envelope import iso_timestamp

#: the reception desk's account on the fleet (an operator: it may request work)
RECEPTION = {"user": "reception-desk", "role": "operator"}
SLOW_PACE_MPS, NORMAL_PACE_MPS = 0.6, 1.1
#: a visitor who wanders off does so after being led this far
WANDER_OFF_AFTER_M = 15.0


class IncidentSpec(Strict):
    kind: HazardKind
    place: str
    at: str = pydantic.Field(pattern=HHMM)
    duration_min: float | None = pydantic.Field(None, gt=0)
    growth_per_h: float = pydantic.Field(0.0, ge=0)


DEFAULT_INCIDENTS = (
    IncidentSpec(kind=HazardKind.HOT_SPOT, place="central-supply", at="08:00", duration_min=420, growth_per_h=0.15),
    IncidentSpec(kind=HazardKind.WATER_LEAK, place="radiology-reception", at="09:30", duration_min=180,
                 growth_per_h=0.6),
    IncidentSpec(kind=HazardKind.FIRE, place="kitchen", at="13:10", duration_min=25),
    IncidentSpec(kind=HazardKind.DOOR_OPEN, place="pharmacy", at="21:30", duration_min=360),
    IncidentSpec(kind=HazardKind.INTRUSION, place="outpatient-waiting", at="02:10", duration_min=40),
)


class SecurityPartSettings(Strict):
    incidents: list[IncidentSpec] = pydantic.Field(default_factory=lambda: list(DEFAULT_INCIDENTS))
    visitor_requests_per_hour: float = pydantic.Field(1.5, ge=0)
    #: [from_h, until_h) local hours visitors come to the desk
    visitor_hours: tuple[float, float] = (8.0, 18.0)
    meet_at: str = "outpatient-reception"
    destinations: list[str] = pydantic.Field(
        default_factory=lambda: ["radiology-reception", "clinical-lab", "pharmacy", "outpatient-waiting"],
        min_length=1)
    slow_visitor_fraction: float = pydantic.Field(0.3, ge=0, le=1)
    lost_visitor_fraction: float = pydantic.Field(0.1, ge=0, le=1)
    #: what the desk asks with: a person waiting in the hall comes before a patrol lap (40)
    visitor_priority: int = pydantic.Field(60, ge=0, le=100)
    visitor_deadline_min: float = pydantic.Field(15.0, gt=0)
    #: a robot that breaks down on the way may be replaced once
    visitor_max_attempts: int = pydantic.Field(2, ge=1, le=10)


def build(ctx: HospitalContext, settings: Mapping[str, Any]) -> SecurityDeskHall:
    config = parse_settings(SecurityPartSettings, "security", settings)
    named = [("meet_at", config.meet_at), *((f"destinations.{i}", p) for i, p in enumerate(config.destinations)),
             *((f"incidents.{i}.place", inc.place) for i, inc in enumerate(config.incidents))]
    for where, place in named:
        if place not in ctx.world.places:
            raise HospitalError(f"hospital.security.{where}: unknown place {place!r}")
    security = security_world_for(ctx.env)
    for incident in config.incidents:
        # the simulator's day is UTC; a time before the start is the night after it
        at_s = next_daily_s(ctx.start_s, minute_of_day(incident.at))
        until_s = at_s + incident.duration_min * 60.0 if incident.duration_min is not None else None
        security.add_hazard(Hazard(incident.kind, incident.place, at_s, until_s, incident.growth_per_h))
    return SecurityDeskHall(ctx, config, security)


@dataclass
class _Visitor:
    ref: str
    destination: str
    pace_mps: float
    wanders_off_after_m: float | None
    #: the sim visitor once a robot came for them (None: still waiting for the fleet)
    sim: SimVisitor | None = None


class SecurityDeskHall:
    def __init__(self, ctx: HospitalContext, config: SecurityPartSettings, security: SecurityWorld) -> None:
        self._config = config
        self._request_task: RequestTask = ctx.request_task
        self._security = security
        # the old security workload's stream: the same seed brings the same visitors
        self._rng = ctx.rng("security-visitors")
        self._day = iso_timestamp(ctx.start_s)[:10].replace("-", "")
        self._visitors: dict[str, _Visitor] = {}  # task id -> visitor
        self._ended: set[str] = set()  # mission ids whose end was counted
        self._outcomes: dict[str, int] = {}
        self._next_visitor_s = ctx.start_s + self._gap_s()
        self.requests: list[dict[str, Any]] = []  # the bodies sent, for the summary and tests

    def _gap_s(self) -> float:
        rate = self._config.visitor_requests_per_hour
        return float(self._rng.exponential(3600.0 / rate)) if rate > 0 else math.inf

    def step(self, now_s: float) -> None:
        if now_s < self._next_visitor_s:
            return
        self._next_visitor_s = now_s + self._gap_s()
        lo, hi = self._config.visitor_hours
        if lo <= (now_s % DAY_S) / 3600.0 < hi:
            self._visitor_arrives(now_s)

    def _visitor_arrives(self, now_s: float) -> None:
        config = self._config
        n = len(self._visitors) + 1
        destination = config.destinations[int(self._rng.integers(len(config.destinations)))]
        roll = float(self._rng.random())
        lost = roll < config.lost_visitor_fraction
        slow = roll < config.lost_visitor_fraction + config.slow_visitor_fraction
        ref = f"vis-{n:04d}"
        task_id = f"guide-{self._day}-{n:04d}"
        self._visitors[task_id] = _Visitor(ref, destination, SLOW_PACE_MPS if slow else NORMAL_PACE_MPS,
                                           WANDER_OFF_AFTER_M if lost else None)
        body = visitor_request(task_id, ref, config.meet_at, destination, now_s, priority=config.visitor_priority,
                               deadline_s=now_s + config.visitor_deadline_min * 60.0,
                               max_attempts=config.visitor_max_attempts)
        self.requests.append(body)
        self._request_task(body)

    def _visitor_of(self, mission_id: str) -> _Visitor | None:
        found = self._visitors.get(mission_id)
        if found is None and "." in mission_id:  # a later attempt: <task id>.<n>
            base, attempt = mission_id.rsplit(".", 1)
            found = self._visitors.get(base) if attempt.isdigit() else None
        return found

    def on_event(self, event: MissionEvent) -> None:
        if event.mission_kind != "visitor_guidance":
            return
        visitor = self._visitor_of(event.mission_id)
        if visitor is None:
            return  # guidance an operator asked for directly: no simulated person behind it
        if event.kind == ev.MISSION_STARTED and (visitor.sim is None or visitor.sim.state != "gone"):
            # they wait at the desk for whichever robot comes (again at the desk if a second one does)
            visitor.sim = self._security.add_visitor(SimVisitor(
                event.robot_id, self._config.meet_at, visitor.destination, visitor.pace_mps,
                wanders_off_after_m=visitor.wanders_off_after_m))
        elif event.kind in (ev.MISSION_SUCCEEDED, ev.MISSION_FAILED, ev.MISSION_CANCELLED) \
                and event.mission_id not in self._ended:
            self._ended.add(event.mission_id)
            key = "arrived" if event.kind == ev.MISSION_SUCCEEDED else (event.reason or "failed").split(":")[0]
            self._outcomes[key] = self._outcomes.get(key, 0) + 1

    def information(self) -> dict[str, Any]:
        return {}  # the desk knows of incidents only what the robots report

    def summary(self) -> dict[str, Any]:
        return {
            "incidents": [f"{i.kind.value}@{i.place} {i.at}" for i in self._config.incidents],
            "visitor_requests": len(self._visitors),
            "visitors_met": sum(1 for v in self._visitors.values() if v.sim is not None),
            "visitor_outcomes": dict(sorted(self._outcomes.items())),
        }



def visitor_request(
    task_id: str, visitor_ref: str, meet_at: str, destination: str, now_s: float, *, priority: int,
    deadline_s: float, max_attempts: int,
) -> dict[str, Any]:
    """The reception desk's `tasks/request` body for one visitor (telemetry/schemas/task_request.json)."""
    return {
        "action": "submit",
        "issued_by": dict(RECEPTION),
        "task": {
            "task_id": task_id,
            "kind": "visitor_guidance",
            "params": {"visitor_ref": visitor_ref, "meet_at": meet_at, "destination": destination},
            "priority": priority,
            "robot_kinds": [],
            "earliest_start": iso_timestamp(now_s),
            "deadline": iso_timestamp(deadline_s),
            "zone": None,
            "place": meet_at,
            "robot_id": None,
            "max_attempts": max_attempts,
        },
    }
