"""The bed loop the nursing inquiry and the meal missions share (missions.nursing.bedside_mission):
each mission still names a failed way home as it did before the loop was shared."""

from __future__ import annotations

from pathlib import Path

from nursing_rig import ROBOT, WardRig
from test_nursing_inquiry_meals import beds


def fail_on_the_way_home(rig: WardRig, kind: str, params: dict[str, object]) -> str:
    rig.robot.dispatch(kind, params, mission_id="home-1")
    rig.run_until(lambda: rig.robot.runner.current is not None
                  and rig.robot.runner.current.step.name == "RETURN_HOME")
    rig.env.inject_fault(ROBOT, "nav", "wheel encoder lost")
    rig.run_until(lambda: any(r.mission_id == "home-1" for r in rig.robot.runner.history), max_s=600)
    result = next(r for r in rig.robot.runner.history if r.mission_id == "home-1")
    assert result.outcome == "failed"
    return str(result.reason)


def test_inquiry_names_a_failed_way_home_a_return_to_dock(tmp_path: Path) -> None:
    rig = WardRig(tmp_path)
    reason = fail_on_the_way_home(rig, "nursing_inquiry", {"beds": beds(rig, "A-01"), "offer_song": False})
    assert reason.startswith("return to dock failed: ") and "wheel encoder lost" in reason
    assert len(rig.records("nursing_inquiry")) == 1  # the bed was asked before the way home


def test_meal_orders_name_a_failed_way_home_a_navigation_failure(tmp_path: Path) -> None:
    rig = WardRig(tmp_path, start="10:30")
    reason = fail_on_the_way_home(rig, "meal_orders", {"meal": "lunch", "beds": beds(rig, "A-01", diet="standard")})
    assert reason.startswith("navigation failed: ") and "wheel encoder lost" in reason
