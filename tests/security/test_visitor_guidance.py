"""Visitor guidance on the simulated robot: a slow visitor is waited for; one who wanders off is
given up on after a bounded wait, with the reason."""

from __future__ import annotations

from pathlib import Path

from security_rig import ROBOT, SecurityRig

from sim.security_world import SimVisitor

MEET, DEST = "outpatient-reception", "radiology-reception"
PARAMS = {"visitor_ref": "vis-0001", "meet_at": MEET, "destination": DEST, "destination_label": "radiology"}


def said(rig: SecurityRig) -> list[str]:
    return [u.text for u in rig.device("speaker").history()]


def test_a_slow_visitor_is_waited_for_and_arrival_is_announced(tmp_path: Path) -> None:
    rig = SecurityRig(tmp_path, hour=10.0, start="outpatient-waiting")
    rig.security.add_visitor(SimVisitor(ROBOT, MEET, DEST, pace_mps=0.6))
    result = rig.run_mission("visitor_guidance", PARAMS, max_s=900)
    assert result["outcome"] == "succeeded" and result["tracked"] is True
    assert result["waits"] >= 1  # the robot walks faster than this visitor: it stopped for them
    place = rig.world.places[DEST]
    assert abs(rig.body.pose.x_m - place.x_m) < 0.5 and abs(rig.body.pose.y_m - place.y_m) < 0.5
    assert said(rig)[0].startswith("Hello, I will take you to radiology")
    assert said(rig)[-1] == "We have arrived at radiology."
    assert "Please follow me, I am waiting for you." in said(rig)


def test_a_visitor_who_wanders_off_is_given_up_after_a_bounded_wait(tmp_path: Path) -> None:
    rig = SecurityRig(tmp_path, hour=10.0, start="outpatient-waiting")
    rig.security.add_visitor(SimVisitor(ROBOT, MEET, DEST, pace_mps=1.1, wanders_off_after_m=10.0))
    rig.robot.dispatch("visitor_guidance", {**PARAMS, "max_wait_s": 45}, mission_id="g1")
    rig.run_until(lambda: any(r.mission_id == "g1" for r in rig.robot.runner.history), max_s=900)
    result = rig.robot.runner.history[-1]
    assert result.outcome == "failed"
    assert result.reason == "visitor lost: no one followed within 4 m for 45 s"
    waited_from = next(e.stamp_s for e in rig.events if e.step == "wait_for_visitor")
    ended = next(e.stamp_s for e in rig.events if e.kind == "mission.failed")
    assert 45.0 <= ended - waited_from <= 46.0
    assert said(rig)[-1].startswith("I have lost you")


def test_nobody_at_the_meeting_place(tmp_path: Path) -> None:
    rig = SecurityRig(tmp_path, hour=10.0, start="outpatient-waiting")
    result = rig.run_mission("visitor_guidance", {**PARAMS, "meet_wait_s": 30}, max_s=300)
    assert result["outcome"] == "failed"
    assert result["reason"] == "visitor lost: visitor not found at outpatient-reception within 30 s"


def test_a_failed_rear_camera_leads_on_untracked(tmp_path: Path) -> None:
    rig = SecurityRig(tmp_path, hour=10.0, start="outpatient-waiting")
    rig.security.add_visitor(SimVisitor(ROBOT, MEET, DEST, pace_mps=1.1))
    rig.env.inject_fault(ROBOT, "thermal_rear", "lens fogged")
    result = rig.run_mission("visitor_guidance", PARAMS, max_s=900)
    assert result["outcome"] == "succeeded" and result["tracked"] is False
    assert any("cannot see behind me" in text for text in said(rig))
