"""The disease-control reporting system, as the simulated hospital: confirmed cases in the isolation
rooms, reported during the day, and the people who answer the survey (or refuse, or stay silent).

Each case is reported at `first_report_h` + n × `report_interval_h` after the start (the 24-hour
clock starts there) and reaches the hospital's case list `notice_delay_min` later (uniform, seeded:
the report's way from the disease-control system to the infection-control desk). The fleet's
source (`fleet/demand/epi_cases.py`) reads that list through `information()["epi_cases"]`
(`reports()`) and books the survey; the touchscreen in the room answers from the installed outbreak
(`sim.outbreak`). The summary measures the rule from what the robots did: hours from report to the
filed case report, per case.

The delays are drawn from the old `sim/workloads/epi_survey.py` stream in the same order, so a seed
gives the same day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic

from fleet.demand._common import Strict
from missions.epi.epi_events import REPORT_FILED
from missions.events import MissionEvent
from sim.hospital import HospitalContext, HospitalError, parse_settings
from sim.outbreak import Outbreak, install_outbreak, isolation_beds

PART = "epi"
DAY_RULE_H = 24.0
_ENDS = ("mission.succeeded", "mission.failed", "mission.cancelled")


class EpiHospitalSettings(Strict):
    cases: int = pydantic.Field(4, ge=0, description="cases reported (at most one per isolation bed)")
    refusals: int = pydantic.Field(1, ge=0)
    non_responsive: int = pydantic.Field(0, ge=0)
    first_report_h: float = pydantic.Field(0.25, ge=0, description="hours after the run starts")
    report_interval_h: float = pydantic.Field(2.5, gt=0)
    #: report → on the hospital's case list (uniform between the two, minutes)
    notice_delay_min: tuple[float, float] = (20.0, 90.0)

    @pydantic.field_validator("notice_delay_min")
    @classmethod
    def _delay(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if low < 0 or high < low:
            raise ValueError(f"[{low:g}, {high:g}] must be [low, high] with 0 <= low <= high")
        return value


@dataclass(frozen=True, slots=True)
class CaseNotice:
    """A reported case as the fleet reads it (`fleet.demand.epi_cases.CaseReport`): references
    only, none of what the person will answer."""

    case_ref: str
    patient_ref: str
    bed_id: str
    reported_s: float


class CaseList:
    """The hospital's list of reported cases, as the fleet's epi source reads it."""

    def __init__(self, part: EpiHospital) -> None:
        self._part = part

    def reports(self) -> Sequence[CaseNotice]:
        return list(self._part.noticed)


def build(ctx: HospitalContext, settings: Mapping[str, Any]) -> EpiHospital:
    config = parse_settings(EpiHospitalSettings, PART, settings)
    beds = isolation_beds(ctx.env)[: config.cases]
    if config.cases > len(beds):
        raise HospitalError(f"hospital.{PART}.cases: {config.cases} cases, but the isolation ward has "
                            f"{len(beds)} beds")
    if config.refusals + config.non_responsive > len(beds):
        raise HospitalError(f"hospital.{PART}.refusals: {config.refusals} refusals + {config.non_responsive} "
                            f"non-responsive exceed the {len(beds)} cases")
    outbreak = Outbreak.seeded(ctx.seed, beds, ctx.start_s, refusals=config.refusals,
                               non_responsive=config.non_responsive, first_report_h=config.first_report_h,
                               report_interval_h=config.report_interval_h)
    install_outbreak(ctx.env, outbreak)  # what the touchscreen in each room answers from
    return EpiHospital(ctx, config, outbreak)


class EpiHospital:
    def __init__(self, ctx: HospitalContext, config: EpiHospitalSettings, outbreak: Outbreak) -> None:
        self.outbreak = outbreak
        rng = ctx.rng("epi_survey")  # the old workload's stream: the same seed, the same delays
        low, high = config.notice_delay_min
        self._pending: list[tuple[float, CaseNotice]] = []
        for case in outbreak.cases:
            known_s = case.reported_s + float(rng.uniform(low, max(low, high))) * 60.0
            self._pending.append((known_s, CaseNotice(case.case_ref, case.patient_ref, case.bed_id, case.reported_s)))
        self._pending.sort(key=lambda p: (p[0], p[1].case_ref))
        self.noticed: list[CaseNotice] = []
        #: case_ref -> what the survey robots did: filed_s, ended_s, outcome, reason
        self._done: dict[str, dict[str, Any]] = {}

    def step(self, now_s: float) -> None:
        while self._pending and self._pending[0][0] <= now_s:
            self.noticed.append(self._pending.pop(0)[1])

    def on_event(self, event: MissionEvent) -> None:
        if event.mission_kind != "epi_survey":
            return
        case_ref = event.data.get("case_ref")
        if not isinstance(case_ref, str):
            return
        record = self._done.setdefault(case_ref, {"filed_s": None, "ended_s": None, "outcome": None, "reason": None})
        if event.kind == REPORT_FILED and record["filed_s"] is None:
            record["filed_s"] = event.stamp_s
        elif event.kind in _ENDS:
            record.update(ended_s=event.stamp_s, outcome=event.kind.removeprefix("mission."), reason=event.reason)

    def information(self) -> dict[str, Any]:
        return {"epi_cases": CaseList(self)}

    def summary(self) -> dict[str, Any]:
        noticed = {c.case_ref for c in self.noticed}
        cases = []
        for case in self.outbreak.cases:
            done = self._done.get(case.case_ref, {})
            filed_s = done.get("filed_s")
            hours = round((filed_s - case.reported_s) / 3600.0, 2) if filed_s is not None else None
            cases.append({"case_ref": case.case_ref, "bed": case.bed_id, "noticed": case.case_ref in noticed,
                          "outcome": done.get("outcome"), "reason": done.get("reason"),
                          "report_filed": filed_s is not None, "hours_report_to_filed": hours,
                          "within_24_h": hours is not None and hours <= DAY_RULE_H})
        return {"cases": cases, "reports_filed": sum(1 for c in cases if c["report_filed"]),
                "within_24_h": sum(1 for c in cases if c["within_24_h"])}
