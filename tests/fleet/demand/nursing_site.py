"""A small site for the ward sources' tests: ward A (3 beds), the isolation ward (1 bed), the
pharmacy and the kitchen on one corridor; fake census, MAR and diets; a list as `submit`."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from fleet.demand import DemandContext, RobotMessage
from fleet.site import SiteMap, site_from_json
from fleet.tasks import TaskRequest

#: 2026-01-05 00:00 UTC, the simulator's day
DAY_S = 1767571200.0
HOUR_S = 3600.0

_PLACES: list[tuple[str, str, str | None, str | None, float]] = [
    ("ward-a-bed-01", "bed", "ward-a", "A-01", 0.0),
    ("ward-a-bed-02", "bed", "ward-a", "A-02", 3.0),
    ("ward-a-bed-03", "bed", "ward-a", "A-03", 6.0),
    ("iso-room-1", "bed", "isolation", "ISO-1", 20.0),
    ("pharmacy", "pharmacy_counter", None, None, 30.0),
    ("kitchen", "kitchen_pass", None, None, 40.0),
]


def site() -> SiteMap:
    nodes = [{"name": name, "x_m": x, "y_m": 0.0} for name, *_, x in _PLACES]
    edges = [{"from": a[0], "to": b[0], "length_m": b[-1] - a[-1]} for a, b in itertools.pairwise(_PLACES)]
    places = [{"name": name, "kind": kind, "x_m": x, "y_m": 0.0, "ward": ward, "zone": ward, "bed_id": bed}
              for name, kind, ward, bed, x in _PLACES]
    return site_from_json({"format": "medbot.map/1", "name": "test-site", "places": places,
                           "routes": {"nodes": nodes, "edges": edges}})


@dataclass(frozen=True)
class FakeBed:
    patient_ref: str
    on_oxygen: bool = False
    spo2_scale: int = 1
    measure_glucose: bool = False
    measure_weight: bool = False


@dataclass
class FakeCensus:
    beds: dict[str, FakeBed] = field(default_factory=lambda: {
        "A-01": FakeBed("pt-aaaa01", on_oxygen=True, spo2_scale=2),
        "A-02": FakeBed("pt-aaaa02", measure_glucose=True),
        "A-03": FakeBed("pt-aaaa03", measure_weight=True),
        "ISO-1": FakeBed("pt-1501a0"),
    })

    def bed(self, bed_id: str) -> FakeBed | None:
        return self.beds.get(bed_id)


class FakeMar:
    """Paracetamol for everyone at 08:00, nothing otherwise."""

    def doses_due(self, bed_id: str, hhmm: str, due_s: float) -> list[dict[str, Any]]:
        if hhmm != "08:00":
            return []
        ref = FakeCensus().beds[bed_id].patient_ref
        return [{"order_id": f"rx-{bed_id}-paracetamol-0800".lower(), "patient_ref": ref, "drug": "paracetamol",
                 "dose_mg": 1000.0, "route": "oral", "due_s": due_s}]


class FakeDiets:
    def diet(self, bed_id: str) -> str | None:
        return {"A-02": "diabetic"}.get(bed_id, "standard")


def context(submitted: list[TaskRequest], start_s: float = DAY_S + 7 * HOUR_S, **hospital: Any) -> DemandContext:
    info: dict[str, Any] = {"ward_census": FakeCensus(), "mar": FakeMar(), "diets": FakeDiets()}
    info.update(hospital)
    return DemandContext(site=site(), seed=1, start_s=start_s, end_s=start_s + 24 * HOUR_S,
                         submit=submitted.append, hospital=info)


def at(hhmm: str, day: int = 0) -> float:
    hours, minutes = hhmm.split(":")
    return DAY_S + day * 86400.0 + int(hours) * HOUR_S + int(minutes) * 60.0


def vitals_record(bed_id: str, stamp_s: float, *, total: int, due_s: float, escalate: bool = False,
                  any_single_3: bool = False, robot_id: str = "nurse-b", n: int = 1) -> RobotMessage:
    body = {"record_id": f"rec-{bed_id}-{n}", "record_type": "vitals", "patient_ref": "pt-aaaa02",
            "bed_ref": bed_id, "observations": {},
            "news2": {"total": total, "any_single_3": any_single_3, "escalate": escalate,
                      "next_observation_due_s": due_s}}
    return RobotMessage(robot_id, "clinical", body, stamp_s)


def news2_alert(bed_id: str, severity: str, stamp_s: float, robot_id: str = "nurse-b") -> RobotMessage:
    body = {"alert_id": f"rec-{bed_id}.news2", "severity": severity, "category": "news2",
            "summary": f"Bed {bed_id}: NEWS2", "where": None, "evidence_ref": None,
            "data": {"bed_ref": bed_id, "record_id": f"rec-{bed_id}", "score": 6}}
    return RobotMessage(robot_id, "alerts", body, stamp_s)
