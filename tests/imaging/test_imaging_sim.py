"""The imaging robot in the simulator: its config validates, and an imaging-only scenario runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from missions.catalog import default_catalog
from missions.imaging.worklist import FileWorklist
from robots.config import kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from sim.hospital.imaging import WORKLISTS_DIR
from sim.runner import SimOptions, SimulationRun
from sim.scenario import Scenario, load_scenario


def test_imaging_robot_config_validates() -> None:
    config = load_robot_config(kind_config_path("imaging"))
    registry = load_device_registry()
    for name, spec in config.devices.items():
        registry.validate(spec, source=config.source, field_path=f"devices.{name}")
    catalog = default_catalog()
    for kind in config.capabilities:
        assert catalog.get(kind) is not None
    assert {"xray", "room_interlocks", "ultrasound", "dosimeter", "tag_reader"} <= {
        spec["kind"] for spec in config.devices.values()
    }


def test_day_worklist_and_hospital_day_placement() -> None:
    items = FileWorklist.load(WORKLISTS_DIR / "imaging-day.yaml").scheduled()
    assert 20 <= len(items) <= 30 and {i.modality for i in items} == {"DX", "US"}
    scenario = load_scenario("hospital-day")
    robot = next(r for r in scenario.robots if r.id == "imaging-1")
    assert (robot.kind, robot.dock, robot.serves) == ("imaging", "dock-radiology", "radiology")
    assert scenario.hospital["imaging"]["equipment_fault"]["at"]
    assert "radiology_worklist" in scenario.fleet["demand"]


def test_imaging_only_scenario_runs_two_hours(tmp_path: Path) -> None:
    scenario = Scenario.model_validate({
        "name": "imaging-only", "start_time": "07:00", "hours": 2, "tick_s": 0.2,
        "robots": [{"id": "imaging-1", "kind": "imaging", "dock": "dock-radiology", "serves": "radiology"}],
        "fleet": {"demand": {"radiology_worklist": {"on_equipment_fault": "continue"}}},
        "hospital": {"imaging": {"worklist": "imaging-day", "repair_after_min": 30,
                                 "equipment_fault": {"at": "08:40", "reason": "tube overheating",
                                                     "duration_min": 30}}},
    })
    run = SimulationRun(scenario, SimOptions(broker=None, progress=False, journal_dir=tmp_path))
    events: list[Any] = []
    original = run._on_event

    def listen(event: object) -> None:
        events.append(event)
        original(event)

    run._on_event = listen  # type: ignore[method-assign]
    summary = run.run()
    desk = summary["fleet"]["sources"]["radiology_worklist"]
    radiology = summary["hospital"]["imaging"]
    assert desk["exams_submitted"] == 3, desk  # 07:15, 08:05, 08:55 fall in the first two hours
    assert radiology["patients_called"] == 3, radiology
    assert radiology["outcomes"].get("COMPLETED", 0) == 2, radiology
    assert radiology["outcomes"].get("DISCONTINUED", 0) == 1, radiology  # the X-ray exam after the tube fault
    assert desk["outcomes"] == radiology["outcomes"], (desk, radiology)
    alerts = [e for e in events if getattr(e, "kind", "") == "alert"]
    assert [a.data["category"] for a in alerts] == ["maintenance"]
    studies = [e.data["observations"] for e in events if getattr(e, "kind", "") == "clinical.record"]
    assert sorted(s["accession_number"] for s in studies) == ["RAD-0001", "RAD-0002", "RAD-0003"]
    assert all(s["dap_mgy_cm2"] == 0 for s in studies if s["modality"] == "US")
