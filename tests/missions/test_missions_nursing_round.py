"""The nursing round, bed by bed: identification, inquiry, device faults, NEWS2 escalation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakes import DOCK, Patient, Rig, beds_for, make_rig, ward_of

from missions import events as ev
from missions.base import MissionRequest
from missions.nursing_round import LOUDER_QUESTION, QUESTION, SHOW_WRISTBAND

MEASURING = {"thermometer", "pulse_oximeter", "respiration_monitor", "blood_pressure", "glucometer", "scale"}


def run_round(rig: Rig, **params: Any) -> dict[str, Any]:
    beds = params.pop("beds", None) or beds_for(rig.ward.patients)
    rig.runner.submit(MissionRequest("nursing_round", {"beds": beds, **params}))
    rig.run_until(rig.idle)
    result = rig.runner.history[-1]
    return {"outcome": result.outcome, "reason": result.reason, **result.data}


def test_a_plain_round_records_every_bed_and_returns_to_the_dock(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(2))
    result = run_round(rig)
    assert result["outcome"] == "succeeded"
    assert result["beds_measured"] == ["B1", "B2"]
    assert result["alerts_raised"] == []
    assert rig.ward.place == DOCK
    record = rig.kinds(ev.CLINICAL_RECORD)[0].data
    assert set(record) == {"record_id", "record_type", "patient_ref", "bed_ref", "observations", "news2"}
    assert record["record_type"] == "vitals" and record["patient_ref"] == "pt-000001a"
    assert record["observations"]["consciousness_acvpu"] == "A"
    assert record["observations"]["complete"] is True
    assert record["news2"]["total"] == 0 and record["news2"]["risk"] == "low"
    steps = rig.kinds(ev.MISSION_STEP)
    fractions = [e.data["progress_fraction"] for e in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"navigate", "identify", "inquire", "measure", "commit", "return_home"} <= {e.step for e in steps}


def test_no_return_to_dock_when_not_asked(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(1))
    result = run_round(rig, return_to_dock=False)
    assert result["outcome"] == "succeeded"
    assert rig.ward.place == "room-1"


def test_glucose_and_weight_only_where_ordered(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(2))
    beds = beds_for(rig.ward.patients)
    beds[1] |= {"measure_glucose": True, "measure_weight": True}
    run_round(rig, beds=beds)
    assert rig.ward.starts_at("room-1", "glucometer") == 0
    assert rig.ward.starts_at("room-2", "glucometer") == 1 and rig.ward.starts_at("room-2", "scale") == 1
    obs = rig.kinds(ev.CLINICAL_RECORD)[1].data["observations"]
    assert obs["glucose_mmol_per_l"] == 5.6 and obs["weight_kg"] == 72.4


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (["MEDBOT-PT:pt-999999"] * 3, "wristband mismatch"),
        ([None, None, None], "wristband unreadable"),
        (["MEDBOT-PT:pt-999999", None, None], "wristband mismatch"),
    ],
)
def test_unidentified_patient_is_never_measured(tmp_path: Path, script: list[str | None], reason: str) -> None:
    rig = make_rig(tmp_path, ward_of(2))
    rig.devices.tag_reader.script = list(script)  # type: ignore[union-attr]
    result = run_round(rig)
    assert not any(place == "room-1" for kind, place in rig.ward.starts if kind in MEASURING)
    assert not any(place == "room-1" for place, _q in rig.devices.voice_inquiry.questions)  # type: ignore[union-attr]
    skipped = rig.kinds(ev.PATIENT_SKIPPED)
    assert [(e.reason, e.data["bed_ref"]) for e in skipped] == [(reason, "B1")]
    assert result["beds_skipped"] == [{"bed_id": "B1", "reason": reason}]
    assert result["beds_measured"] == ["B2"]  # the round goes on
    assert len([r for r in rig.devices.tag_reader.reads if r[0] == "room-1"]) == 3  # type: ignore[union-attr]
    assert any(u.text == SHOW_WRISTBAND for u in rig.devices.speaker.history())  # type: ignore[union-attr]


def test_wristband_read_on_a_retry_is_accepted(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(1))
    rig.devices.tag_reader.script = [None]  # type: ignore[union-attr]
    result = run_round(rig)
    assert result["beds_measured"] == ["B1"]


def test_unreachable_bed_is_retried_then_skipped(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(2))
    rig.nav.fail_next["room-1"] = ["path blocked"] * 3
    result = run_round(rig)
    assert len([h for h in rig.nav.handles if h.place == "room-1"]) == 3
    reason = result["beds_skipped"][0]["reason"]
    assert result["beds_skipped"][0]["bed_id"] == "B1" and "navigation failed" in reason and "path blocked" in reason
    assert result["beds_measured"] == ["B2"]


def test_navigation_that_hangs_is_timed_out_and_retried(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(1))
    rig.nav.hang_next["room-1"] = 1
    result = run_round(rig, nav_timeout_s=60)
    assert result["beds_measured"] == ["B1"]
    assert rig.nav.handles[0].poll().value == "cancelled"


def test_device_fault_retries_then_incomplete_record_and_device_alert(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(2))
    rig.devices.blood_pressure.script.fail_next = ["cuff leak", "cuff leak"]  # type: ignore[union-attr]
    result = run_round(rig)
    assert rig.ward.starts_at("room-1", "blood_pressure") == 2  # one retry
    record = rig.kinds(ev.CLINICAL_RECORD)[0].data
    assert record["news2"] is None
    assert record["observations"]["complete"] is False
    assert "cuff leak" in record["observations"]["incomplete_reason"]
    alert = rig.kinds(ev.ALERT)[0].data
    assert alert["category"] == "device" and alert["severity"] == "low"
    assert "B1" in alert["summary"] and "manually" in alert["summary"]
    assert result["beds_incomplete"] == ["B1"]
    assert result["beds_measured"] == ["B1", "B2"]
    assert rig.kinds(ev.CLINICAL_RECORD)[1].data["news2"] is not None  # the next bed is unaffected


def test_a_device_recovering_on_retry_gives_a_complete_record(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(1))
    rig.devices.thermometer.script.fail_next = ["probe off"]  # type: ignore[union-attr]
    run_round(rig)
    record = rig.kinds(ev.CLINICAL_RECORD)[0].data
    assert record["news2"] is not None and not rig.kinds(ev.ALERT)


def test_implausible_reading_is_not_scored(tmp_path: Path) -> None:
    patients = {"room-1": Patient("pt-00aa01", spo2=101)}
    rig = make_rig(tmp_path, patients)
    run_round(rig)
    record = rig.kinds(ev.CLINICAL_RECORD)[0].data
    assert record["news2"] is None and "spo2_percent" in record["observations"]["incomplete_reason"]


@pytest.mark.parametrize(
    ("answered", "coherent", "level", "questions"),
    [
        (True, True, "A", [QUESTION]),
        (True, False, "C", [QUESTION]),
        (False, False, "V", [QUESTION, LOUDER_QUESTION]),
    ],
)
def test_inquiry_gives_acvpu(tmp_path: Path, answered: bool, coherent: bool, level: str, questions: list[str]) -> None:
    rig = make_rig(tmp_path, {"room-1": Patient("pt-00aa01", answered=answered, coherent=coherent)})
    run_round(rig)
    record = rig.kinds(ev.CLINICAL_RECORD)[0].data
    assert record["observations"]["consciousness_acvpu"] == level
    assert [q for _p, q in rig.devices.voice_inquiry.questions] == questions  # type: ignore[union-attr]
    assert record["news2"]["components"]["consciousness"] == (0 if level == "A" else 3)


def test_broken_inquiry_device_leaves_the_record_incomplete(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(1))
    rig.devices.voice_inquiry.broken = True  # type: ignore[union-attr]
    run_round(rig)
    record = rig.kinds(ev.CLINICAL_RECORD)[0].data
    assert record["news2"] is None
    assert "consciousness not assessed" in record["observations"]["incomplete_reason"]
    assert rig.ward.starts_at("room-1", "thermometer") == 1  # the vitals are still taken


@pytest.mark.parametrize(
    ("patient", "total", "severity", "wording"),
    [
        (Patient("pt-00aa01", resp=26, spo2=93, temp=39.5), 7, "critical", "emergency response"),
        (Patient("pt-00aa01", pulse=120, temp=38.5, resp=22), 5, "high", "urgent review"),
        (Patient("pt-00aa01", pulse=135), 3, "medium", "inform medical team"),
        (Patient("pt-00aa01", pulse=95, resp=22), 3, None, None),  # 1–4, no single 3: record only
        (Patient("pt-00aa01"), 0, None, None),
    ],
)
def test_news2_escalation_reaches_events_with_bed_and_score(
    tmp_path: Path, patient: Patient, total: int, severity: str | None, wording: str | None
) -> None:
    rig = make_rig(tmp_path, {"room-7": patient})
    result = run_round(rig)
    record = rig.kinds(ev.CLINICAL_RECORD)[0].data
    assert record["news2"]["total"] == total
    alerts = rig.kinds(ev.ALERT)
    if severity is None:
        assert alerts == [] and result["alerts_raised"] == []
        return
    assert len(alerts) == 1
    alert = alerts[0].data
    assert alert["severity"] == severity and alert["category"] == "news2"
    assert f"Bed B1: NEWS2 {total}" in alert["summary"] and wording in alert["summary"]
    assert alert["bed_ref"] == "B1" and alert["score"] == total and alert["record_id"] == record["record_id"]
    assert alert["where"]["place"] == "room-7"
    assert result["alerts_raised"][0]["severity"] == severity


def test_triggers_are_named_in_the_alert(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, {"room-1": Patient("pt-00aa01", resp=26, spo2=93, temp=39.5)})
    run_round(rig)
    summary = rig.kinds(ev.ALERT)[0].data["summary"]
    assert "respiration_rate 3" in summary and "spo2 2" in summary and "temperature 2" in summary


def test_oxygen_and_scale_2_flow_into_the_score(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, {"room-1": Patient("pt-00aa01", spo2=97)})
    beds = beds_for(rig.ward.patients)
    beds[0] |= {"on_oxygen": True, "spo2_scale": 2}
    run_round(rig, beds=beds)
    components = rig.kinds(ev.CLINICAL_RECORD)[0].data["news2"]["components"]
    assert components["spo2"] == 3 and components["air_or_oxygen"] == 2


def test_return_home_failure_fails_the_mission_with_reason(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(1))
    rig.nav.fail_next[DOCK] = ["lift out of order"] * 3
    result = run_round(rig)
    assert result["outcome"] == "failed"
    assert "return to dock failed" in result["reason"] and "lift out of order" in result["reason"]
    assert result["beds_measured"] == ["B1"]
    assert rig.kinds(ev.MISSION_FAILED)[-1].reason == result["reason"]


def test_no_names_in_any_event(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, {"room-1": Patient("pt-00aa01", pulse=135), "room-2": Patient("pt-00aa02")})
    rig.devices.tag_reader.script = [None, None, None]  # type: ignore[union-attr]
    run_round(rig)
    for event in rig.events:
        for value in (event.reason or "", str(event.data)):
            for word in ("name", "Name", "Smith", "Mr", "Mrs"):
                assert word not in value, (event.kind, value)
