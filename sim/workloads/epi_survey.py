"""Stands in for the disease-control reporting system: confirmed cases reported during the day,
each followed by a survey dispatched to the isolation ward's survey robot within hours.

China CDC asks for the case investigation to be completed within 24 hours of the report; the
summary gives each case's time from report to the filed report (or to the mission's end when it
ended without one) and whether the 24-hour rule held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic

from missions.events import MissionEvent
from sim.outbreak import ISOLATION_WARD, Outbreak, OutbreakCase, install_outbreak, isolation_beds
from sim.scenario import RobotPlacement
from sim.workloads import Dispatch, WorkloadContext, WorkloadError
from sim.world import World

SURVEY_PRIORITY = 60
DAY_RULE_H = 24.0


class EpiSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    cases: int = pydantic.Field(4, ge=0, description="cases reported (at most one per isolation bed)")
    refusals: int = pydantic.Field(1, ge=0)
    non_responsive: int = pydantic.Field(0, ge=0)
    first_report_h: float = pydantic.Field(0.25, ge=0, description="hours after the run starts")
    report_interval_h: float = pydantic.Field(2.5, gt=0)
    dispatch_delay_min: tuple[float, float] = (20.0, 90.0)  # report → survey dispatched (uniform)


@dataclass
class _Survey:
    case: OutbreakCase
    room: int
    dispatch_s: float
    mission_id: str
    dispatched: bool = False
    outcome: str | None = None
    reason: str | None = None
    filed_s: float | None = None
    ended_s: float | None = None


def build(ctx: WorkloadContext, robots: list[RobotPlacement], settings: Mapping[str, Any]) -> EpiWorkload:
    try:
        config = EpiSettings.model_validate(dict(settings))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise WorkloadError(f"workloads.epi_survey.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    serving = [r for r in robots if r.serves == ISOLATION_WARD]
    if robots and not serving:
        raise WorkloadError(f"an epi_survey robot must serve {ISOLATION_WARD!r} (robots[{robots[0].id}].serves)")
    beds = isolation_beds(ctx.env)[: config.cases]
    if config.refusals + config.non_responsive > len(beds):
        raise WorkloadError(f"workloads.epi_survey: {config.refusals} refusals + {config.non_responsive} "
                            f"non-responsive exceed the {len(beds)} cases")
    outbreak = Outbreak.seeded(ctx.seed, beds, ctx.start_s, refusals=config.refusals,
                               non_responsive=config.non_responsive, first_report_h=config.first_report_h,
                               report_interval_h=config.report_interval_h)
    install_outbreak(ctx.env, outbreak)
    return EpiWorkload(ctx.world, outbreak, ctx, serving[0].id if serving else None, config)


class EpiWorkload:
    def __init__(self, world: World, outbreak: Outbreak, ctx: WorkloadContext, robot_id: str | None,
                 config: EpiSettings) -> None:
        self._dispatch: Dispatch = ctx.dispatch
        self._robot_id = robot_id
        rng = ctx.rng("epi_survey")
        low, high = config.dispatch_delay_min
        self._surveys: list[_Survey] = []
        for n, case in enumerate(outbreak.cases, start=1):
            room = int(case.bed_id.split("-")[-1])
            if f"isolation-room-{room}-anteroom" not in world.places:
                raise WorkloadError(f"no anteroom for isolation bed {case.bed_id}")
            delay_s = float(rng.uniform(low, max(low, high))) * 60.0
            self._surveys.append(_Survey(case, room, case.reported_s + delay_s,
                                         f"{robot_id}-survey-{n:03d}"))
        self._by_mission = {s.mission_id: s for s in self._surveys}

    def step(self, now_s: float) -> None:
        if self._robot_id is None:
            return
        for survey in self._surveys:
            if not survey.dispatched and now_s >= survey.dispatch_s:
                survey.dispatched = True
                self._dispatch(self._robot_id, "epi_survey", survey_params(survey.case, survey.room),
                               SURVEY_PRIORITY, survey.mission_id)

    def on_event(self, event: MissionEvent) -> None:
        survey = self._by_mission.get(event.mission_id)
        if survey is None:
            return
        if event.kind == "report.filed":
            survey.filed_s = event.stamp_s
        elif event.kind in ("mission.succeeded", "mission.failed", "mission.cancelled"):
            survey.outcome = event.kind.removeprefix("mission.")
            survey.reason = event.reason
            survey.ended_s = event.stamp_s

    def summary(self) -> dict[str, Any]:
        cases = []
        for s in self._surveys:
            done_s = s.filed_s if s.filed_s is not None else s.ended_s
            hours = round((done_s - s.case.reported_s) / 3600.0, 2) if done_s is not None else None
            cases.append({
                "case_ref": s.case.case_ref, "bed": s.case.bed_id, "mission_id": s.mission_id,
                "dispatched": s.dispatched, "outcome": s.outcome, "reason": s.reason,
                "report_filed": s.filed_s is not None, "hours_report_to_complete": hours,
                "within_24_h": hours is not None and hours <= DAY_RULE_H,
            })
        return {"robot": self._robot_id, "cases": cases,
                "reports_filed": sum(1 for c in cases if c["report_filed"]),
                "within_24_h": sum(1 for c in cases if c["within_24_h"])}


def survey_params(case: OutbreakCase, room: int) -> dict[str, Any]:
    return {
        "case_ref": case.case_ref, "patient_ref": case.patient_ref, "case_reported_s": case.reported_s,
        "approach": f"isolation-room-{room}-approach", "anteroom": f"isolation-room-{room}-anteroom",
        "room_place": f"isolation-bed-{room:02d}", "outer_door": f"isolation-room-{room}-outer-door",
        "inner_door": f"isolation-room-{room}-inner-door",
    }
