"""A building fire alarm clears the corridors: every robot parks at a safe spot and holds; the
interrupted rounds resume afterwards without repeating a bed."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from sim.runner import SimOptions, SimulationRun
from sim.scenario import SCENARIOS_DIR, WORLDS_DIR, load_scenario
from sim.world import load_world
from tests.sim.lift_rig import LiftRig


def test_fire_alarm_parks_every_robot_then_work_resumes(tmp_path: Path):
    data = yaml.safe_load((SCENARIOS_DIR / "hospital-day.yaml").read_text())
    data["robots"] = [r for r in data["robots"] if r["kind"] == "nursing"]
    # the nursing work only: the ward sources of the fleet and the wards' information systems
    data["fleet"]["demand"] = {k: v for k, v in data["fleet"]["demand"].items() if k in ("ward_chart", "care_rounds")}
    data["hospital"] = {"nursing": data["hospital"]["nursing"]}
    data["world"] = str(SCENARIOS_DIR.parent / "worlds" / "default_hospital.yaml")
    data["building"] = {"fire_alarms": [{"at": "07:10", "duration_min": 10}]}
    path = tmp_path / "drill.yaml"
    path.write_text(yaml.safe_dump(data))
    report = tmp_path / "report"
    summary = SimulationRun(load_scenario(str(path)), SimOptions(hours=0.5, broker=None, report_dir=report,
                                                                 progress=False)).run()
    alarms = summary["building_alarms"]
    assert len(alarms) == 1
    assert alarms[0]["from"].endswith("07:10:00.000Z") and alarms[0]["to"].endswith("07:20:00.000Z")
    assert alarms[0]["parked"] == alarms[0]["robots"] == 3
    assert alarms[0]["slowest_to_park_s"] < 600

    events = [json.loads(line) for line in (report / "events.jsonl").read_text().splitlines()]
    parks = [e for e in events if e["mission_kind"] == "park"]
    assert {e["robot"] for e in parks if e["event"] == "mission.succeeded"} == {"nurse-a", "nurse-b", "nurse-iso"}
    # nothing else ran while the alarm was on: no bed measured between 07:10 and the all-clear
    during = [e for e in events if e["event"] == "clinical.record" and "07:10:00" < e["t"][11:19] < "07:20:00"]
    assert during == []
    requeued = [e for e in events if e["event"] == "mission.requeued" and "fire alarm" in (e["reason"] or "")]
    assert requeued  # the rounds were interrupted, not lost ...
    for robot in summary["robots"].values():
        assert robot["missions_failed"] == 0, robot["failures"]
    by_bed = summary["patients"]["observation_sets_by_bed"]
    assert by_bed  # ... and completed afterwards, without a bed measured twice by the same round
    first_rounds = {f"round-{ward}-20260105-0700" for ward in ("ward-a", "ward-b", "isolation")}
    rounds = [e for e in events if e["event"] == "clinical.record" and e["task"] in first_rounds]
    assert rounds
    for task in first_rounds:
        beds = [e["data"]["bed_ref"] for e in rounds if e["task"] == task]
        assert len(beds) == len(set(beds)), (task, beds)


def _rig(tmp_path: Path) -> LiftRig:
    return LiftRig(load_world(WORLDS_DIR / "default_hospital.yaml"), {"r1": "dock-logistics-1"}, tmp_path)


def _distance_m(rig: LiftRig, robot_id: str, place: str) -> float:
    pose, spot = rig.env.body(robot_id).pose, rig.world.places[place]
    return float(((pose.x_m - spot.x_m) ** 2 + (pose.y_m - spot.y_m) ** 2) ** 0.5)


def test_an_idle_robot_parked_on_another_dock_drives_home_when_the_alarm_clears(tmp_path: Path) -> None:
    # left on the other dock, it would keep that dock's robot waiting outside at the end of its next
    # mission (the 24 h day had one waiting 30 min for its own dock)
    rig = _rig(tmp_path)
    robot = rig.robots["r1"]
    robot.set_building_alarm(True, park_at="dock-logistics-2")
    rig.tick()
    park = robot.runner.current
    assert park is not None and park.kind == "park"
    rig.run_until(lambda: park.step.value == "hold", max_s=300)
    assert _distance_m(rig, "r1", "dock-logistics-2") < 0.5
    robot.set_building_alarm(False)
    rig.run_until(lambda: park.finished, max_s=300)
    assert park.result is not None and park.result.outcome == "succeeded", park.result
    assert park.result.data["parked_at"] == "dock-logistics-1"
    assert _distance_m(rig, "r1", "dock-logistics-1") < 0.5


def test_a_robot_with_work_to_resume_does_not_detour_home_after_the_alarm(tmp_path: Path) -> None:
    rig = _rig(tmp_path)
    robot = rig.robots["r1"]
    robot.return_to_dock()  # the work it was doing when the alarm rang
    rig.tick()
    robot.set_building_alarm(True, park_at="dock-logistics-2")
    rig.tick()
    park = robot.runner.current
    assert park is not None and park.kind == "park"
    rig.run_until(lambda: park.step.value == "hold", max_s=300)
    robot.set_building_alarm(False)
    rig.run_until(lambda: park.finished, max_s=300)
    assert park.result is not None and park.result.data["parked_at"] == "dock-logistics-2"
    rig.tick()
    resumed = robot.runner.current
    assert resumed is not None and resumed.kind == "return_to_dock"  # it resumes at once, from the spot
