"""The radiology desk: worklist → imaging_exam tasks (fleet/demand/radiology_worklist.py)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from desk_site import START_S, alert, context, finished

from fleet.demand import DemandError
from fleet.demand.radiology_worklist import RadiologyDesk, build
from fleet.tasks import TaskRequest, TaskState

MIN_S = 60.0
XR, US = "radiology-xray", "radiology-ultrasound"


@dataclass(frozen=True)
class Step:
    accession_number: str
    patient_ref: str
    procedure_code: str
    modality: str
    scheduled_s: float
    room: str


@dataclass
class FakeRis:
    steps: list[Step] = field(default_factory=lambda: [
        Step("RAD-0001", "pt-eea050", "XR-PELVIS-AP", "DX", START_S + 15 * MIN_S, XR),
        Step("RAD-0002", "pt-f5f649", "US-ABDOMEN", "US", START_S + 20 * MIN_S, US),
        Step("RAD-0003", "pt-2ae411", "XR-CHEST-PA", "DX", START_S + 25 * MIN_S, XR),
        Step("RAD-0004", "pt-17314b", "XR-KNEE-AP", "DX", START_S + 90 * MIN_S, XR),
    ])
    not_performed: list[tuple[str, str]] = field(default_factory=list)

    def scheduled(self) -> list[Step]:
        return list(reversed(self.steps))  # any order: the desk sorts

    def exam_not_performed(self, accession_number: str, reason: str) -> None:
        self.not_performed.append((accession_number, reason))


def make(settings: dict[str, Any] | None = None, ris: FakeRis | None = None) -> tuple[RadiologyDesk, Any, FakeRis]:
    ris = ris or FakeRis()
    ctx, submitted = context({"imaging_worklist": ris})
    return build(ctx, settings or {}), submitted, ris


def done(desk: RadiologyDesk, request: TaskRequest, at_s: float, status: str = "COMPLETED") -> None:
    state = TaskState.DONE if status == "COMPLETED" else TaskState.FAILED
    desk.on_task_finished(finished(request, state, at_s, robot_id="imaging-1",
                                   result={"accession_number": request.params["accession_number"],
                                           "mpps_status": status}))


def test_an_exam_is_submitted_at_its_slot_with_todays_params() -> None:
    desk, submitted, _ris = make()
    desk.step(START_S + 15 * MIN_S - 1)
    assert submitted == []
    desk.step(START_S + 15 * MIN_S)
    (exam,) = submitted
    assert exam.task_id == "imaging-exam-RAD-0001"
    assert exam.kind == "imaging_exam" and exam.robot_kinds == ("imaging",)
    assert exam.params == {"accession_number": "RAD-0001", "patient_ref": "pt-eea050",
                           "procedure_code": "XR-PELVIS-AP", "modality": "DX"}
    assert (exam.priority, exam.zone, exam.place) == (50, "radiology", XR)
    assert exam.earliest_start_s == START_S + 15 * MIN_S and exam.deadline_s == START_S + 75 * MIN_S


def test_one_open_exam_per_room_the_next_patient_when_it_is_free() -> None:
    desk, submitted, _ris = make()
    desk.step(START_S + 30 * MIN_S)
    assert submitted.ids() == ["imaging-exam-RAD-0001", "imaging-exam-RAD-0002"]  # RAD-0003 waits for the X-ray room
    done(desk, submitted[0], START_S + 40 * MIN_S)
    desk.step(START_S + 41 * MIN_S)
    assert submitted.ids()[2:] == ["imaging-exam-RAD-0003"]
    desk.step(START_S + 42 * MIN_S)
    assert len(submitted) == 3
    done(desk, submitted[2], START_S + 50 * MIN_S, "DISCONTINUED")
    done(desk, submitted[1], START_S + 55 * MIN_S)
    assert desk.summary()["outcomes"] == {"COMPLETED": 2, "DISCONTINUED": 1}


def test_lead_time_submits_early_but_the_exam_starts_at_its_slot() -> None:
    desk, submitted, _ris = make({"lead_min": 10})
    desk.step(START_S + 5 * MIN_S)
    assert submitted.ids() == ["imaging-exam-RAD-0001"]
    assert submitted[0].earliest_start_s == START_S + 15 * MIN_S


def test_continue_after_a_fault_exams_keep_coming() -> None:
    desk, submitted, _ris = make()
    desk.step(START_S + 15 * MIN_S)
    desk.on_message(alert("imaging-1", START_S + 18 * MIN_S, "m1.maintenance.xray", "maintenance",
                          where={"place": XR, "x_m": 0.0, "y_m": 0.0}))
    done(desk, submitted[0], START_S + 20 * MIN_S, "DISCONTINUED")
    desk.step(START_S + 30 * MIN_S)
    assert "imaging-exam-RAD-0003" in submitted.ids()
    assert submitted.of_kind("equipment_selftest") == []
    assert desk.summary()["maintenance_alerts"] == 1


def test_hold_after_a_fault_until_a_self_test_passes() -> None:
    desk, submitted, _ris = make({"on_equipment_fault": "hold", "selftest_after_min": 30})
    desk.step(START_S + 15 * MIN_S)
    fault = alert("imaging-1", START_S + 18 * MIN_S, "m1.maintenance.xray", "maintenance",
                  where={"place": XR, "x_m": 0.0, "y_m": 0.0})
    desk.on_message(fault)
    desk.on_message(fault)  # sent again by the robot's outbox: one alert
    done(desk, submitted[0], START_S + 20 * MIN_S, "DISCONTINUED")
    desk.step(START_S + 30 * MIN_S)
    assert submitted.ids() == ["imaging-exam-RAD-0001", "imaging-exam-RAD-0002"]  # the X-ray room is held
    desk.step(START_S + 48 * MIN_S)
    (test,) = submitted.of_kind("equipment_selftest")
    assert test.robot_id == "imaging-1" and test.place == XR and test.priority == 55
    # still locked out: the test fails (and raises its own alert); the next comes 30 min later
    desk.on_message(alert("imaging-1", START_S + 49 * MIN_S, "t1.maintenance.xray", "maintenance",
                          where={"place": XR}))
    desk.on_task_finished(finished(test, TaskState.FAILED, START_S + 50 * MIN_S, robot_id="imaging-1",
                                   reason="self-test failed: locked out"))
    desk.step(START_S + 79 * MIN_S)
    assert len(submitted.of_kind("equipment_selftest")) == 1
    desk.step(START_S + 80 * MIN_S)
    second = submitted.of_kind("equipment_selftest")[1]
    assert second.task_id != test.task_id
    desk.on_task_finished(finished(second, TaskState.DONE, START_S + 82 * MIN_S, robot_id="imaging-1"))
    desk.step(START_S + 83 * MIN_S)
    assert submitted.ids()[-1] == "imaging-exam-RAD-0003"  # the held exam goes first, in its order
    assert desk.summary()["rooms_out_of_service"] == [] and desk.summary()["selftests_passed"] == 1


def test_an_exam_no_robot_began_is_reported_back_to_the_ris() -> None:
    desk, submitted, ris = make()
    desk.step(START_S + 20 * MIN_S)
    xr, us = submitted
    desk.on_task_finished(finished(xr, TaskState.CANCELLED, START_S + 21 * MIN_S, started=False,
                                   reason="cancelled by operator"))
    desk.on_task_finished(finished(us, TaskState.FAILED, START_S + 40 * MIN_S, reason="navigation failed"))
    assert ris.not_performed == [("RAD-0001", "cancelled by operator")]  # the US patient was seen by the robot
    desk.step(START_S + 41 * MIN_S)
    assert submitted.ids()[-1] == "imaging-exam-RAD-0003"


def test_an_exam_for_a_room_off_the_site() -> None:
    ris = FakeRis()
    with pytest.raises(DemandError, match=re.escape("RAD-0009: room 'radiology-ct'")):
        make(ris=FakeRis([*ris.steps, Step("RAD-0009", "pt-aaaaaa", "CT", "DX", START_S, "radiology-ct")]))
    desk, submitted, ris = make()
    ris.steps.append(Step("RAD-0010", "pt-aaaaab", "CT", "DX", START_S, "radiology-ct"))  # added later
    desk.step(START_S + MIN_S)
    assert submitted == [] and ris.not_performed[0][0] == "RAD-0010"


@pytest.mark.parametrize(("settings", "field"), [
    ({"on_equipment_fault": "pray"}, "demand.radiology_worklist.on_equipment_fault"),
    ({"late_after_min": 0}, "demand.radiology_worklist.late_after_min"),
    ({"priority": -1}, "demand.radiology_worklist.priority"),
    ({"selftest_after_min": 0}, "demand.radiology_worklist.selftest_after_min"),
    ({"worklist": "imaging-day"}, "demand.radiology_worklist.worklist"),  # that is the hospital's setting
])
def test_bad_settings_name_the_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(DemandError, match=re.escape(field)):
        make(settings)


def test_the_worklist_is_required() -> None:
    ctx, _ = context({"imaging_worklist": object()})
    with pytest.raises(DemandError, match="imaging_worklist"):
        build(ctx, {})


def test_a_restarted_desk_submits_nothing_twice() -> None:
    desk, submitted, ris = make({"on_equipment_fault": "hold"})
    desk.step(START_S + 30 * MIN_S)
    desk.on_message(alert("imaging-1", START_S + 31 * MIN_S, "m1.maintenance.xray", "maintenance",
                          where={"place": XR}))
    state = json.loads(json.dumps(desk.snapshot()))
    again, resubmitted, _ = make({"on_equipment_fault": "hold"}, ris=ris)
    again.restore(state)
    again.step(START_S + 32 * MIN_S)
    assert resubmitted == []
    done(again, submitted[0], START_S + 35 * MIN_S)  # the X-ray room is free but held
    again.step(START_S + 36 * MIN_S)
    assert resubmitted == []
    again.step(START_S + 61 * MIN_S)
    assert resubmitted.of_kind("equipment_selftest") and not set(resubmitted.ids()) & set(submitted.ids())
