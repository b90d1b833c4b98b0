"""The security desk's patrol plans: laps back to back, the day route by day and the night route
(every closed area and all of the car park) by night.

A plan holds from its `from` time until the next plan's (the plans wrap round midnight). Each lap is
a `security_patrol` task for robot kinds ``("security",)`` with the route of the plan that holds
when the lap falls due: either a route the patrol robots know by name (`route: day`), or the
plan's own checkpoints — places of the site map, optionally with every parking place of the site
(`car_park: true`, walked nearest-first) before them. `patrols` laps run at once (one per security
robot the desk wants out); the next lap of a stream falls due `lap_pause_min` after its previous one
ended, however it ended.

The desk keeps the incidents the robots reported (their alerts, then each lap's `open_incidents`
result) and hands them to every next lap, so a hazard still there is not reported again unless it
got worse, and one a robot finds cleared is closed. A lap's deadline is its due time +
`lap_deadline_min` (60 min by default: a night lap takes ~25 min, a day lap ~10; a lap still out
after an hour has left its checkpoints unchecked for too long). Task ids are
``patrol-<stream>-<YYYYMMDD-HHMMSS>-<lap>`` from the due time: the same every run, never two alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from fleet.demand import DemandContext, DemandError, RobotMessage
from fleet.demand._common import Strict, parse_settings
from fleet.demand.daily import HHMM, local_minute, minute_of_day, stamp
from fleet.site import SiteMap
from fleet.tasks import Task, TaskRequest

NAME = "patrol_plans"
ROBOT_KINDS = ("security",)
#: alert categories that are about the robot or the lap, not a hazard at a checkpoint
NOT_INCIDENTS = frozenset({"device", "patrol"})
CHECKPOINT_NAME = r"^[a-z0-9][a-z0-9_.-]*$"


class CheckpointSpec(Strict):
    place: str = pydantic.Field(min_length=1, max_length=128)
    name: str | None = pydantic.Field(None, pattern=CHECKPOINT_NAME, max_length=64)
    #: [from_h, until_h) local hours the area is shut (motion then is an intrusion); may wrap midnight
    closed_hours: tuple[float, float] | None = None
    #: a door that must stay shut (stores, pharmacy)
    check_door: bool = False


class PlanSpec(Strict):
    #: `from` is a Python keyword: the field is `from_`, spelt `from` in the settings
    model_config = pydantic.ConfigDict(populate_by_name=True)
    name: str = pydantic.Field(pattern=r"^[a-z0-9-]{1,32}$")
    from_: str = pydantic.Field(alias="from", pattern=HHMM)
    route: str | None = pydantic.Field(None, min_length=1, max_length=64)
    checkpoints: list[CheckpointSpec | str] | None = pydantic.Field(None, min_length=1, max_length=100)
    car_park: bool = False
    return_to_dock: bool = False


DEFAULT_PLANS = (
    PlanSpec(name="day", from_="07:00", route="day"),
    PlanSpec(name="night", from_="20:00", route="night"),
)


class PatrolSettings(Strict):
    plans: list[PlanSpec] = pydantic.Field(default_factory=lambda: list(DEFAULT_PLANS), min_length=1)
    patrols: int = pydantic.Field(1, ge=1, le=20)
    lap_pause_min: float = pydantic.Field(5.0, ge=0)
    lap_deadline_min: float = pydantic.Field(60.0, gt=0)
    priority: int = pydantic.Field(40, ge=0, le=100)
    utc_offset_h: float = pydantic.Field(0.0, ge=-14, le=14)


@dataclass(frozen=True)
class Plan:
    name: str
    minute: int
    #: the params' route part: {"route": name} or {"checkpoints": [...]}
    route: dict[str, Any]
    first_place: str | None
    return_to_dock: bool


def build(ctx: DemandContext, settings: Mapping[str, Any]) -> PatrolDesk:
    config = parse_settings(PatrolSettings, NAME, settings)
    plans = [_plan(ctx.site, spec, f"demand.{NAME}.plans.{i}") for i, spec in enumerate(config.plans)]
    for what, values in (("name", [p.name for p in plans]), ("from", [p.minute for p in plans])):
        if len(set(values)) != len(values):
            raise DemandError(f"demand.{NAME}.plans: two plans have the same {what}")
    return PatrolDesk(ctx, config, sorted(plans, key=lambda p: p.minute))


def _plan(site: SiteMap, spec: PlanSpec, where: str) -> Plan:
    if spec.route is not None and (spec.checkpoints is not None or spec.car_park):
        raise DemandError(f"{where}: give either route (a name the robots know) or checkpoints/car_park")
    if spec.route is not None:
        return Plan(spec.name, minute_of_day(spec.from_), {"route": spec.route}, None, spec.return_to_dock)
    checkpoints: list[dict[str, Any]] = []
    if spec.car_park:
        # the car park's bays, not the robots' own parking bays inside the building
        bays = _walk(site, [p.name for p in site.places_of_kind("parking")
                            if (site.zone_of(p.name) or "").startswith("car-park")])
        if not bays:
            raise DemandError(f"{where}.car_park: site {site.name!r} has no parking places")
        checkpoints += [{"name": bay, "place": bay, "closed_hours": None, "check_door": False} for bay in bays]
    for i, cp in enumerate(spec.checkpoints or []):
        cp = CheckpointSpec(place=cp) if isinstance(cp, str) else cp
        if cp.place not in site.places:
            raise DemandError(f"{where}.checkpoints.{i}: no place {cp.place!r} on site {site.name!r}")
        name = cp.name or cp.place
        closed = list(cp.closed_hours) if cp.closed_hours is not None else None  # as JSON keeps it
        checkpoints.append({"name": name, "place": cp.place, "closed_hours": closed, "check_door": cp.check_door})
    if not checkpoints:
        raise DemandError(f"{where}: give a route, checkpoints or car_park")
    names = [c["name"] for c in checkpoints]
    if len(set(names)) != len(names):
        raise DemandError(f"{where}.checkpoints: a checkpoint appears twice ({_first_repeat(names)!r})")
    bad = [n for n in names if not re.fullmatch(CHECKPOINT_NAME, n) or len(n) > 64]
    if bad:
        raise DemandError(f"{where}.checkpoints: {bad[0]!r} is not a checkpoint name (give name: a-z 0-9 _ . -)")
    return Plan(spec.name, minute_of_day(spec.from_), {"checkpoints": checkpoints}, checkpoints[0]["place"],
                spec.return_to_dock)


def _walk(site: SiteMap, places: list[str]) -> list[str]:
    """Places in nearest-next order from the first by name (route lengths where the graph joins
    them, straight lines otherwise): the car park walked bay to bay, not in name order."""
    if not places:
        return []
    order, rest = [places[0]], sorted(places[1:])
    while rest:
        here = order[-1]
        nearest = min(rest, key=lambda there: (_distance_m(site, here, there), there))
        order.append(nearest)
        rest.remove(nearest)
    return order


def _distance_m(site: SiteMap, a: str, b: str) -> float:
    if a in site.graph and b in site.graph:
        d = site.distance_m(a, b)
        if math.isfinite(d):
            return d
    pa, pb = site.places[a], site.places[b]
    return math.hypot(pa.x_m - pb.x_m, pa.y_m - pb.y_m)


def _first_repeat(names: list[str]) -> str:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            return n
        seen.add(n)
    return ""


@dataclass
class _Stream:
    """One lap after another: at most one lap of a stream is open at a time."""

    laps: int = 0
    open_task: str | None = None
    due_s: float = 0.0
    #: alerts of the open lap already counted (a robot's outbox may send one again)
    alert_ids: list[str] = field(default_factory=list)


class PatrolDesk:
    name = NAME

    def __init__(self, ctx: DemandContext, config: PatrolSettings, plans: list[Plan]) -> None:
        self._ctx = ctx
        self._config = config
        self._plans = plans
        self._streams = [_Stream(due_s=ctx.start_s) for _ in range(config.patrols)]
        self._now_s = ctx.start_s
        self._open: dict[str, dict[str, Any]] = {}  # "checkpoint|category" -> incident
        self._laps_by_plan: dict[str, int] = {}
        self._outcomes: dict[str, int] = {}
        self._alerts: dict[str, int] = {}

    def plan_at(self, when_s: float) -> Plan:
        """The plan that holds at this time: the last one begun today, else last night's."""
        minute = local_minute(when_s, self._config.utc_offset_h)
        begun = [p for p in self._plans if p.minute <= minute]
        return begun[-1] if begun else self._plans[-1]

    # ---- laps -------------------------------------------------------------------------------

    def step(self, now_s: float) -> None:
        self._now_s = now_s
        for number, stream in enumerate(self._streams, start=1):
            if stream.open_task is None and now_s >= stream.due_s:
                self._request_lap(number, stream, stream.due_s, now_s)

    def _request_lap(self, number: int, stream: _Stream, due_s: float, now_s: float) -> None:
        # the plan that holds now: a lap held up past 20:00 (a fleet restart) walks the night route
        plan = self.plan_at(now_s)
        lap = stream.laps + 1
        task_id = f"patrol-{number}-{stamp(due_s, self._config.utc_offset_h, seconds=True)}-{lap}"
        params = {**plan.route, "return_to_dock": plan.return_to_dock,
                  "open_incidents": [self._open[k] for k in sorted(self._open)]}
        self._ctx.submit(TaskRequest(
            task_id=task_id, kind="security_patrol", params=params, priority=self._config.priority,
            robot_kinds=ROBOT_KINDS, earliest_start_s=due_s, deadline_s=due_s + self._config.lap_deadline_min * 60.0,
            place=plan.first_place, requested_by=f"source:{NAME}",
        ))
        # booked only once the fleet took it, so a failed submit is tried again next step
        stream.laps, stream.open_task, stream.alert_ids = lap, task_id, []
        self._laps_by_plan[plan.name] = self._laps_by_plan.get(plan.name, 0) + 1

    # ---- what the robots report -------------------------------------------------------------

    def _stream_of_alert(self, alert_id: str, task_id: str | None) -> _Stream | None:
        for stream in self._streams:
            tid = stream.open_task
            # alert ids start with the mission id, which is the task id (then <task id>.2, ...)
            if tid is not None and (task_id == tid or alert_id.startswith(f"{tid}.")):
                return stream
        return None

    def on_message(self, message: RobotMessage) -> None:
        if message.channel != "alerts":
            return
        body = message.body
        alert_id = str(body.get("alert_id", ""))
        stream = self._stream_of_alert(alert_id, message.task_id)
        if stream is None or alert_id in stream.alert_ids:
            return
        stream.alert_ids.append(alert_id)
        category = str(body.get("category"))
        self._alerts[category] = self._alerts.get(category, 0) + 1
        data = body.get("data") or {}
        if category not in NOT_INCIDENTS and data.get("checkpoint"):
            self._put_incident({"checkpoint": data["checkpoint"], "category": category,
                                "severity": body.get("severity"), "magnitude": data.get("magnitude", 0.0)})

    def on_task_finished(self, task: Task) -> None:
        stream = next((s for s in self._streams if s.open_task == task.task_id), None)
        if stream is None:
            return
        self._outcomes[task.state.value] = self._outcomes.get(task.state.value, 0) + 1
        stream.open_task, stream.alert_ids = None, []
        ended_s = task.finished_s if task.finished_s is not None else self._now_s
        stream.due_s = ended_s + self._config.lap_pause_min * 60.0
        # the lap's list is the truth at its end: what it found cleared is closed, what it did not
        # visit is carried over by the robot. A lap that ended without a result changes nothing.
        if "open_incidents" in task.result:
            self._open = {}
            for incident in task.result["open_incidents"]:
                self._put_incident(dict(incident))

    def _put_incident(self, incident: dict[str, Any]) -> None:
        incident["magnitude"] = float(incident.get("magnitude") or 0.0)
        self._open[f"{incident['checkpoint']}|{incident['category']}"] = incident

    def summary(self) -> dict[str, Any]:
        return {
            "patrols": self._config.patrols,
            "laps_requested": sum(s.laps for s in self._streams),
            "laps_by_plan": dict(sorted(self._laps_by_plan.items())),
            "lap_outcomes": dict(sorted(self._outcomes.items())),
            "alerts_by_category": dict(sorted(self._alerts.items())),
            "open_incidents": sorted(k.replace("|", ":") for k in self._open),
        }

    # ---- restart ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "streams": [{"laps": s.laps, "open_task": s.open_task, "due_s": s.due_s, "alert_ids": list(s.alert_ids)}
                        for s in self._streams],
            "open_incidents": dict(self._open), "laps_by_plan": dict(self._laps_by_plan),
            "outcomes": dict(self._outcomes), "alerts": dict(self._alerts),
        }

    def restore(self, state: dict[str, Any]) -> None:
        # streams beyond the saved ones (more patrols configured since) start fresh
        for stream, saved in zip(self._streams, state.get("streams", []), strict=False):
            stream.laps, stream.open_task = int(saved["laps"]), saved.get("open_task")
            stream.due_s, stream.alert_ids = float(saved["due_s"]), list(saved.get("alert_ids", []))
        self._open = {k: dict(v) for k, v in state.get("open_incidents", {}).items()}
        self._laps_by_plan = dict(state.get("laps_by_plan", {}))
        self._outcomes = dict(state.get("outcomes", {}))
        self._alerts = dict(state.get("alerts", {}))
