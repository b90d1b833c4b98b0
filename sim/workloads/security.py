"""Stands in for the security desk: patrol laps day and night, visitor requests at the outpatient
hall, and the incidents of the day seeded into `sim.security_world`.

Laps run back to back with a short pause (the day route from `day_from` to `night_from`, then the
night route). The desk keeps the open incidents the robot reported and hands them to every next
lap, so a hazard still there is not reported again unless it got worse; one the robot finds
cleared is closed. Visitor requests (Poisson, during outpatient hours) go to the robot at a higher
priority than patrols: they start when the current lap ends. Some visitors walk slowly (the robot
waits for them), a few wander off (the robot ends the guidance with "visitor lost").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from missions import events as ev
from sim.runner import SIM_DAY_START_S
from sim.scenario import RobotPlacement
from sim.security_world import Hazard, HazardKind, SimVisitor, security_world_for
from sim.workloads import Dispatch, WorkloadContext, WorkloadError

PATROL_PRIORITY = 40
VISITOR_PRIORITY = 60


class IncidentSpec(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    kind: HazardKind
    place: str
    at: str = pydantic.Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
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


class SecuritySettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    day_from: str = "07:00"
    night_from: str = "20:00"
    lap_pause_min: float = pydantic.Field(5.0, ge=0)
    visitor_requests_per_hour: float = pydantic.Field(1.5, ge=0)
    visitor_hours: tuple[float, float] = (8.0, 18.0)
    meet_at: str = "outpatient-reception"
    destinations: list[str] = ["radiology-reception", "clinical-lab", "pharmacy", "outpatient-waiting"]
    slow_visitor_fraction: float = pydantic.Field(0.3, ge=0, le=1)
    lost_visitor_fraction: float = pydantic.Field(0.1, ge=0, le=1)
    incidents: list[IncidentSpec] = list(DEFAULT_INCIDENTS)


def _hour(text: str) -> float:
    hours, minutes = text.split(":")
    return int(hours) + int(minutes) / 60.0


def build(ctx: WorkloadContext, robots: list[RobotPlacement], settings: Mapping[str, Any]) -> SecurityDesk:
    try:
        config = SecuritySettings.model_validate(dict(settings))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise WorkloadError(f"workloads.security.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    for place in [config.meet_at, *config.destinations, *(i.place for i in config.incidents)]:
        if place not in ctx.world.places:
            raise WorkloadError(f"workloads.security: unknown place {place!r}")
    security = security_world_for(ctx.env)
    for incident in config.incidents:
        at_s = SIM_DAY_START_S + _hour(incident.at) * 3600.0
        if at_s < ctx.start_s:
            at_s += 86400.0  # the night after the start
        until_s = at_s + incident.duration_min * 60.0 if incident.duration_min is not None else None
        security.add_hazard(Hazard(incident.kind, incident.place, at_s, until_s, incident.growth_per_h))
    return SecurityDesk(ctx, [r.id for r in robots], config)


class SecurityDesk:
    def __init__(self, ctx: WorkloadContext, robot_ids: list[str], config: SecuritySettings) -> None:
        self._ctx = ctx
        self._dispatch: Dispatch = ctx.dispatch
        self._config = config
        self._robots = sorted(robot_ids)
        self._rng = ctx.rng("security-visitors")
        self._security = security_world_for(ctx.env)
        self._laps: dict[str, int] = dict.fromkeys(self._robots, 0)
        self._busy: dict[str, str | None] = dict.fromkeys(self._robots, None)  # patrol in flight
        self._next_lap_s: dict[str, float] = dict.fromkeys(self._robots, ctx.start_s)
        self._open: dict[tuple[str, str], dict[str, Any]] = {}  # (checkpoint, category) → incident
        self._visitors = 0
        self._next_visitor_s = ctx.start_s + self._gap_s()
        self.outcomes: dict[str, int] = {}
        self.alerts: dict[str, int] = {}
        self.visitor_outcomes: dict[str, int] = {}

    def _gap_s(self) -> float:
        rate = self._config.visitor_requests_per_hour
        return float(self._rng.exponential(3600.0 / rate)) if rate > 0 else float("inf")

    def _route(self, now_s: float) -> str:
        hour = ((now_s - SIM_DAY_START_S) % 86400.0) / 3600.0
        day_from, night_from = _hour(self._config.day_from), _hour(self._config.night_from)
        return "day" if day_from <= hour < night_from else "night"

    def step(self, now_s: float) -> None:
        for robot_id in self._robots:
            if self._busy[robot_id] is None and now_s >= self._next_lap_s[robot_id]:
                self._laps[robot_id] += 1
                mission_id = f"{robot_id}-patrol-{self._laps[robot_id]:03d}"
                params = {"route": self._route(now_s), "return_to_dock": False,
                          "open_incidents": sorted(self._open.values(), key=lambda i: (i["checkpoint"], i["category"]))}
                self._dispatch(robot_id, "security_patrol", params, PATROL_PRIORITY, mission_id)
                self._busy[robot_id] = mission_id
        if self._robots and now_s >= self._next_visitor_s:
            self._next_visitor_s = now_s + self._gap_s()
            lo, hi = self._config.visitor_hours
            hour = ((now_s - SIM_DAY_START_S) % 86400.0) / 3600.0
            if lo <= hour < hi:
                self._visitor_request(now_s)

    def _visitor_request(self, now_s: float) -> None:
        self._visitors += 1
        robot_id = self._robots[(self._visitors - 1) % len(self._robots)]
        destination = self._config.destinations[int(self._rng.integers(len(self._config.destinations)))]
        roll = float(self._rng.random())
        lost = roll < self._config.lost_visitor_fraction
        slow = roll < self._config.lost_visitor_fraction + self._config.slow_visitor_fraction
        pace = 0.6 if slow else 1.1
        # the sim visitor for this request replaces the previous one of this robot
        self._security.add_visitor(SimVisitor(robot_id, self._config.meet_at, destination, pace,
                                              wanders_off_after_m=15.0 if lost else None))
        ref = f"vis-{self._visitors:04d}"
        params = {"visitor_ref": ref, "meet_at": self._config.meet_at, "destination": destination}
        self._dispatch(robot_id, "visitor_guidance", params, VISITOR_PRIORITY, f"{robot_id}-guide-{self._visitors:03d}")

    def on_event(self, event: ev.MissionEvent) -> None:
        if event.kind == ev.ALERT and event.mission_kind == "security_patrol":
            data = event.data
            self.alerts[data["category"]] = self.alerts.get(data["category"], 0) + 1
            if data["category"] not in ("device", "patrol"):
                self._open[(data["checkpoint"], data["category"])] = {
                    "checkpoint": data["checkpoint"], "category": data["category"],
                    "severity": data["severity"], "magnitude": data.get("magnitude", 0.0)}
        if event.kind not in (ev.MISSION_SUCCEEDED, ev.MISSION_FAILED, ev.MISSION_CANCELLED):
            return
        if event.mission_kind == "visitor_guidance":
            key = "arrived" if event.kind == ev.MISSION_SUCCEEDED else (event.reason or "failed").split(":")[0]
            self.visitor_outcomes[key] = self.visitor_outcomes.get(key, 0) + 1
        if event.mission_kind != "security_patrol" or self._busy.get(event.robot_id) != event.mission_id:
            return
        self.outcomes[event.kind] = self.outcomes.get(event.kind, 0) + 1
        self._busy[event.robot_id] = None
        self._next_lap_s[event.robot_id] = event.stamp_s + self._config.lap_pause_min * 60.0
        # what the robot found cleared is closed; what it still reports stays open
        for incident in event.data.get("open_incidents", []):
            self._open[(incident["checkpoint"], incident["category"])] = dict(incident)
        known = {(i["checkpoint"], i["category"]) for i in event.data.get("open_incidents", [])}
        for gone in [k for k in self._open if k not in known]:
            del self._open[gone]

    def summary(self) -> dict[str, Any]:
        return {
            "robots": self._robots,
            "patrol_laps": dict(self._laps),
            "patrol_outcomes": dict(sorted(self.outcomes.items())),
            "alerts_by_category": dict(sorted(self.alerts.items())),
            "open_incidents": sorted(f"{cp}:{cat}" for cp, cat in self._open),
            "visitor_requests": self._visitors,
            "visitor_outcomes": dict(sorted(self.visitor_outcomes.items())),
        }
