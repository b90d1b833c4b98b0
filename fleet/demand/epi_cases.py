"""Confirmed cases reported → epidemiological surveys, within the 24-hour rule.

China CDC asks for the case investigation to be completed within 24 hours of the report. Each case
the hospital's notifiable-disease system has received (`ctx.hospital["epi_cases"]`, the
`CaseReports` protocol below; the simulated hospital: `sim/hospital/epi.py`) becomes one
`epi_survey` task as soon as the source sees it, with deadline = report + `deadline_h` (24) — the
fleet's on-time KPI is the rule. The task's zone is the isolation ward (a restricted zone: only a
robot stationed there may take it), and it starts at the room's approach in the corridor.

The survey's places come from the site: the room is the bed's place (found by its bed id), the
others follow the site's naming for that room number (`approach`, `anteroom`, `outer_door`,
`inner_door` templates with ``{room}``, today's names by default), checked against the site map
at start for every bed of the zone.

A survey that ends FAILED because the subject refused consent or did not respond is not asked again
(a human investigator follows up: the robot's alert says so); a robot failure is re-allocated by
the fleet like any task. Task ids carry a one-way token of the case reference, never the reference
itself: task ids reach every operator, case references stay on the clinical channel.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pydantic

from fleet.demand import DemandContext, DemandError, RobotMessage
from fleet.demand._common import Strict, hospital_info, opaque, parse_settings, site_zones, task_id
from fleet.site import SiteMap
from fleet.tasks import Task, TaskRequest

log = logging.getLogger(__name__)

NAME = "epi_cases"
ROBOT_KINDS = ("epi_survey",)
SURVEY_PRIORITY = 60
DAY_RULE_H = 24.0
SNAPSHOT_VERSION = 1
_ROOM_NUMBER = re.compile(r"(\d+)$")


# ---- what the source reads of the hospital (implemented by his/ or the simulated hospital) -----


class CaseReport(Protocol):
    """A confirmed case as reported (pseudonymous refs only)."""

    @property
    def case_ref(self) -> str: ...
    @property
    def patient_ref(self) -> str: ...
    @property
    def bed_id(self) -> str: ...
    @property
    def reported_s(self) -> float: ...  # epoch s: the 24-hour clock starts here


class CaseReports(Protocol):
    def reports(self) -> Sequence[CaseReport]:
        """Every case the hospital has received so far (a report, once there, stays there)."""
        ...


# ---- settings ----------------------------------------------------------------------------------


def _template(value: str) -> str:
    if "{room}" not in value:
        raise ValueError(f"{value!r} must contain {{room}} (the room number)")
    try:
        value.format(room=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"{value!r}: only {{room}} may be filled in ({exc})") from None
    return value


class EpiCaseSettings(Strict):
    priority: int = pydantic.Field(SURVEY_PRIORITY, ge=0, le=100)
    deadline_h: float = pydantic.Field(DAY_RULE_H, gt=0, le=72)
    #: the isolation ward the cases lie in (a zone on the site)
    zone: str = "isolation"
    max_attempts: int = pydantic.Field(3, ge=1, le=10)
    approach: str = "isolation-room-{room}-approach"
    anteroom: str = "isolation-room-{room}-anteroom"
    outer_door: str = "isolation-room-{room}-outer-door"
    inner_door: str = "isolation-room-{room}-inner-door"

    @pydantic.field_validator("approach", "anteroom", "outer_door", "inner_door")
    @classmethod
    def _templates(cls, value: str) -> str:
        return _template(value)


def build(ctx: DemandContext, settings: Mapping[str, Any]) -> EpiCases:
    config = parse_settings(EpiCaseSettings, NAME, settings)
    zones = site_zones(ctx.site)
    if config.zone not in zones:
        raise DemandError(f"demand.{NAME}.zone: no zone {config.zone!r} on site map {ctx.site.name!r} "
                          f"(zones: {', '.join(sorted(zones)) or 'none'})")
    beds = ctx.site.beds(config.zone)
    if not beds:
        raise DemandError(f"demand.{NAME}.zone: zone {config.zone!r} has no beds to survey")
    for bed in beds:  # every bed a case may lie in has its survey places: found now, not at 14:00
        survey_places(ctx.site, config, str(bed.bed_id))
    info = hospital_info(ctx, NAME, "epi_cases", "reports")
    return EpiCases(ctx, config, info)


def _doors(site: SiteMap) -> set[str]:
    return {str(d) for _a, _b, d in site.graph.edges(data="door") if d}


def survey_places(site: SiteMap, config: EpiCaseSettings, bed_id: str) -> dict[str, str]:
    """The survey's places for a bed; DemandError naming the setting whose place is missing."""
    bed = next((p for p in site.beds(config.zone) if p.bed_id == bed_id), None)
    if bed is None:
        raise DemandError(f"demand.{NAME}.zone: bed {bed_id!r} is not a bed of {config.zone!r}")
    match = _ROOM_NUMBER.search(bed_id)
    if match is None:
        raise DemandError(f"demand.{NAME}: bed id {bed_id!r} has no room number")
    room = int(match.group(1))
    places = {key: str(getattr(config, key)).format(room=room) for key in ("approach", "anteroom")}
    doors = {key: str(getattr(config, key)).format(room=room) for key in ("outer_door", "inner_door")}
    for key, name in places.items():
        if name not in site.places:
            raise DemandError(f"demand.{NAME}.{key}: no place {name!r} for bed {bed_id} on site map {site.name!r}")
    known_doors = _doors(site)
    for key, name in doors.items():
        if name not in known_doors:
            raise DemandError(f"demand.{NAME}.{key}: no door {name!r} for bed {bed_id} on site map {site.name!r}")
    return {**places, "room_place": bed.name, **doors}


# ---- the source --------------------------------------------------------------------------------


class EpiCases:
    name = NAME

    def __init__(self, ctx: DemandContext, config: EpiCaseSettings, info: CaseReports) -> None:
        self.ctx = ctx
        self.config = config
        self.info = info
        #: one-way case token -> {task_id, reported_s, filed_s, ended_s, outcome, reason}
        self._cases: dict[str, dict[str, Any]] = {}
        self._by_task: dict[str, str] = {}
        self._unplaceable = 0

    def step(self, now_s: float) -> None:
        for case in sorted(self.info.reports(), key=lambda c: (float(c.reported_s), opaque(str(c.case_ref)))):
            token = opaque(str(case.case_ref))
            if token in self._cases:
                continue
            try:
                places = survey_places(self.ctx.site, self.config, str(case.bed_id))
            except DemandError as exc:
                # reported once and remembered: the investigator's desk must take this one
                self._cases[token] = {"task_id": None, "reported_s": float(case.reported_s), "filed_s": None,
                                      "ended_s": None, "outcome": "unplaceable", "reason": str(exc)}
                self._unplaceable += 1
                log.warning("epi_cases: a case in bed %s cannot be surveyed by a robot: %s", case.bed_id, exc)
                continue
            self._submit(case, token, places, now_s)

    def _submit(self, case: CaseReport, token: str, places: dict[str, str], now_s: float) -> None:
        reported_s = float(case.reported_s)
        tid = task_id("epi-survey", token)
        deadline_s = reported_s + self.config.deadline_h * 3600.0
        if deadline_s < now_s:
            log.warning("epi_cases: %s: the case reached the fleet after its %g h deadline", tid,
                        self.config.deadline_h)
        self._cases[token] = {"task_id": tid, "reported_s": reported_s, "filed_s": None, "ended_s": None,
                              "outcome": None, "reason": None}
        self._by_task[tid] = token
        self.ctx.submit(TaskRequest(
            task_id=tid, kind="epi_survey",
            params={"case_ref": str(case.case_ref), "patient_ref": str(case.patient_ref),
                    "case_reported_s": reported_s, **places},
            priority=self.config.priority, robot_kinds=ROBOT_KINDS, earliest_start_s=now_s,
            deadline_s=max(now_s, deadline_s), zone=self.config.zone, place=places["approach"],
            requested_by=f"source:{NAME}", max_attempts=self.config.max_attempts,
        ))

    def on_message(self, message: RobotMessage) -> None:
        token = self._by_task.get(message.task_id or "")
        if token is not None and message.channel == "events" and message.body.get("event") == "report.filed":
            case = self._cases[token]
            if case["filed_s"] is None:  # the first filing counts (an outbox may repeat it)
                case["filed_s"] = message.stamp_s

    def on_task_finished(self, task: Task) -> None:
        token = self._by_task.get(task.task_id)
        if token is None:
            return
        case = self._cases[token]
        case["outcome"], case["reason"] = task.state.value, task.reason
        case["ended_s"] = task.finished_s

    def summary(self) -> dict[str, Any]:
        cases = []
        for token, c in sorted(self._cases.items(), key=lambda kv: (kv[1]["reported_s"], kv[0])):
            done_s = c["filed_s"] if c["filed_s"] is not None else c["ended_s"]
            hours = round((done_s - c["reported_s"]) / 3600.0, 2) if done_s is not None else None
            cases.append({"task_id": c["task_id"], "case": token, "outcome": c["outcome"], "reason": c["reason"],
                          "report_filed": c["filed_s"] is not None, "hours_report_to_complete": hours,
                          "within_deadline": c["filed_s"] is not None
                          and c["filed_s"] - c["reported_s"] <= self.config.deadline_h * 3600.0})
        return {"cases": cases, "surveys": len(self._by_task), "unplaceable": self._unplaceable,
                "reports_filed": sum(1 for c in cases if c["report_filed"]),
                "within_deadline": sum(1 for c in cases if c["within_deadline"])}

    def snapshot(self) -> dict[str, Any]:
        return {"version": SNAPSHOT_VERSION, "cases": {t: dict(c) for t, c in sorted(self._cases.items())},
                "unplaceable": self._unplaceable}

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != SNAPSHOT_VERSION:
            raise DemandError(f"demand.{NAME}: snapshot version {state.get('version')!r}, "
                              f"expected {SNAPSHOT_VERSION}")
        self._cases = {str(t): dict(c) for t, c in state["cases"].items()}
        self._by_task = {str(c["task_id"]): t for t, c in self._cases.items() if c.get("task_id")}
        self._unplaceable = int(state.get("unplaceable", 0))
