"""An epi-only scenario runs two simulated hours through the real simulation runner."""

from __future__ import annotations

from pathlib import Path

import yaml

from sim.runner import SimOptions, SimulationRun
from sim.scenario import load_scenario


def test_two_hours_of_surveys_through_the_simulation_runner(tmp_path: Path) -> None:
    path = tmp_path / "epi-only.yaml"
    path.write_text(yaml.safe_dump({
        "name": "epi-only", "description": "survey robot alone in the isolation ward", "world": "default_hospital",
        "site": "test-site", "start_time": "07:00", "hours": 2, "tick_s": 0.5,
        "fleet": {"demand": {"epi_cases": {"zone": "isolation"}}},
        "hospital": {"epi": {"cases": 2, "refusals": 1, "first_report_h": 0.1, "report_interval_h": 0.5,
                             "notice_delay_min": [5, 10]}},
        "robots": [{"id": "epi-1", "kind": "epi_survey", "dock": "dock-isolation", "serves": "isolation"}],
    }))
    summary = SimulationRun(load_scenario(str(path)), SimOptions(broker=None, progress=False)).run()
    epi = summary["fleet"]["sources"]["epi_cases"]
    cases = epi["cases"]
    assert len(cases) == 2 and all(c["task_id"] for c in cases), epi  # each case became a survey task
    assert epi["surveys"] == 2 and epi["unplaceable"] == 0, epi
    assert sorted(str(c["reason"]) for c in cases) == ["None", "consent refused"], cases
    assert epi["reports_filed"] == 2 and epi["within_deadline"] == 2, epi
    assert all(0 < c["hours_report_to_complete"] < 2 for c in cases), cases
    # the hospital's side measures the same rule from what the robot did
    hospital = summary["hospital"]["epi"]
    assert all(c["noticed"] for c in hospital["cases"]), hospital
    assert sorted(str(c["reason"]) for c in hospital["cases"]) == ["None", "consent refused"], hospital
    assert hospital["reports_filed"] == 2 and hospital["within_24_h"] == 2, hospital
    assert all(0 < c["hours_report_to_filed"] < 2 for c in hospital["cases"]), hospital
