"""Confirmed cases → epi_survey tasks within the 24-hour rule (fleet/demand/epi_cases.py)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from desk_site import HOUR_S, START_S, context, event, finished, site

from fleet.demand import DemandError
from fleet.demand.epi_cases import EpiCases, build
from fleet.tasks import TaskState

MIN_S = 60.0


@dataclass(frozen=True)
class Case:
    case_ref: str
    patient_ref: str
    bed_id: str
    reported_s: float


@dataclass
class FakeCaseList:
    cases: list[Case] = field(default_factory=list)

    def reports(self) -> list[Case]:
        return list(self.cases)


def make(settings: dict[str, Any] | None = None, cases: FakeCaseList | None = None,
         **kwargs: Any) -> tuple[EpiCases, Any, FakeCaseList]:
    cases = cases if cases is not None else FakeCaseList()
    ctx, submitted = context({"epi_cases": cases}, **kwargs)
    return build(ctx, settings or {}), submitted, cases


def test_a_reported_case_becomes_a_survey_due_24_hours_after_the_report() -> None:
    source, submitted, cases = make()
    source.step(START_S)
    assert submitted == []
    reported_s = START_S + 15 * MIN_S
    cases.cases.append(Case("case-0a1b2c3d", "pt-15a0c1", "ISO-02", reported_s))
    source.step(reported_s + 40 * MIN_S)  # the report reached the hospital's list 40 min later
    (survey,) = submitted
    assert survey.kind == "epi_survey" and survey.robot_kinds == ("epi_survey",)
    assert survey.params == {
        "case_ref": "case-0a1b2c3d", "patient_ref": "pt-15a0c1", "case_reported_s": reported_s,
        "approach": "isolation-room-2-approach", "anteroom": "isolation-room-2-anteroom",
        "room_place": "isolation-bed-02", "outer_door": "isolation-room-2-outer-door",
        "inner_door": "isolation-room-2-inner-door",
    }
    assert (survey.zone, survey.place, survey.priority) == ("isolation", "isolation-room-2-approach", 60)
    assert survey.earliest_start_s == reported_s + 40 * MIN_S
    assert survey.deadline_s == reported_s + 24 * HOUR_S
    # operators see task ids: no case or patient reference in them
    assert survey.task_id.startswith("epi-survey-")
    assert "0a1b2c3d" not in survey.task_id and "15a0c1" not in survey.task_id
    source.step(reported_s + 2 * HOUR_S)
    assert len(submitted) == 1


def test_the_rule_is_measured_from_the_report_to_the_filed_report() -> None:
    cases = FakeCaseList([Case("case-00000001", "pt-000001", "ISO-01", START_S),
                          Case("case-00000002", "pt-000002", "ISO-02", START_S + HOUR_S)])
    source, submitted, _ = make(cases=cases)
    source.step(START_S + HOUR_S)
    first, second = submitted
    source.on_message(event("epi-1", first.task_id, "report.filed", START_S + 2 * HOUR_S))
    source.on_message(event("epi-1", first.task_id, "report.filed", START_S + 3 * HOUR_S))  # repeated: first counts
    source.on_task_finished(finished(first, TaskState.DONE, START_S + 2.1 * HOUR_S, robot_id="epi-1"))
    source.on_task_finished(finished(second, TaskState.FAILED, START_S + 1.5 * HOUR_S, robot_id="epi-1",
                                     reason="consent refused"))
    summary = source.summary()
    assert (summary["surveys"], summary["reports_filed"], summary["within_deadline"]) == (2, 1, 1)
    by_task = {c["task_id"]: c for c in summary["cases"]}
    assert by_task[first.task_id]["hours_report_to_complete"] == 2.0
    assert by_task[second.task_id]["outcome"] == "failed" and by_task[second.task_id]["reason"] == "consent refused"
    assert not by_task[second.task_id]["within_deadline"]  # ended, but no report filed: the rule is not met
    assert "case-00000001" not in json.dumps(summary)


def test_a_report_older_than_the_rule_is_still_surveyed_late() -> None:
    cases = FakeCaseList([Case("case-00000001", "pt-000001", "ISO-01", START_S - 30 * HOUR_S)])
    source, submitted, _ = make(cases=cases)
    source.step(START_S)
    assert submitted[0].deadline_s == START_S  # late from the start, not an invalid task


def test_a_case_in_a_bed_without_survey_places_is_reported_not_submitted() -> None:
    cases = FakeCaseList([Case("case-00000001", "pt-000001", "ISO-07", START_S)])
    source, submitted, _ = make(cases=cases)
    source.step(START_S)
    source.step(START_S + MIN_S)
    assert submitted == []
    assert source.summary()["unplaceable"] == 1 and source.summary()["cases"][0]["outcome"] == "unplaceable"


@pytest.mark.parametrize(("settings", "field"), [
    ({"deadline_h": 0}, "demand.epi_cases.deadline_h"),
    ({"zone": "ward-z"}, "demand.epi_cases.zone"),
    ({"zone": "radiology"}, "demand.epi_cases.zone"),  # a zone without beds
    ({"anteroom": "anteroom-of-room"}, "demand.epi_cases.anteroom"),
    ({"anteroom": "isolation-room-{room}-airlock"}, "demand.epi_cases.anteroom"),
    ({"outer_door": "isolation-room-{room}-door"}, "demand.epi_cases.outer_door"),
    ({"approach": "isolation-{bed}-approach"}, "demand.epi_cases.approach"),
    ({"priority": 200}, "demand.epi_cases.priority"),
])
def test_bad_settings_name_the_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(DemandError, match=re.escape(field)):
        make(settings)


def test_the_case_list_is_required() -> None:
    ctx, _ = context({"ward_census": object()})
    with pytest.raises(DemandError, match="epi_cases"):
        build(ctx, {})


def test_a_site_without_the_isolation_places_is_refused_at_start() -> None:
    small = site([("isolation-bed-01", "bed", "isolation", "ISO-01", 0.0)])
    with pytest.raises(DemandError, match=re.escape("demand.epi_cases.approach: no place 'isolation-room-1-approach'")):
        make(site_map=small)


def test_a_restarted_source_submits_nothing_twice() -> None:
    cases = FakeCaseList([Case("case-00000001", "pt-000001", "ISO-01", START_S)])
    source, submitted, _ = make(cases=cases)
    source.step(START_S + MIN_S)
    state = json.loads(json.dumps(source.snapshot()))
    again, resubmitted, _ = make(cases=cases)
    again.restore(state)
    cases.cases.append(Case("case-00000002", "pt-000002", "ISO-02", START_S + HOUR_S))
    again.step(START_S + HOUR_S)
    assert [r.params["case_ref"] for r in resubmitted] == ["case-00000002"]
    again.on_message(event("epi-1", submitted[0].task_id, "report.filed", START_S + 2 * HOUR_S))
    assert again.summary()["reports_filed"] == 1  # the restored source still knows its first survey
