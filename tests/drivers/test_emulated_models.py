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
from missions.lab.reference import Specimen
from sim.devices import register as register_sim
from sim.emulators import attach, bench_for, register
from sim.environment import SimEnvironment
from sim.lab_samples import CalibrationShift, Tube, lab_site
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


Row = tuple[str, str, str, str, str, str, bool]
NotDoneRow = tuple[str, str, str, bool]


def run_lab(tmp_path: Path, model: str) -> tuple[list[Row], list[tuple[str, str]], list[NotDoneRow], Any]:
    """One batch on the lab site's tubes: a spun serum tube (with a seeded critical K), an unspun
    one, a control, a calibration drift on NA and a sample that is not in the rack."""
    sim = Sim(tmp_path)
    spec: dict[str, Any] = {"kind": "analyzer", "model": model, "instrument": "chem-1",
                            "tests": ["GLU", "K", "NA", "CREA"]}
    if model == "astm-emulated":
        spec |= {"run_timeout_s": 600, "emulator": {"result_delay_s": 60, "nak_frames": 1, "contentions": 1}}
    else:
        spec["seconds_per_sample"] = 60
    analyzer = sim.build("chem", spec)
    site = lab_site(sim.env)
    cell = site.cell("lab-1", {"chem": 4})
    ref = sim.census.patients()[0].patient_ref
    site.seed_value(ref, "K", 6.8)
    site.shifts.append(CalibrationShift("lab-1", "chem", "NA", 0.05, 0.0, float("inf")))
    spun = site.new_tube(ref, Specimen.SERUM, sample_id="smp-000001")
    spun.centrifuged = True
    cell.put("chem:1", spun)
    cell.put("chem:2", site.new_tube(ref, Specimen.SERUM, sample_id="smp-000002"))
    cell.put("chem:3", Tube(None, Specimen.SERUM, "QC-CHEM-1", None, centrifuged=True))
    handle = analyzer.start_run([
        AnalyzerOrder("QC-CHEM-1", "", ("GLU", "K"), is_qc=True),
        AnalyzerOrder("smp-000001", ref, ("GLU", "K", "NA")),
        AnalyzerOrder("smp-000002", ref, ("K",)),
        AnalyzerOrder("smp-000009", ref, ("CREA",)),  # ordered, never loaded
    ])
    assert sim.run(handle) is HandleStatus.SUCCEEDED
    result = handle.result
    assert result is not None
    rows = [(r.sample_id, r.test_code, r.value, r.units, r.reference_range, r.abnormal_flags, r.is_qc)
            for r in result.results]
    not_done = [(n.sample_id, n.test_code, n.reason, n.is_qc) for n in result.not_done]
    sim.close()
    return rows, list(result.missing), not_done, analyzer


def test_astm_emulated_answers_exactly_what_the_simulated_analyzer_answers(tmp_path: Path) -> None:
    emulated, missing, not_done, driver = run_lab(tmp_path / "astm", "astm-emulated")
    assert isinstance(driver, AstmAnalyzer)
    assert driver.link.naks_received == 1 and driver.link.contentions == 1  # through the faults
    simulated, sim_missing, sim_not_done, _ = run_lab(tmp_path / "sim", "sim")
    assert emulated == simulated  # same tubes, same seed: the same values, units, ranges and flags
    # the tube that is not in the rack: not done, with the same reason, on both backends (over ASTM
    # the instrument marks its order X with a comment; the simulated backend answers it directly)
    assert not_done == sim_not_done == [("smp-000009", "CREA", "no sample in rack", False)]
    assert missing == sim_missing == []
    by_test = {(r[0], r[1]): r for r in emulated}
    assert by_test[("smp-000001", "K")][5] == "HH" and 6.4 < float(by_test[("smp-000001", "K")][2]) < 7.2
    assert by_test[("smp-000002", "K")][2:6:3] == ("CLOT", "A")  # never centrifuged
    assert by_test[("QC-CHEM-1", "K")][6] is True and by_test[("QC-CHEM-1", "K")][5] == ""
    assert abs(float(by_test[("QC-CHEM-1", "K")][2]) - 4.0) < 0.2  # the control's assigned mean


def test_astm_emulated_model_is_deterministic(tmp_path: Path) -> None:
    assert run_lab(tmp_path / "a", "astm-emulated")[:3] == run_lab(tmp_path / "b", "astm-emulated")[:3]


def test_astm_emulated_instrument_down_fails_the_run_after_the_send_attempts(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    analyzer = sim.build("chem", {"kind": "analyzer", "model": "astm-emulated", "tests": ["K"]})
    sim.env.inject_fault("lab-1", "chem", "link down")
    handle = analyzer.start_run([AnalyzerOrder("smp-000001", "pt-000001", ("K",))])
    assert sim.run(handle) is HandleStatus.FAILED
    assert handle.error is not None and "3 attempts" in handle.error
    sim.close()


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
