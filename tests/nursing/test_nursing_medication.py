"""Medication round on the simulated nursing robot: five rights, never twice, faults and stops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nursing_rig import ROBOT, WardRig, at

from hal.patient_terminal import HandOverOutcome
from missions.base import MissionParamsError
from missions.catalog import default_catalog


def step_is(rig: WardRig, name: str, bed: str | None = None) -> bool:
    mission = rig.robot.runner.current
    if mission is None or mission.step.name.lower() != name:
        return False
    patient = getattr(mission, "_patient", None)
    return bed is None or (patient is not None and patient.bed_id == bed)


def med_records(rig: WardRig, bed: str) -> list[dict[str, Any]]:
    unique = {r["record_id"]: r for r in rig.records("medication_administration") if r["bed_ref"] == bed}
    return list(unique.values())


def custody(rig: WardRig, what: str) -> list[dict[str, Any]]:
    return [e.data for e in rig.kinds("mission.step") if e.step == f"custody.{what}"]


def test_success_path_loads_hands_out_and_logs_every_dose(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    result = rig.run_mission("medication_round", {"patients": [rig.doses("A-01"), rig.doses("A-02")]})
    assert result.outcome == "succeeded", result.reason
    assert result.data["given"] == ["A-01", "A-02"] and result.data["not_given"] == []
    load = custody(rig, "load")
    assert len(load) == 1 and load[0]["drawers"] == {"A-01": "A", "A-02": "B"}
    assert load[0]["pharmacist_ref"].startswith("st-")
    # each drawer unlocked once by the pharmacist (loading) and once by the nurse at its own bed
    nurse_unlocks = [e for e in rig.drawer.log if e.action == "unlock" and e.by != load[0]["pharmacist_ref"]]
    assert [e.drawer_id for e in nurse_unlocks] == ["A", "B"]
    assert all(rig.drawer.state(d).locked for d in rig.drawer.drawer_ids())
    record = med_records(rig, "A-01")[0]
    assert record["observations"]["status"] == "given" and record["observations"]["confirmed_by"] == "patient"
    assert record["observations"]["authorised_by"].startswith("st-") and record["news2"] is None
    assert custody(rig, "returned") == []  # nothing to take back
    assert [r for r, _ in rig.badge.requests] == ["pharmacist", "nurse", "nurse"]


def test_wrong_patient_never_unlocks_and_the_doses_go_back(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    wrong = rig.doses("A-02")
    wrong["place"] = rig.bed("A-01")[0]  # the robot is sent to A-01, where someone else lies
    result = rig.run_mission("medication_round", {"patients": [wrong]})
    assert result.outcome == "succeeded"
    assert result.data["not_given"] == [{"bed_id": "A-02", "reason": "wrong patient"}]
    pharmacist = custody(rig, "load")[0]["pharmacist_ref"]
    assert [e.by for e in rig.unlocks("A")] == [pharmacist, pharmacist]  # loading and the return only
    assert ("nurse", "hand out medication, bed A-02") not in rig.badge.requests
    returned = custody(rig, "returned")
    assert returned[0]["returned"] is True and returned[0]["items"][0]["bed_id"] == "A-02"
    assert med_records(rig, "A-02")[0]["observations"]["reason"] == "wrong patient"


@pytest.mark.parametrize(("due", "words"), [("05:30", "outside time window"), ("11:00", "too early")])
def test_outside_the_time_window_is_not_given(tmp_path: Path, due: str, words: str) -> None:
    rig = WardRig(tmp_path)
    result = rig.run_mission("medication_round", {"patients": [rig.doses("A-01", due_s=at(due))]})
    assert words in result.data["not_given"][0]["reason"]
    assert len(rig.unlocks("A")) == 2  # pharmacist: load and return
    assert rig.terminal.hand_overs == []


def test_wrong_dose_dispensed_is_withheld(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    bad = rig.doses("A-01", dispensed={"drug": "paracetamol", "dose_mg": 500.0, "route": "oral"})
    result = rig.run_mission("medication_round", {"patients": [bad]})
    assert "wrong dose" in result.data["not_given"][0]["reason"]
    assert len(rig.unlocks("A")) == 2


def test_restart_between_commit_and_confirmation_never_unlocks_again(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    rig.robot.dispatch("medication_round", {"patients": [rig.doses("A-01"), rig.doses("A-02")]}, mission_id="m-1")
    rig.run_until(lambda: step_is(rig, "confirm", "A-01"))
    assert len(rig.unlocks("A")) == 2 and not rig.drawer.state("A").locked  # handed out, not confirmed
    rig.restart()  # killed before the patient confirmed
    rig.run_until(rig.idle)
    result = rig.robot.runner.history[-1]
    assert result.outcome == "succeeded"
    assert result.data["needs_nurse_check"] == ["A-01"] and result.data["given"] == ["A-02"]
    assert len(rig.unlocks("A")) == 3  # load, the one hand-out, the return: never a second hand-out
    assert rig.drawer.state("A").locked
    assert rig.terminal.hand_overs.count("m-1.A-01") == 1
    checks = [e for e in rig.kinds("alert") if e.data["alert_id"] == "m-1.A-01.check"]
    assert checks and checks[0].data["severity"] == "medium"
    assert med_records(rig, "A-01")[0]["observations"]["status"] == "needs_nurse_check"


def test_restart_after_confirmation_does_not_repeat_the_hand_out(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    rig.robot.dispatch("medication_round", {"patients": [rig.doses("A-01"), rig.doses("A-02")]}, mission_id="m-1")
    rig.run_until(lambda: bool(med_records(rig, "A-01")))
    rig.restart()
    rig.run_until(rig.idle)
    result = rig.robot.runner.history[-1]
    assert result.data["given"] == ["A-01", "A-02"]
    assert len(rig.unlocks("A")) == 2 and rig.terminal.hand_overs.count("m-1.A-01") == 1
    assert len(custody(rig, "load")) == 1  # not loaded twice either


def test_drawer_fault_stops_the_round_and_returns_the_doses(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    rig.robot.dispatch("medication_round", {"patients": [rig.doses("A-01"), rig.doses("A-02")]}, mission_id="m-1")
    rig.run_until(lambda: step_is(rig, "authorise", "A-01"))
    rig.env.inject_fault(ROBOT, "drawer", "lock actuator jammed", until_s=rig.clock.now_s() + 120)
    rig.run_until(rig.idle)
    result = rig.robot.runner.history[-1]
    assert result.outcome == "failed" and "drawer fault" in (result.reason or "")
    reasons = {n["bed_id"]: n["reason"] for n in result.data["not_given"]}
    assert "lock actuator jammed" in reasons["A-01"] and reasons["A-02"].startswith("round stopped")
    assert result.data["returned_to_pharmacy"] is True
    assert {i["bed_id"] for i in custody(rig, "returned")[0]["items"]} == {"A-01", "A-02"}
    assert rig.terminal.hand_overs == []


def test_badge_refused_means_no_unlock(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    rig.robot.dispatch("medication_round", {"patients": [rig.doses("A-01")]}, mission_id="m-1")
    rig.run_until(lambda: step_is(rig, "navigate", "A-01"))
    rig.badge.refuse_next("PIN incorrect", count=2)
    rig.run_until(rig.idle)
    result = rig.robot.runner.history[-1]
    assert result.data["not_given"] == [{"bed_id": "A-01", "reason": "badge refused: PIN incorrect"}]
    assert len(rig.unlocks("A")) == 2  # load and return only


def test_patient_terminal_authority_refusal_keeps_the_drawer_shut(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    rig.terminal.script_answer("medication_accept", "no")
    result = rig.run_mission("medication_round", {"patients": [rig.doses("A-01"), rig.doses("A-02")],
                                                  "unlock_by": "patient_terminal"})
    assert result.data["not_given"] == [{"bed_id": "A-01", "reason": "refused by patient"}]
    assert result.data["given"] == ["A-02"]
    assert [e.by for e in rig.unlocks("B")][1].startswith("patient-terminal:pt-")
    assert all(r == "pharmacist" for r, _ in rig.badge.requests)


def test_refused_at_hand_over_is_locked_and_returned(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    rig.terminal.script_hand_over(HandOverOutcome.REFUSED)
    result = rig.run_mission("medication_round", {"patients": [rig.doses("A-01")]})
    assert result.data["not_given"] == [{"bed_id": "A-01", "reason": "refused by patient"}]
    assert custody(rig, "returned")[0]["items"][0]["bed_id"] == "A-01"


def test_cancel_while_the_drawer_is_open_locks_it_and_flags_the_dose(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    rig.robot.dispatch("medication_round", {"patients": [rig.doses("A-01"), rig.doses("A-02")]}, mission_id="m-1")
    rig.run_until(lambda: step_is(rig, "confirm", "A-01"))
    rig.robot.cancel()
    result = rig.robot.runner.history[-1]
    assert result.outcome == "cancelled" and result.reason == "cancelled by operator"
    assert result.data["needs_nurse_check"] == ["A-01"] and sorted(result.data["on_board"]) == ["A-01", "A-02"]
    assert rig.drawer.state("A").locked
    on_board = [e for e in rig.kinds("alert") if e.data["alert_id"] == "m-1.on_board"]
    assert on_board and "drawer(s) A, B" in on_board[0].data["summary"]
    assert len(rig.unlocks("A")) == 2


def test_estop_pauses_and_resumes_without_a_second_unlock(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    rig.robot.dispatch("medication_round", {"patients": [rig.doses("A-01")]}, mission_id="m-1")
    rig.run_until(lambda: step_is(rig, "confirm", "A-01"))
    rig.env.press_estop(ROBOT)
    rig.tick()
    mission = rig.robot.runner.current
    assert mission is not None and mission.state.value == "paused"
    for _ in range(100):
        rig.tick()
    rig.env.release_estop(ROBOT)
    rig.tick()
    assert rig.robot.reset_estop("nurse")[0]
    rig.run_until(rig.idle)
    result = rig.robot.runner.history[-1]
    assert result.outcome == "succeeded" and result.data["given"] == ["A-01"]
    assert len(rig.unlocks("A")) == 2  # load + one hand-out, the confirmation was simply asked again
    assert rig.terminal.hand_overs.count("m-1.A-01") == 2


def test_params_reject_injections_and_foreign_doses() -> None:
    catalog = default_catalog()
    dose = {"order_id": "rx-1", "patient_ref": "pt-abcdef", "drug": "x", "dose_mg": 1.0, "route": "oral",
            "due_s": 1.0}
    with pytest.raises(MissionParamsError, match="route"):
        catalog.parse_params("medication_round", {"patients": [
            {"bed_id": "A-01", "place": "p", "patient_ref": "pt-abcdef", "doses": [dose | {"route": "iv"}]}]})
    with pytest.raises(MissionParamsError, match="another patient"):
        catalog.parse_params("medication_round", {"patients": [
            {"bed_id": "A-01", "place": "p", "patient_ref": "pt-123456", "doses": [dose]}]})
