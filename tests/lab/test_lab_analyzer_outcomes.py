"""What the lab run makes of an analyzer that answers badly, on the lab kind's own analyzers (the
ASTM driver on its instrument emulator over a pty): an instrument that never reports, and orders
it marks "cannot be done" (X). The run must tell the technician the truth, in its result and its
alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab_rig import START_S, LabRig, devices_for, make_lab_rig, order, patient_ref, run_params

from hal.analyzer import AnalyzerResult, AnalyzerRun, NotDone
from missions import events as ev
from missions.base import MissionRequest
from missions.lab.orders import LabOrder
from missions.lab.qc import ControlTarget, evaluate_westgard, observations_from_run, qc_run_entry
from missions.lab.reference import Specimen
from missions.lab.report import sample_outcome


def rig_with_chem(tmp_path: Path, **chem: Any) -> LabRig:
    devices = devices_for("astm-emulated")
    spec = dict(devices["chem"])
    spec["emulator"] = {**spec.get("emulator", {}), **chem.pop("emulator", {})}
    devices["chem"] = spec | chem
    return make_lab_rig(tmp_path, devices=devices)


def chem_tube(rig: LabRig) -> list[dict[str, Any]]:
    p1 = patient_ref(rig, 0)
    rig.load_tube(rig.site.new_tube(p1, Specimen.SERUM, sample_id="smp-000101"))
    return [order("smp-000101", p1, ("GLU", "K", "NA", "CREA"))]


def start_and_finish(rig: LabRig, orders: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    rig.runner.submit(MissionRequest("lab_run", run_params(orders, **extra), mission_id="run-1"))
    rig.run_until(rig.idle, max_ticks=8000)
    result = rig.runner.history[-1]
    return {"outcome": result.outcome, "reason": result.reason, **result.data}


def test_an_instrument_that_never_reports_fails_the_run_with_the_reason_and_a_high_alert(tmp_path: Path) -> None:
    rig = rig_with_chem(tmp_path, emulator={"no_results": True})
    result = start_and_finish(rig, chem_tube(rig), analyzer_attempts=2, analyzer_retry_wait_s=10)
    assert result["outcome"] == "failed"  # not "succeeded, everything missing"
    assert result["reason"] == ("analyzer chem: analyzer SIM-CHEM-1 sent no results for run 2 (QC-CHEM-1, QC-CHEM-2) "
                                "within 600 s (it took the orders) (after 2 attempts)")
    assert rig.kinds(ev.CLINICAL_RECORD) == []  # nothing released
    fault = rig.alerts("lab.device")[0].data
    assert fault["severity"] == "high" and "sent no results for run 2" in fault["summary"]
    assert "manual handling" in fault["summary"]


def test_an_order_the_analyzer_cannot_do_is_reported_at_once_with_its_reason(tmp_path: Path) -> None:
    # a run timeout far beyond the run: the sample must not wait for it
    rig = rig_with_chem(tmp_path, run_timeout_s=5000,
                        emulator={"reject_samples": {"smp-000101": "sample volume too low"}})
    result = start_and_finish(rig, chem_tube(rig), analyzer_timeout_s=6000)
    assert result["outcome"] == "succeeded", result
    assert rig.clock.now_s() - START_S < 1000.0  # QC and the run, not 5000 s of waiting
    (record,) = [e.data for e in rig.kinds(ev.CLINICAL_RECORD)]
    observations = record["observations"]
    assert observations["complete"] is False
    assert observations["incomplete_reason"] == "; ".join(
        f"{code} not done by the analyzer: sample volume too low" for code in ("GLU", "K", "NA", "CREA"))
    (alert,) = rig.alerts("lab.result")
    assert alert.data["severity"] == "medium"
    assert "not done by the analyzer: sample volume too low" in (alert.reason or "")
    assert len(rig.site.cell("lab-1").tubes_in("hold")) == 1  # kept for manual review, not discarded


def test_a_control_the_analyzer_cannot_do_holds_the_run_and_says_why(tmp_path: Path) -> None:
    rig = rig_with_chem(tmp_path, emulator={"reject_tests": {"K": "reagent K empty"}})
    result = start_and_finish(rig, chem_tube(rig))
    assert result["outcome"] == "failed"
    assert "K missing: QC-CHEM-1 not done by the analyzer: reagent K empty" in result["reason"]
    assert rig.kinds(ev.CLINICAL_RECORD) == []


def _result(sample: str, code: str, value: str, status: str = "F", flags: str = "") -> AnalyzerResult:
    return AnalyzerResult(sample, code, value, "mmol/L", "", flags, status, "chem-1", 0.0)


def test_sample_outcome_names_each_not_done_test_with_the_analyzers_reason() -> None:
    lab_order = LabOrder.model_validate(order("smp-000101", "pt-000001", ("K", "NA", "GLU", "CREA")))
    run = AnalyzerRun((_result("smp-000101", "GLU", "5.0"),), (("smp-000101", "CREA"),),
                      (NotDone("smp-000101", "K", "instrument flag A", "chem-1", 0.0),
                       NotDone("smp-000101", "NA", "", "chem-1", 0.0),
                       NotDone("smp-000999", "GLU", "another tube's reason", "chem-1", 0.0)))
    outcome = sample_outcome("r-1", lab_order, "chem", run.results, ["CREA"], None, "2026-01-05T07:00:00Z",
                             not_done=run.not_done_reasons("smp-000101"))
    observations = outcome["record"]["observations"]
    assert observations["incomplete_reason"] == (
        "K not done by the analyzer: instrument flag A; NA not done by the analyzer: no reason given; "
        "CREA not reported by the analyzer")
    assert observations["glu_mmol_per_l"] == 5.0 and observations["complete"] is False
    assert outcome["keep_tube"] is True


def test_westgard_counts_a_control_not_done_as_missing_with_the_reason() -> None:
    target = {"K": ControlTarget(4.0, 0.1), "NA": ControlTarget(140.0, 2.0)}
    run = AnalyzerRun((_result("QC-1", "NA", "140.5"),), (),
                      (NotDone("QC-1", "K", "reagent K empty", "chem-1", 0.0, is_qc=True),))
    decision = evaluate_westgard(observations_from_run(run, {"QC-1": target}))
    assert not decision.accepted and decision.reason() == "K missing: QC-1 not done by the analyzer: reagent K empty"
    entry = qc_run_entry(run, {"QC-1": target})  # what the lab run journals
    assert entry["accepted"] is False and entry["reason"] == decision.reason()
    assert entry["z_scores"] == {"K": {"QC-1": None}, "NA": {"QC-1": 0.25}}
