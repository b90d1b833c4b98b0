"""Nursing inquiry (skip logic, pain alert, song) and meal service (diets, kitchen, delivery)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nursing_rig import ROBOT, WardRig

from missions.nursing.menu import allowed_dishes
from missions.nursing.questionnaire import next_item
from sim.nursing_orders import patient_answer
from sim.patients import PatientModel


def beds(rig: WardRig, *bed_ids: str, **extra: Any) -> list[dict[str, Any]]:
    out = []
    for bed_id in bed_ids:
        place, ref = rig.bed(bed_id)
        out.append({"bed_id": bed_id, "place": place, "patient_ref": ref, **extra})
    return out


def asked(rig: WardRig) -> list[str]:
    return [q.question_id for q in rig.terminal.questions]


# ---- inquiry ------------------------------------------------------------------------------------


def test_skip_logic_asks_follow_ups_only_when_they_apply() -> None:
    assert next_item({}, set(), offer_song=True).question.question_id == "pain_present"  # type: ignore[union-attr]
    answers = {"pain_present": "no"}
    item = next_item(answers, set(answers), offer_song=True)
    assert item is not None and item.question.question_id == "sleep"
    answers = {"pain_present": "no", "sleep": "good", "appetite": "good", "song_offer": "no"}
    assert next_item(answers, set(answers), offer_song=True) is None
    answers = {"pain_present": "no", "sleep": "good", "appetite": "good"}
    assert next_item(answers, set(answers), offer_song=False) is None


def test_inquiry_records_answers_and_raises_a_pain_alert(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    t = rig.terminal
    t.script_answer("pain_present", "yes", "no")
    t.script_answer("pain_score", "8")
    t.script_answer("sleep", "poor", "good")
    t.script_answer("sleep_disturbance", "pain")
    t.script_answer("appetite", "good", "good")
    t.script_answer("song_offer", "no", "yes")
    t.script_answer("song_genre", "classical")
    result = rig.run_mission("nursing_inquiry", {"beds": beds(rig, "A-01", "A-02")})
    assert result.outcome == "succeeded" and result.data["beds_asked"] == ["A-01", "A-02"]
    assert asked(rig) == ["pain_present", "pain_score", "sleep", "sleep_disturbance", "appetite", "song_offer",
                          "pain_present", "sleep", "appetite", "song_offer", "song_genre"]
    first, second = rig.records("nursing_inquiry")
    assert first["observations"]["pain_score_0_10"] == 8 and first["observations"]["sleep_disturbance"] == "pain"
    assert first["observations"]["pain_present"] is True and first["observations"]["complete"] is True
    assert "pain_score_0_10" not in second["observations"] and second["observations"]["song_genre"] == "classical"
    pain = [e.data for e in rig.kinds("alert") if e.data["category"] == "pain"]
    assert len(pain) == 1 and pain[0]["severity"] == "medium" and pain[0]["bed_ref"] == "A-01"
    assert "pain 8/10" in pain[0]["summary"]
    songs = [e.data for e in rig.kinds("mission.step") if e.step == "song"]
    assert songs == [{"bed_ref": "A-02", "genre": "classical", "progress_fraction": 0.5}]
    assert any("classical song" in u.text for u in rig.devices.speaker.history())  # type: ignore[union-attr]
    assert [p.track_ref for p in rig.devices.speaker.played] == ["genre:classical"]  # type: ignore[union-attr]


def test_pain_below_seven_raises_no_alert(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    rig.terminal.script_answer("pain_present", "yes")
    rig.terminal.script_answer("pain_score", "6")
    rig.run_mission("nursing_inquiry", {"beds": beds(rig, "A-01"), "offer_song": False})
    assert rig.records("nursing_inquiry")[0]["observations"]["pain_score_0_10"] == 6
    assert not [e for e in rig.kinds("alert") if e.data["category"] == "pain"]
    assert "song_offer" not in asked(rig)


def test_terminal_fault_commits_an_incomplete_record(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    rig.env.inject_fault(ROBOT, "terminal", "touchscreen dead")
    result = rig.run_mission("nursing_inquiry", {"beds": beds(rig, "A-01")})
    assert result.outcome == "succeeded"
    obs = rig.records("nursing_inquiry")[0]["observations"]
    assert obs["complete"] is False and "touchscreen dead" in obs["incomplete_reason"]
    assert [e.data["category"] for e in rig.kinds("alert")] == ["inquiry"]


def test_deteriorating_patients_report_more_pain() -> None:
    well = PatientModel(5, "A-01", "ward-a", 0.0)
    ill = PatientModel(5, "A-02", "ward-a", 0.0, deteriorating=True)
    t_s = ill.onset_s + 0.6 / ill.peak_severity * ill.ramp_s  # severity 0.6: still alert
    assert ill.vitals_at(t_s).consciousness == "alert"
    rng = np.random.default_rng(1)
    choices = tuple(str(i) for i in range(11))
    ill_scores = [int(patient_answer(ill, "pain_score", choices, t_s, rng) or -1) for _ in range(20)]
    well_scores = [int(patient_answer(well, "pain_score", choices, t_s, rng) or -1) for _ in range(20)]
    assert min(ill_scores) >= 5 and max(well_scores) <= 4
    assert sum(s >= 7 for s in ill_scores) >= 5  # enough to trip the alert often
    assert patient_answer(ill, "pain_present", ("yes", "no"), t_s, rng) == "yes"


def test_cancel_and_estop_during_the_inquiry(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    rig.robot.dispatch("nursing_inquiry", {"beds": beds(rig, "A-01", "A-02")}, mission_id="inq-1")
    rig.run_until(lambda: rig.robot.runner.current is not None and rig.robot.runner.current.step.name == "ASK")
    rig.env.press_estop(ROBOT)
    rig.tick()
    assert rig.robot.runner.current is not None and rig.robot.runner.current.state.value == "paused"
    rig.env.release_estop(ROBOT)
    rig.tick()
    assert rig.robot.reset_estop("nurse")[0]
    rig.run_until(lambda: len(rig.records("nursing_inquiry")) == 1)
    rig.robot.cancel()
    result = rig.robot.runner.history[-1]
    assert result.outcome == "cancelled" and result.data["beds_asked"] == ["A-01"]


# ---- meals --------------------------------------------------------------------------------------


def test_meal_orders_respect_diets_and_reach_the_kitchen(tmp_path: Path) -> None:
    rig = WardRig(tmp_path, start="10:30")
    rig.terminal.script_answer("meal_choice", "pasta_bake", None, None)  # standard; diabetic twice silent
    order_beds = (beds(rig, "A-01", diet="standard") + beds(rig, "A-02", diet="diabetic")
                  + beds(rig, "A-03", diet="nil_by_mouth"))
    result = rig.run_mission("meal_orders", {"meal": "lunch", "beds": order_beds}, mission_id="meal-1")
    assert result.outcome == "succeeded"
    assert result.data["orders"] == {"A-01": "pasta_bake", "A-02": allowed_dishes("lunch", "diabetic")[0]}
    assert result.data["nil_by_mouth"] == ["A-03"]
    diabetic_q = [q for q in rig.terminal.questions if q.question_id == "meal_choice"][1]
    assert "pasta_bake" not in diabetic_q.choices and "sponge_pudding" not in diabetic_q.choices
    assert len(rig.terminal.questions) == 3  # A-01 once, A-02 twice (no answer), A-03 never
    kitchen = [e for e in rig.kinds("mission.step") if e.step == "kitchen.order"]
    assert len(kitchen) == 1 and kitchen[0].data["robot_at_kitchen"] is True
    assert [o["bed_id"] for o in kitchen[0].data["orders"]] == ["A-01", "A-02"]
    sent_at = kitchen[0].stamp_s
    arrivals = [e for e in rig.kinds("mission.step") if e.step == "send"]
    assert arrivals and arrivals[0].stamp_s <= sent_at  # the list goes once the robot is at the kitchen


def test_meal_delivery_by_drawer_and_diet_rechecked(tmp_path: Path) -> None:
    rig = WardRig(tmp_path, start="11:50")
    orders = (beds(rig, "A-01", diet="standard", dish="fish_pie")
              + beds(rig, "A-02", diet="diabetic", dish="sponge_pudding")  # diet changed since ordering
              + beds(rig, "A-03", diet="nil_by_mouth", dish="fish_pie"))
    result = rig.run_mission("meal_delivery", {"meal": "lunch", "orders": orders}, mission_id="deliv-1")
    assert result.outcome == "succeeded" and result.data["served"] == ["A-01"]
    reasons = {n["bed_id"]: n["reason"] for n in result.data["not_served"]}
    assert "not allowed on a diabetic diet" in reasons["A-02"] and reasons["A-03"] == "nil by mouth"
    assert [e.drawer_id for e in rig.drawer.log if e.action == "unlock" and (e.by or "").startswith("wristband")] \
        == ["A"]
    returned = [e.data for e in rig.kinds("mission.step") if e.step == "custody.returned"]
    assert returned == [{"beds": ["A-02"], "returned": True}]


@pytest.mark.parametrize("diet", ["standard", "diabetic", "soft"])
def test_every_diet_has_a_choice_for_every_meal(diet: str) -> None:
    for meal in ("breakfast", "lunch", "dinner"):
        assert allowed_dishes(meal, diet)
    assert allowed_dishes("lunch", "nil_by_mouth") == ()
