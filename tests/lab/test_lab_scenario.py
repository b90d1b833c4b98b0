"""The lab robot in the simulator: its kind config, a badge-authenticated pick-up on the real
navigator, and a lab-only scenario running two simulated hours through `SimulationRun` with the
analyzers on the ASTM driver + instrument emulator (a NAKed frame, a contention, the critical K)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_rig import START_S, registry, world

from hal.clock import SimClock
from hal.drivers.astm import records
from hal.drivers.astm.analyzer_driver import AstmAnalyzer
from missions.lab.reference import Specimen
from robots.config import kind_config_path, load_robot_config
from robots.robot import Robot, RobotIdentity, build_devices
from sim.emulators import bench_for
from sim.environment import SimEnvironment
from sim.lab_samples import Handover, lab_site
from sim.patients import PatientCensus
from sim.runner import SimOptions, SimulationRun
from sim.scenario import Scenario
from telemetry.sinks import RecordingSink


def test_lab_kind_config_validates_and_builds() -> None:
    config = load_robot_config(kind_config_path("lab"))
    assert config.kind == "lab"
    assert {"lab_run", "sample_pickup"} <= set(config.capabilities)
    for name, spec in config.devices.items():
        registry().validate(spec, source=config.source, field_path=f"devices.{name}")


def _robot(tmp_path: Path, sink: Any) -> tuple[Robot, SimEnvironment, SimClock]:
    clock = SimClock(START_S)
    env = SimEnvironment(world(), PatientCensus(5, world().beds(), START_S, deteriorating_fraction=0.0), clock, 5)
    body = env.add_robot("lab-1", "clinical-lab")
    config = load_robot_config(kind_config_path("lab"))
    devices = build_devices(config, registry(), clock, "lab-1", {"sim_env": env, "sim_body": body})
    robot = Robot(RobotIdentity("lab-1", "general-hospital", "dock-lab"), config, devices, clock,
                  site_map=world(), telemetry=sink, journal_dir=tmp_path)
    robot.setup()
    return robot, env, clock


def test_pickup_logs_the_handover_with_the_nurse_badge_and_delivers_to_the_input_rack(tmp_path: Path) -> None:
    sink = RecordingSink("general-hospital", "lab-1")  # validates every message against the schemas
    robot, env, clock = _robot(tmp_path, sink)
    site = lab_site(env)
    patients = [p.patient_ref for p in env.census.patients() if p.ward == "ward-b"][:2]
    tubes = [site.new_tube(patients[0], Specimen.SERUM), site.new_tube(patients[1], Specimen.SERUM)]
    site.pending["ward-b-nurse-station"] = [Handover("ward-b-nurse-station", tubes, [])]
    events: list[Any] = []
    robot.add_listener(events.append)
    expected = [str(t.sample_id) for t in tubes]
    robot.dispatch("sample_pickup", {"station": "ward-b-nurse-station", "expected_samples": expected},
                   mission_id="pickup-1")
    for _ in range(30000):
        if robot.runner.history:
            break
        clock.advance(0.1)
        robot.step(clock.now_s())
        env.step(0.1)
    result = robot.runner.history[-1]
    assert result.outcome == "succeeded", result.reason
    handover = next(e for e in events if e.kind == "mission.step" and e.step == "handover").data
    badge: Any = next(d for d in robot.devices if d.kind == "badge_reader")
    assert badge.requests and badge.requests[0][0] == "nurse"
    assert handover["station"] == "ward-b-nurse-station" and handover["staff_ref"].startswith("st-")
    assert handover["role"] == "nurse" and handover["sample_ids"] == sorted(expected)
    assert handover["missing"] == [] and handover["unexpected"] == []
    tube_handler: Any = next(d for d in robot.devices if d.kind == "tube_handler")
    assert tube_handler.handovers[0][1] == handover["staff_ref"]  # the carrier opened only for that nurse
    cell = site.cell("lab-1")
    assert sorted(str(t.sample_id) for t in cell.tubes_in("input")) == sorted(expected)
    assert cell.tubes_in("carrier") == []
    assert any(r.envelope["body"].get("step") == "handover" for r in sink.records)  # schema-valid on the wire


@pytest.fixture(scope="module")
def lab_morning() -> Iterator[tuple[SimulationRun, dict[str, Any]]]:
    """Two simulated hours of the lab robot alone, its analyzers on the ASTM driver + emulator
    (the lab kind's default), run once for the tests below."""
    scenario = Scenario.model_validate({
        "name": "lab-morning", "start_time": "07:00", "hours": 2, "tick_s": 0.5,
        "patients": {"deteriorating_fraction": 0.0},
        "robots": [{"id": "lab-1", "kind": "lab", "dock": "dock-lab", "serves": "clinical-lab"}],
        "fleet": {"demand": {"lab_pickups": {"pickup_interval_h": 1.0, "first_pickup_min": 2,
                                             "stations": ["ward-b-nurse-station"]}}},
        "hospital": {"lab": {"collection_interval_h": 1.0, "first_collection_min": 2, "samples_per_station": 3,
                             "stations": ["ward-b-nurse-station"],
                             "qc_failure": {"at": "08:00", "duration_min": 60}}},
    })
    run = SimulationRun(scenario, SimOptions(broker=None, progress=False))
    summary = run.run()
    yield run, summary
    bench_for(run.env).close()


def test_lab_only_scenario_runs_two_simulated_hours(lab_morning: tuple[SimulationRun, dict[str, Any]]) -> None:
    _run, summary = lab_morning
    lab = summary["fleet"]["sources"]["lab_pickups"]
    assert lab["pickups_done"] >= 1 and lab["batches"] >= 1, lab
    assert lab["batches_done"] >= 1 and lab["samples_reported"] >= 1, lab
    assert lab["critical_alerts"] == 1, lab  # the seeded K 6.8 mmol/L
    assert summary["hospital"]["lab"]["critical_alerts"] == 1, summary["hospital"]["lab"]
    assert lab["samples_rejected"] >= 2, lab  # the smudged label and the tube without an order
    assert lab["batches_held"] == 1 and lab["qc_failures"] == 1, lab


def _frames(data: bytes) -> list[bytes]:
    return re.findall(rb"\x02[0-7][^\x02]*?[\x03\x17][0-9A-F]{2}\r\n", data, flags=re.DOTALL)


def test_lab_scenario_results_travel_the_astm_link_through_a_nak_and_a_contention(
    lab_morning: tuple[SimulationRun, dict[str, Any]],
) -> None:
    run, summary = lab_morning
    robot = run.robots["lab-1"]
    chem = next(d for d in robot.devices if d.name == "chem")
    haem = next(d for d in robot.devices if d.name == "haem")
    assert isinstance(chem, AstmAnalyzer) and isinstance(haem, AstmAnalyzer)  # the kind's default
    emulator = bench_for(run.env).emulator("lab-1", "chem")
    # a frame NAKed by the instrument and sent again, byte for byte, by the driver
    assert emulator.link.naks_sent >= 1 and chem.link.naks_received >= 1
    frames = _frames(bytes(emulator.bytes_from_host))
    assert any(a == b for a, b in itertools.pairwise(frames))
    # both sides called at once: the instrument won, the host waited and answered its ENQ
    assert chem.link.contentions >= 1 and emulator.link.contentions >= 1
    # every sample the robot reported was ordered over the link
    ordered = {sample for name in ("chem", "haem") for sample, _tests in
               bench_for(run.env).emulator("lab-1", name).orders_received if sample.startswith("smp-")}
    assert len(ordered) >= summary["fleet"]["sources"]["lab_pickups"]["samples_reported"] >= 1
    critical = [a for a in summary["alerts"] if a["category"] == "lab.critical"]
    assert len(critical) == 1, critical
    sent = [r for r in emulator.results_sent if records.result_fields(r).abnormal_flags == "HH"]
    assert [records.result_fields(r).test_code for r in sent] == ["K"]  # the seeded K 6.8, flagged HH
    value = records.result_fields(sent[0]).value
    assert 6.4 < float(value) < 7.2
    assert f"K {value} mmol/L" in critical[0]["summary"]  # the alert carries the value the link delivered
