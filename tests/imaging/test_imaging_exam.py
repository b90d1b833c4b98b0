"""The imaging exam on the real imaging robot with simulated devices, ticked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from imaging_rig import ROBOT, ImagingRig, calm_patient, exam

from hal.xray_safety import ExposureGate


def test_xray_success_path_reports_a_completed_study(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path)
    rig.admit(calm_patient())
    rig.robot.dispatch("imaging_exam", exam(), mission_id="m1")
    rig.run_until(lambda: rig.finished("m1"), 300)
    assert rig.result("m1").outcome == "succeeded"
    study = rig.study()
    assert study["mpps_status"] == "COMPLETED" and study["accession_number"] == "ACC-0001"
    assert study["exposures"] == 1 and study["retakes"] == 0
    assert 80 < study["dap_mgy_cm2"] < 200 and study["dap_mgy_cm2"] == pytest.approx(rig.xray.total_dap_mgy_cm2, 0.01)
    steps = [e.step for e in rig.events if e.kind == "mission.step"]
    assert steps.index("expose.technique") < steps.index("assess")  # technique shown before exposure
    mpps = [e.data["mpps_status"] for e in rig.of_kind("mission.step", "mpps")]
    assert mpps == ["IN PROGRESS", "COMPLETED"]
    assert not rig.room().warning_light_on  # released: the "X-ray on" light is off again
    said = [u.text for u in rig.device("speaker").history()]
    assert any("centimetres" in t for t in said)  # the patient was guided onto the centre


def test_ultrasound_success_path_uses_the_probe_and_no_dose(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path)
    rig.admit(calm_patient(), room="radiology-ultrasound")
    rig.robot.dispatch("imaging_exam", exam(procedure="US-THYROID", modality="US"), mission_id="m1")
    rig.run_until(lambda: rig.finished("m1"), 400)
    assert rig.result("m1").outcome == "succeeded", rig.result("m1").reason
    study = rig.study()
    assert study["modality"] == "US" and study["scan_frames"] > 0 and study["peak_contact_force_n"] <= 10.0
    assert rig.xray.total_dap_mgy_cm2 == 0.0 and study["dap_mgy_cm2"] == 0
    assert not rig.device("probe_arm").in_contact


def test_ultrasound_contact_force_limit_ends_the_scan(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path)
    rig.admit(calm_patient(thickness_cm=40.0), room="radiology-ultrasound")  # a large patient pushes back harder
    rig.robot.dispatch("imaging_exam", exam(procedure="US-THYROID", modality="US"), mission_id="m1")
    rig.run_until(lambda: rig.finished("m1"), 400)
    assert rig.result("m1").outcome == "failed"
    assert "contact force" in rig.result("m1").reason and not rig.device("probe_arm").in_contact


def test_wrong_patient_is_never_exposed(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path)
    rig.admit(calm_patient(patient_ref="pt-ffff01"))  # someone else is on the table
    rig.robot.dispatch("imaging_exam", exam(), mission_id="m1")
    rig.run_until(lambda: rig.finished("m1"), 120)
    assert rig.result("m1").outcome == "failed" and "wrong patient" in rig.result("m1").reason
    assert rig.xray.exposure_log == [] and rig.xray.total_dap_mgy_cm2 == 0.0
    assert rig.study()["mpps_status"] == "DISCONTINUED"
    assert [a.data["category"] for a in rig.of_kind("alert")] == ["identification"]


def test_a_broken_wristband_scanner_is_named_not_taken_for_an_unreadable_band(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path)
    rig.admit(calm_patient())
    rig.env.inject_fault(ROBOT, "wristband_cam", "wristband scanner offline", until_s=rig.now_s + 3600)
    rig.robot.dispatch("imaging_exam", exam(), mission_id="m1")
    rig.run_until(lambda: rig.finished("m1"), 300)
    result = rig.result("m1")
    assert result.outcome == "failed" and "wristband scanner offline" in result.reason, result.reason
    assert "patient not identified" in result.reason and rig.xray.exposure_log == []


def test_open_interlock_before_exposure_refuses(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path)
    rig.admit(calm_patient())
    rig.room().door_closed = False
    rig.robot.dispatch("imaging_exam", exam(interlock_wait_s=3.0), mission_id="m1")
    rig.run_until(lambda: rig.finished("m1"), 120)
    assert rig.result("m1").outcome == "failed"
    assert "door open" in rig.result("m1").reason and "exposure refused" in rig.result("m1").reason
    assert rig.xray.exposure_log == []
    assert not rig.room().warning_light_on


def test_exposure_gate_refuses_and_releases(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path)
    gate = ExposureGate(rig.device("xray_room"))
    rig.room().warning_light_on = True
    assert gate.check().allowed
    rig.room().staff_present = 1
    decision = gate.check()
    assert not decision.allowed and "staff" in decision.reason
    gate.lock_out("failed self-test")
    rig.room().staff_present = 0
    assert "locked out" in gate.check().reason


def _run_until_exposing(rig: ImagingRig) -> None:
    rig.run_until(lambda: rig.xray.status().exposing, 120)


def test_door_opened_during_exposure_ends_it_the_same_tick(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path, dt_s=0.05)
    rig.admit(calm_patient())
    rig.robot.dispatch("imaging_exam", exam(procedure="XR-LSPINE-LAT"), mission_id="m1")
    _run_until_exposing(rig)
    rig.tick(2)
    assert rig.xray.status().exposing
    rig.room().door_closed = False  # someone walks in
    rig.tick()
    status = rig.xray.status()
    assert not status.exposing and not status.holding
    dose = status.total_dap_mgy_cm2
    assert 0 < dose < 100  # part of the ~135 mGy·cm² exposure
    rig.tick(100)
    assert rig.xray.total_dap_mgy_cm2 == dose  # no more dose while the door stays open
    assert "door open" in rig.xray.exposure_log[0][2]
    retake = rig.of_kind("mission.step", "retake")
    assert len(retake) == 1 and "door open" in (retake[0].reason or "")
    rig.room().door_closed = True
    rig.run_until(lambda: rig.finished("m1"), 120)
    study = rig.study()
    assert study["mpps_status"] == "COMPLETED" and study["exposures"] == 2 and study["retakes"] == 1
    assert "interrupted" in study["retake_reasons"]
    assert [a.data["category"] for a in rig.of_kind("alert")] == ["radiation_safety"]


def test_patient_motion_blur_gets_one_retake_with_its_reason(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path)
    rig.admit(calm_patient(moves_during_exposures=1))
    rig.robot.dispatch("imaging_exam", exam(), mission_id="m1")
    rig.run_until(lambda: rig.finished("m1"), 300)
    assert rig.result("m1").outcome == "succeeded"
    study = rig.study()
    assert study["retakes"] == 1 and study["exposures"] == 2 and "motion blur" in study["retake_reasons"]
    retake = rig.of_kind("mission.step", "retake")
    assert len(retake) == 1 and "motion blur" in (retake[0].reason or "")


def test_dose_limit_stops_retakes_and_discontinues(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path)
    rig.admit(calm_patient(moves_during_exposures=9))
    rig.robot.dispatch("imaging_exam", exam(max_retakes=5), mission_id="m1")
    rig.run_until(lambda: rig.finished("m1"), 300)
    result = rig.result("m1")
    assert result.outcome == "failed" and "dose limit reached" in result.reason
    study = rig.study()
    assert study["mpps_status"] == "DISCONTINUED" and study["exposures"] == 2
    assert study["dap_mgy_cm2"] <= study["dose_limit_dap_mgy_cm2"]
    assert len(rig.xray.exposure_log) == 2


def test_equipment_fault_self_test_fails_and_the_robot_refuses_to_expose(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path)
    rig.env.inject_fault(ROBOT, "xray", "tube overheating", until_s=rig.now_s + 60)
    rig.admit(calm_patient())
    rig.robot.dispatch("imaging_exam", exam(), mission_id="m1")
    rig.run_until(lambda: rig.finished("m1"), 300)
    result = rig.result("m1")
    assert result.outcome == "failed" and "self-test failed" in result.reason
    alerts = rig.of_kind("alert")
    assert [a.data["category"] for a in alerts] == ["maintenance"] and alerts[0].data["severity"] == "high"
    assert rig.xray.exposure_log == []
    rig.tick(700)  # the fault itself is gone, but the lock-out stays until maintenance
    rig.robot.dispatch("imaging_exam", exam(accession="ACC-0002"), mission_id="m2")
    rig.run_until(lambda: rig.finished("m2"), 300)
    assert "locked out" in rig.result("m2").reason and rig.xray.exposure_log == []
    rig.robot.dispatch("equipment_selftest", {"trigger": "after repair"}, mission_id="m3")
    rig.run_until(lambda: rig.finished("m3"), 300)
    assert rig.result("m3").outcome == "succeeded"  # passes, yet only a service engineer clears the lock-out
    assert rig.xray.status().locked_out is not None


def test_cancel_during_exposure_ends_it_at_once(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path, dt_s=0.05)
    rig.admit(calm_patient())
    rig.robot.dispatch("imaging_exam", exam(procedure="XR-LSPINE-LAT"), mission_id="m1")
    _run_until_exposing(rig)
    rig.robot.cancel()
    assert not rig.xray.status().exposing and not rig.xray.status().holding
    assert rig.result("m1").outcome == "cancelled"
    assert not rig.room().warning_light_on


def test_estop_mid_exposure_ends_it_on_the_same_tick_then_resumes(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path, dt_s=0.05)
    rig.admit(calm_patient())
    rig.robot.dispatch("imaging_exam", exam(procedure="XR-LSPINE-LAT"), mission_id="m1")
    _run_until_exposing(rig)
    rig.env.press_estop(ROBOT)
    rig.tick()
    assert not rig.xray.status().exposing and not rig.xray.status().holding
    dose = rig.xray.total_dap_mgy_cm2
    rig.tick(40)
    assert rig.xray.total_dap_mgy_cm2 == dose and rig.robot.runner.current is not None
    assert rig.robot.runner.current.state.value == "paused"
    rig.env.release_estop(ROBOT)
    assert rig.robot.reset_estop("test")[0]
    rig.run_until(lambda: rig.finished("m1"), 300)
    study = rig.study()
    assert study["mpps_status"] == "COMPLETED" and study["retakes"] == 1 and "e-stop" in study["retake_reasons"]


def test_restart_during_exposure_never_exposes_again(tmp_path: Path) -> None:
    rig = ImagingRig(tmp_path, dt_s=0.05)
    rig.admit(calm_patient())
    rig.robot.dispatch("imaging_exam", exam(procedure="XR-LSPINE-LAT"), mission_id="m1")
    _run_until_exposing(rig)
    old_xray = rig.xray
    # the process dies here: no close, no more ticks of the old robot; a new one starts on the journal
    rig2 = ImagingRig(tmp_path, env=rig.env, dt_s=0.05)
    rig2.now_s = rig.now_s
    rig2.run_until(lambda: rig2.finished("m1"), 120)
    result = rig2.result("m1")
    assert result.outcome == "failed" and "restarted during an exposure" in result.reason
    assert rig2.xray.exposure_log == []  # the new robot never exposed
    rig2.tick(20)
    assert not old_xray.status().holding  # the dead holder's exposure ended by the deadman
    assert len(old_xray.exposure_log) == 1 and "no hold signal" in old_xray.exposure_log[0][2]
