"""A building fire alarm clears the corridors: every robot parks at a safe spot and holds; the
interrupted rounds resume afterwards without repeating a bed."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from sim.runner import SimOptions, SimulationRun
from sim.scenario import SCENARIOS_DIR, load_scenario


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
