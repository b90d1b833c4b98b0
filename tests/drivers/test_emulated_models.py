"""Driver + emulator as device models of a simulated robot: `attach()` and the `*-emulated`
models built through the registry, in a tiny world with patients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hal.analyzer import AnalyzerOrder
from hal.clock import SimClock
from hal.drivers import register as register_drivers
from hal.drivers.astm.analyzer_driver import AstmAnalyzer
from hal.drivers.roboclaw import RoboClawDriveBase
from hal.geometry import Twist2D
from hal.handle import Handle, HandleStatus
from hal.registry import BuildContext, DeviceRegistry
from sim.devices import register as register_sim
from sim.emulators import attach, bench_for, register
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.world import load_world

START_S = 1767596400.0
WORLD = {
    "name": "Emulator test ward",
    "walls": [{"points": [[0, 0], [10, 0], [10, 6], [0, 6]], "closed": True}],
    "zones": [{"name": "ward-x", "tag": "ward", "rect": [0.2, 0.2, 9.8, 5.8], "speed_limit_mps": 0.6}],
    "places": [
        {"name": "dock-1", "x": 1.5, "y": 1.5, "yaw_deg": 0, "kind": "dock"},
        {"name": "bed-1", "x": 8, "y": 4.5, "yaw_deg": 90, "kind": "bed", "ward": "ward-x", "bed_id": "X-01"},
    ],
    "routes": {"waypoints": [{"name": "w", "x": 5, "y": 3}], "edges": [["dock-1", "w"], ["w", "bed-1"]]},
}


class Sim:
    def __init__(self, tmp_path: Path, seed: int = 3) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        path = tmp_path / "world.yaml"
        path.write_text(yaml.safe_dump(WORLD), encoding="utf-8")
        self.world = load_world(path)
        self.clock = SimClock(START_S)
        self.census = PatientCensus(seed, self.world.beds(), START_S)
        self.env = SimEnvironment(self.world, self.census, self.clock, seed)
        self.body = self.env.add_robot("lab-1", "dock-1")
        self.registry = DeviceRegistry()
        register_sim(self.registry)
        register_drivers(self.registry)
        register(self.registry)
        self.ctx = BuildContext(self.clock, "lab-1", extras={"sim_env": self.env, "sim_body": self.body})

    def build(self, name: str, spec: dict[str, Any]) -> Any:
        device = self.registry.build(name, spec, self.ctx, source="lab.yaml", field_path=f"devices.{name}")
        device.setup()
        return device

    def run(self, handle: Handle[Any, str], max_s: float = 900.0, dt_s: float = 0.5) -> HandleStatus:
        end = self.clock.now_s() + max_s
        while not handle.poll().done and self.clock.now_s() < end:
            self.clock.advance(dt_s)
            self.env.step(dt_s)
        return handle.poll()

    def close(self) -> None:
        bench_for(self.env).close()


def test_attach_returns_a_port_and_refuses_duplicates_and_unknown_kinds(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    url = attach(sim.env, "lab-1", "analyzer", "analyzer")
    assert Path(url).exists() and Path(url).resolve().as_posix().startswith("/dev/pts/")
    with pytest.raises(ValueError, match="already attached"):
        attach(sim.env, "lab-1", "analyzer", "analyzer")
    with pytest.raises(ValueError, match="no emulator"):
        attach(sim.env, "lab-1", "x", "speaker")
    sim.close()
    assert not Path(url).exists()


def run_lab(tmp_path: Path) -> list[tuple[str, str, str, str]]:
    sim = Sim(tmp_path)
    analyzer = sim.build("analyzer", {
        "kind": "analyzer", "model": "astm-emulated", "instrument": "chem-1",
        "emulator": {"result_delay_s": 60, "nak_frames": 1, "contentions": 1, "critical": {"K": "HH"}},
    })
    assert isinstance(analyzer, AstmAnalyzer)
    ref = sim.census.patients()[0].patient_ref
    handle = analyzer.start_run([AnalyzerOrder("S-1", ref, ("GLU", "K")), AnalyzerOrder("S-2", ref, ("NA",))])
    assert sim.run(handle) is HandleStatus.SUCCEEDED
    assert analyzer.link.naks_received == 1 and analyzer.link.contentions == 1
    truth = sim.census.patients()[0].vitals_at(sim.clock.now_s()).glucose_mmol_per_l
    result = handle.result
    assert result is not None
    glucose = next(r for r in result.results if r.test_code == "GLU")
    assert glucose.numeric_value() == pytest.approx(truth, abs=1.0)  # the simulated patient's glucose
    sim.close()
    return [(r.sample_id, r.test_code, r.value, r.abnormal_flags) for r in result.results]


def test_astm_emulated_model_runs_the_lab_end_to_end_deterministically(tmp_path: Path) -> None:
    first = run_lab(tmp_path / "a")
    assert ("S-1", "K") in [(s, t) for s, t, _, flag in first if flag == "HH"]
    assert run_lab(tmp_path / "b") == first


def test_roboclaw_emulated_drive_base_moves_the_body(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    base = sim.build("base", {"kind": "drive_base", "model": "roboclaw-emulated", "wheel_radius_m": 0.1})
    assert isinstance(base, RoboClawDriveBase)
    start = sim.body.pose
    for _ in range(30):
        base.command_velocity(Twist2D(0.4, 0.0))
        base.odometry()
        sim.clock.advance(0.1)
        sim.env.step(0.1)
    moved = sim.body.pose.distance_to_m(start)
    assert moved > 0.5
    assert base.odometry().distance_travelled_m == pytest.approx(moved, abs=0.05)
    sim.close()


@pytest.mark.parametrize(("kind", "model"), [("thermometer", "serial-emulated"), ("pulse_oximeter", "nonin-emulated"),
                                             ("blood_pressure", "serial-emulated")])
def test_vitals_emulated_models_measure_the_faced_patient(tmp_path: Path, kind: str, model: str) -> None:
    sim = Sim(tmp_path)
    device = sim.build(kind, {"kind": kind, "model": model})
    sim.body.pose = sim.world.places["bed-1"].pose
    handle = device.start_measurement()
    assert sim.run(handle, max_s=120.0, dt_s=0.2) is HandleStatus.SUCCEEDED
    truth = sim.census.patient_at_bed("X-01").vitals_at(sim.clock.now_s())
    reading = handle.result
    if kind == "thermometer":
        assert reading.temperature_c == pytest.approx(truth.temperature_c, abs=0.5)
    elif kind == "pulse_oximeter":
        assert reading.spo2_percent == pytest.approx(truth.spo2_percent, abs=2)
    else:
        assert reading.systolic_mmhg == pytest.approx(truth.systolic_bp_mmhg, abs=12)
    sim.body.pose = sim.world.places["dock-1"].pose  # nobody in front: a clean failure
    handle = device.start_measurement()
    assert sim.run(handle, max_s=120.0, dt_s=0.2) is HandleStatus.FAILED
    sim.close()
