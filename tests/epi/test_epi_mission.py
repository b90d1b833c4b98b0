"""The survey mission end to end on the simulated robot in the default hospital, ticked by hand."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from missions.base import MissionResult
from missions.epi.report import check_required
from sim.outbreak import CONTACT_NAMES
from tests.epi.rig import ROBOT, EpiRig, bed_where, make_rig


def _willing(rig: EpiRig) -> str:
    return bed_where(rig, lambda c: c.consents and c.responsive and len(c.contacts) >= 2)


def _result(rig: EpiRig) -> MissionResult:
    return rig.robot.runner.history[-1]


def _assert_no_names(rig: EpiRig, tmp_path: Path) -> None:
    emitted = json.dumps([[e.kind, e.step, e.reason, e.data] for e in rig.events], default=str).casefold()
    stored = " ".join(i.label + i.data.decode("latin-1") for i in rig.robot.media.items()
                      if i.content_type.startswith("application/")).casefold()
    journal = "".join(p.read_text() for p in (tmp_path / "journal").glob("*")).casefold()
    for name in CONTACT_NAMES:
        # the whole name and the given name (family names like "Li" are too short to scan alone)
        for part in (name.casefold(), name.casefold().split()[1]):
            assert part not in emitted, name
            assert part not in stored, name
            assert part not in journal, name


def test_success_path_files_a_valid_report_and_never_opens_both_doors(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    bed = _willing(rig)
    case = rig.case(bed)
    rig.robot.dispatch("epi_survey", rig.params(bed), mission_id="epi-1-survey-001")
    rig.run_until(rig.idle)
    result = _result(rig)
    assert result.outcome == "succeeded", result.reason
    assert result.data["disinfected"] and result.data["survey_outcome"] == "completed"
    assert rig.both_open_ticks == []
    # the anteroom sequence: outer opened, closed and only then the inner one
    room = bed.split("-")[1].lstrip("0")
    cmds = [c for c in rig.doors.commands if f"room-{room}-" in c[1]]
    assert cmds[:4] == [("open", f"isolation-room-{room}-outer-door"), ("close", f"isolation-room-{room}-outer-door"),
                        ("open", f"isolation-room-{room}-inner-door"), ("close", f"isolation-room-{room}-inner-door")]
    filed = rig.kinds("report.filed")
    assert len(filed) == 1 and filed[0].data["case_ref"] == case.case_ref
    report = json.loads(rig.robot.media.get(filed[0].data["report_ref"]).data)  # type: ignore[union-attr]
    fhir = json.loads(rig.robot.media.get(filed[0].data["fhir_ref"]).data)  # type: ignore[union-attr]
    QuestionnaireResponse.model_validate(fhir)  # structure
    assert fhir["status"] == "completed" and check_required(fhir) == []
    assert len(report["close_contacts"]) == len(case.contacts)
    assert all(c["contact_ref"].startswith("ct-") for c in report["close_contacts"])
    assert [c["relation"] for c in report["close_contacts"]] == [c.relation for c in case.contacts]
    assert report["onset_date"] == case.answers["onset_date"] and report["within_24_h"]
    segments = rig.kinds("media.segment")
    assert [s.data["index"] for s in segments] == list(range(len(segments))) and len(segments) >= 3
    for s in segments:
        item = rig.robot.media.get(s.data["ref"])
        assert item is not None and hashlib.sha256(item.data).hexdigest() == s.data["sha256"]
        assert item.data[:4] == b"RIFF" and item.data[8:12] == b"AVI "
    assert [r["index"] for r in report["recording"]] == [s.data["index"] for s in segments]
    # the lamp was only on with nobody in range, and the dose reached its target
    assert not rig.lamp.on_while_person_present and rig.lamp.dose_delivered_j_per_m2 >= 100.0
    _assert_no_names(rig, tmp_path)


def test_refusal_ends_cleanly_with_reason_and_still_disinfects(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    bed = bed_where(rig, lambda c: not c.consents and c.responsive)
    rig.robot.dispatch("epi_survey", rig.params(bed))
    rig.run_until(rig.idle)
    result = _result(rig)
    assert (result.outcome, result.reason) == ("failed", "consent refused")
    assert result.data["disinfected"] and result.data["survey_outcome"] == "consent_refused"
    assert result.data["questions_answered"] == 0 and rig.screen.shown == ["consent"]
    fhir = json.loads(rig.robot.media.get(result.data["fhir_ref"]).data)  # type: ignore[union-attr]
    assert fhir["status"] == "stopped" and check_required(fhir) == []
    assert rig.kinds("report.filed") and rig.both_open_ticks == []
    assert rig.robot.pose().y_m < 15.0  # back out in the corridor side, not in the room


def test_non_responsive_subject_ends_cleanly_and_still_disinfects(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    bed = bed_where(rig, lambda c: not c.responsive)
    rig.robot.dispatch("epi_survey", rig.params(bed, question_timeout_s=30.0))
    rig.run_until(rig.idle)
    result = _result(rig)
    assert (result.outcome, result.reason) == ("failed", "subject not responsive")
    assert result.data["disinfected"] and result.data["survey_outcome"] == "subject_not_responsive"
    assert rig.both_open_ticks == []


def test_cancel_inside_the_room_leaves_a_door_closed(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.robot.dispatch("epi_survey", rig.params(_willing(rig)))
    rig.run_until(lambda: rig.step() == "interview")
    rig.run_until(lambda: len(rig.kinds("media.segment")) >= 1)
    rig.robot.cancel()
    for _ in range(200):
        rig.tick()
    result = _result(rig)
    assert result.outcome == "cancelled"
    assert rig.both_open_ticks == [] and not rig.recorder.recording


def test_cancel_in_the_anteroom_with_the_outer_door_open(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.robot.dispatch("epi_survey", rig.params(_willing(rig)))
    rig.run_until(lambda: rig.step() == "enter" and any(not rig.doors.state(d).closed for d in rig.doors.door_ids()))
    rig.robot.cancel()
    for _ in range(100):
        rig.tick()
    assert _result(rig).outcome == "cancelled" and rig.both_open_ticks == []


def test_estop_mid_passage_holds_then_resumes_and_completes(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.robot.dispatch("epi_survey", rig.params(_willing(rig)))
    rig.run_until(lambda: rig.step() == "enter" and any(
        d.endswith("inner-door") and not rig.doors.state(d).closed for d in rig.doors.door_ids()))
    rig.env.press_estop(ROBOT)
    for _ in range(120):
        rig.tick()
    current = rig.robot.runner.current
    assert current is not None and current.state.value == "paused"
    rig.env.release_estop(ROBOT)
    rig.tick()
    assert rig.robot.reset_estop("nurse-badge-1")[0]
    rig.run_until(rig.idle)
    assert _result(rig).outcome == "succeeded" and rig.both_open_ticks == []


def test_outer_door_jammed_open_never_opens_the_inner_door(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    bed = _willing(rig)
    params = rig.params(bed)
    rig.robot.dispatch("epi_survey", params)
    rig.run_until(lambda: rig.step() == "enter")
    rig.env.inject_fault(ROBOT, f"doors:{params['outer_door']}", "motor jammed", from_s=rig.clock.now_s() + 10.0)
    rig.run_until(rig.idle)
    result = _result(rig)
    assert result.outcome == "failed" and "jammed" in str(result.reason)
    assert ("open", params["inner_door"]) not in rig.doors.commands
    assert rig.both_open_ticks == []
    alerts = rig.kinds("alert")
    assert alerts and alerts[-1].data["category"] == "infection_control" and alerts[-1].data["severity"] == "high"


def test_uv_lamp_refused_while_a_person_is_in_range(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.robot.dispatch("epi_survey", rig.params(_willing(rig), uv_clear_wait_s=60.0))
    rig.run_until(lambda: rig.step() == "leave_room")
    rig.lamp.set_person_present(True)  # a nurse is in the anteroom when the robot comes out
    lamp_seen_on: list[float] = []
    rig.run_until(rig.idle, each=lambda: lamp_seen_on.append(rig.clock.now_s()) if rig.lamp.lamp_on else None)
    assert lamp_seen_on == []
    result = _result(rig)
    assert result.outcome == "failed" and "person" in str(result.reason)
    assert not result.data["disinfected"] and rig.lamp.dose_delivered_j_per_m2 == 0.0
    assert any(e.data.get("category") == "infection_control" for e in rig.kinds("alert"))
    assert rig.both_open_ticks == []


def test_person_entering_range_switches_the_lamp_off(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.robot.dispatch("epi_survey", rig.params(_willing(rig), uv_clear_wait_s=30.0))
    rig.run_until(lambda: rig.lamp.lamp_on)
    rig.lamp.set_person_present(True)
    rig.tick()
    assert not rig.lamp.lamp_on and not rig.lamp.on_while_person_present
    rig.run_until(rig.idle)
    assert _result(rig).outcome == "failed" and not _result(rig).data["disinfected"]
