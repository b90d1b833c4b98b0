"""The patrol on the simulated security robot in the default hospital, ticked by hand."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from security_rig import ROBOT, SecurityRig, patrol

from hal.siren import SirenPattern
from missions import events as ev
from sim.security_world import HazardKind

#: three checkpoints close together along the main corridor's north side
NEAR = ("kitchen", "central-supply", "clinical-lab")


def jpeg_decodes(rig: SecurityRig, ref: str | None) -> bool:
    assert ref is not None
    item = rig.robot.media.get(ref)
    assert item is not None and item.content_type == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(item.data, np.uint8), cv2.IMREAD_COLOR)
    return image is not None and image.shape[0] > 0 and item.data[:2] == b"\xff\xd8"


def test_a_quiet_patrol_checks_every_checkpoint_and_raises_nothing(tmp_path: Path) -> None:
    rig = SecurityRig(tmp_path, hour=10.0, start="main-entrance")
    result = rig.run_mission("security_patrol", patrol(*NEAR, "pharmacy", door=True))
    assert result["outcome"] == "succeeded"
    assert result["checkpoints_checked"] == ["1:kitchen", "1:central-supply", "1:clinical-lab", "1:pharmacy"]
    assert rig.alerts() == [] and result["alerts_raised"] == [] and result["checks_skipped"] == []
    assert {"navigate", "capture", "analyse", "commit"} <= set(rig.steps())


def test_every_seeded_hazard_is_reported_at_its_checkpoint_with_a_jpeg(tmp_path: Path) -> None:
    rig = SecurityRig(tmp_path, hour=2.0, start="main-entrance")
    rig.hazard(HazardKind.FIRE, "kitchen")
    rig.hazard(HazardKind.HOT_SPOT, "central-supply")
    rig.hazard(HazardKind.WATER_LEAK, "radiology-reception")
    rig.hazard(HazardKind.DOOR_OPEN, "pharmacy")
    rig.hazard(HazardKind.INTRUSION, "outpatient-waiting")
    result = rig.run_mission("security_patrol", {"route": "night", "return_to_dock": False})
    assert result["outcome"] == "succeeded" and len(result["checkpoints_checked"]) == 11
    found = {(a["checkpoint"], a["category"]) for a in rig.alerts()}
    assert found == {("kitchen", "fire"), ("central-supply", "hot_spot"), ("radiology-reception", "water_leak"),
                     ("pharmacy", "door_open"), ("outpatient-waiting", "intrusion")}
    for alert in rig.alerts():
        assert jpeg_decodes(rig, alert["evidence_ref"])
        assert alert["where"]["place"] == alert["checkpoint"] and alert["alert_id"].startswith("m1.1.")
    fire = rig.alerts("fire")[0]
    assert fire["confirmed"] is True and fire["severity"] == "critical"  # the lead's fire alarm keys on this
    assert [pattern for _, pattern in rig.device("siren").history] == [SirenPattern.FIRE]


def test_intrusion_only_after_hours_in_a_closed_zone(tmp_path: Path) -> None:
    cp = "outpatient-waiting"
    day = SecurityRig(tmp_path / "day", hour=10.0, start="outpatient-reception")
    day.hazard(HazardKind.INTRUSION, cp)  # the same walking figure, by day, in the open hall
    assert day.run_mission("security_patrol", patrol(cp, closed=(20.0, 7.0)))["outcome"] == "succeeded"
    assert day.alerts() == []
    night = SecurityRig(tmp_path / "night", hour=23.0, start="outpatient-reception")
    night.hazard(HazardKind.INTRUSION, cp)
    night.run_mission("security_patrol", patrol(cp, closed=(20.0, 7.0)))
    assert [a["category"] for a in night.alerts()] == ["intrusion"]


def test_a_failed_sensor_raises_one_device_alert_and_the_patrol_goes_on(tmp_path: Path) -> None:
    rig = SecurityRig(tmp_path, hour=10.0, start="main-entrance")
    rig.env.inject_fault(ROBOT, "thermal", "detector over temperature")
    rig.hazard(HazardKind.WATER_LEAK, "clinical-lab")
    result = rig.run_mission("security_patrol", patrol(*NEAR))
    assert result["outcome"] == "succeeded" and len(result["checkpoints_checked"]) == 3
    device = rig.alerts("device")
    assert len(device) == 1 and device[0]["device"] == "thermal_camera"
    assert "detector over temperature" in device[0]["summary"] and "hot_spot" in device[0]["summary"]
    assert [s["checkpoint"] for s in result["checks_skipped"]] == list(NEAR)  # recorded at every checkpoint
    assert [a["category"] for a in rig.alerts("water_leak")] == ["water_leak"]  # other checks still ran


def test_a_repeated_hazard_is_not_re_alerted_every_lap_unless_it_got_worse(tmp_path: Path) -> None:
    rig = SecurityRig(tmp_path, hour=10.0, start="main-entrance")
    rig.hazard(HazardKind.HOT_SPOT, "central-supply")
    rig.hazard(HazardKind.WATER_LEAK, "kitchen", growth_per_h=40.0)  # spreading fast
    result = rig.run_mission("security_patrol", patrol("kitchen", "central-supply", laps=3))
    assert result["outcome"] == "succeeded" and len(result["checkpoints_checked"]) == 6
    assert [a["lap"] for a in rig.alerts("hot_spot")] == [1]
    leaks = rig.alerts("water_leak")
    assert len(leaks) >= 2 and leaks[0]["lap"] == 1 and "worse" in leaks[1]["summary"]
    # the security desk hands the open incidents to the next patrol: still nothing new
    rig.run_mission("security_patrol", patrol("central-supply", open_incidents=result["open_incidents"]),
                    mission_id="m2")
    assert [a for a in rig.alerts() if a["alert_id"].startswith("m2.")] == []


def test_cancel_ends_the_patrol_and_stops_the_robot(tmp_path: Path) -> None:
    rig = SecurityRig(tmp_path, hour=10.0, start="main-entrance")
    rig.robot.dispatch("security_patrol", patrol(*NEAR), mission_id="m1")
    rig.run_until(lambda: "capture" in rig.steps())
    rig.robot.cancel()
    rig.run_until(lambda: rig.finished("m1"), max_s=5)
    result = rig.robot.runner.history[-1]
    assert result.outcome == "cancelled" and result.reason == "cancelled by operator"
    for _ in range(20):
        rig.tick()
    assert rig.body.velocity.is_zero


def test_estop_holds_the_patrol_and_the_capture_restarts_after_reset(tmp_path: Path) -> None:
    rig = SecurityRig(tmp_path, hour=10.0, start="main-entrance")
    rig.hazard(HazardKind.HOT_SPOT, "kitchen")
    rig.robot.dispatch("security_patrol", patrol("kitchen", "central-supply"), mission_id="m1")
    rig.run_until(lambda: rig.robot.runner.current is not None and rig.robot.runner.current.step.name == "CAPTURE")
    rig.env.press_estop(ROBOT)
    rig.tick()
    assert rig.robot.runner.current is not None and rig.robot.runner.current.state.value == "paused"
    for _ in range(50):
        rig.tick()
    assert rig.body.velocity.is_zero and not rig.alerts()
    rig.env.release_estop(ROBOT)
    rig.tick()
    assert rig.robot.reset_estop("test")[0]
    result = rig.run_mission("security_patrol", patrol("clinical-lab"), mission_id="m2")  # queued behind m1
    assert result["outcome"] == "succeeded"
    assert next(r for r in rig.robot.runner.history if r.mission_id == "m1").outcome == "succeeded"
    assert [a["category"] for a in rig.alerts()] == ["hot_spot"]
    assert any(e.kind == ev.MISSION_RESUMED for e in rig.events)


def test_restart_mid_patrol_resumes_at_the_next_unchecked_checkpoint_without_duplicate_alerts(
    tmp_path: Path,
) -> None:
    rig = SecurityRig(tmp_path, hour=10.0, start="main-entrance")
    rig.hazard(HazardKind.HOT_SPOT, "kitchen")
    rig.robot.dispatch("security_patrol", patrol(*NEAR), mission_id="m1")
    rig.run_until(lambda: any(e.kind == ev.ALERT for e in rig.events))
    rig.run_until(lambda: rig.robot.runner.current is not None and rig.robot.runner.current.step.name == "CAPTURE")
    rig.restart()
    rig.run_until(lambda: rig.finished("m1"))
    result = next(r for r in rig.robot.runner.history if r.mission_id == "m1")
    assert result.outcome == "succeeded"
    assert result.data["checkpoints_checked"] == ["1:kitchen", "1:central-supply", "1:clinical-lab"]
    assert [a["alert_id"] for a in rig.alerts()] == ["m1.1.kitchen.hot_spot"]
    navigations = [e for e in rig.events if e.kind == ev.MISSION_STEP and e.step == "navigate"]
    assert len(navigations) == 4  # kitchen, central-supply, and central-supply again after the restart


@pytest.mark.parametrize("params", [{}, {"route": "day", "checkpoints": [{"name": "a", "place": "kitchen"}]},
                                    {"route": "weekend"}])
def test_params_need_exactly_one_known_route(tmp_path: Path, params: dict[str, object]) -> None:
    rig = SecurityRig(tmp_path)
    with pytest.raises(ValueError, match="security_patrol params invalid"):
        rig.robot.dispatch("security_patrol", params)

