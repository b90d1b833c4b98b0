"""A small site for the hospital desks' tests (lab pick-ups, the radiology worklist, epi cases):
two ward nurse stations, the lab bench, the X-ray and ultrasound rooms, two isolation rooms with
their approach, anteroom and doors; a context whose `submit` is a list."""

from __future__ import annotations

import itertools
from typing import Any

from fleet.demand import DemandContext, RobotMessage
from fleet.site import SiteMap, site_from_json
from fleet.tasks import Task, TaskRequest, TaskState

#: 2026-01-05 00:00 UTC, the simulator's day
DAY_S = 1767571200.0
HOUR_S = 3600.0
START_S = DAY_S + 7 * HOUR_S  # 07:00

# name, kind, zone/ward, bed id, x
_PLACES: list[tuple[str, str, str | None, str | None, float]] = [
    ("ward-a-nurse-station", "nurse_station", "ward-a", None, 0.0),
    ("ward-b-nurse-station", "nurse_station", "ward-b", None, 10.0),
    ("clinical-lab", "lab_bench", "clinical-lab", None, 20.0),
    ("radiology-xray", "imaging", "radiology", None, 30.0),
    ("radiology-ultrasound", "imaging", "radiology", None, 40.0),
    ("isolation-room-1-approach", "waypoint", "isolation", None, 50.0),
    ("isolation-room-1-anteroom", "anteroom", "isolation", None, 51.0),
    ("isolation-bed-01", "bed", "isolation", "ISO-01", 52.0),
    ("isolation-room-2-approach", "waypoint", "isolation", None, 60.0),
    ("isolation-room-2-anteroom", "anteroom", "isolation", None, 61.0),
    ("isolation-bed-02", "bed", "isolation", "ISO-02", 62.0),
]
_DOORS = {("isolation-room-1-approach", "isolation-room-1-anteroom"): "isolation-room-1-outer-door",
          ("isolation-room-1-anteroom", "isolation-bed-01"): "isolation-room-1-inner-door",
          ("isolation-room-2-approach", "isolation-room-2-anteroom"): "isolation-room-2-outer-door",
          ("isolation-room-2-anteroom", "isolation-bed-02"): "isolation-room-2-inner-door"}


def site(places: list[tuple[str, str, str | None, str | None, float]] | None = None) -> SiteMap:
    chosen = _PLACES if places is None else places
    nodes = [{"name": name, "x_m": x, "y_m": 0.0} for name, *_, x in chosen]
    edges = [{"from": a[0], "to": b[0], "length_m": b[-1] - a[-1], "door": _DOORS.get((a[0], b[0]))}
             for a, b in itertools.pairwise(chosen)]
    rows = [{"name": name, "kind": kind, "x_m": x, "y_m": 0.0, "zone": zone,
             "ward": zone if kind == "bed" else None, "bed_id": bed} for name, kind, zone, bed, x in chosen]
    return site_from_json({"format": "medbot.map/1", "name": "test-site", "places": rows,
                           "routes": {"nodes": nodes, "edges": edges}})


class Submitted(list[TaskRequest]):
    """`submit` as a list, with the ids at hand."""

    def ids(self) -> list[str]:
        return [r.task_id for r in self]

    def of_kind(self, kind: str) -> list[TaskRequest]:
        return [r for r in self if r.kind == kind]


def context(hospital: dict[str, Any], *, site_map: SiteMap | None = None, end_s: float | None = None,
            start_s: float = START_S) -> tuple[DemandContext, Submitted]:
    submitted = Submitted()
    ctx = DemandContext(site=site_map or site(), seed=1, start_s=start_s, end_s=end_s, submit=submitted.append,
                        hospital=hospital)
    return ctx, submitted


def finished(request: TaskRequest, state: TaskState, at_s: float, *, robot_id: str | None = "lab-1",
             result: dict[str, Any] | None = None, reason: str | None = None, started: bool = True) -> Task:
    """The fleet's record of a task as it ended (what `on_task_finished` is given)."""
    return Task(request=request, created_s=request.earliest_start_s, state=state, robot_id=robot_id,
                mission_id=request.task_id, attempts=1 if started else 0,
                started_s=(at_s - 60.0) if started else None, finished_s=at_s, reason=reason,
                result=dict(result or {}))


def event(robot_id: str, task_id: str | None, name: str, at_s: float, **data: Any) -> RobotMessage:
    body = {"task_id": task_id, "event": name, "mission_id": task_id or "m", "mission_kind": "x", "step": None,
            "reason": None, "data": data}
    return RobotMessage(robot_id, "events", body, at_s, task_id)


def alert(robot_id: str, at_s: float, alert_id: str, category: str, **extra: Any) -> RobotMessage:
    body = {"alert_id": alert_id, "severity": "high", "category": category, "summary": "s",
            "where": extra.pop("where", None), "evidence_ref": None, "data": extra}
    return RobotMessage(robot_id, "alerts", body, at_s)
