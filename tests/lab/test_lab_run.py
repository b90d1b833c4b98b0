"""The lab run on simulated devices: sorting by label, centrifuge, QC, validation, reporting. The
tests that turn on what the analyzers answer run on both analyzer backends (simulated, and the
ASTM driver on its emulator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lab_rig import ANALYZER_BACKENDS, LabRig, make_lab_rig, order, patient_ref, run_params

from missions import events as ev
from missions.base import MissionRequest
from missions.lab.reference import Specimen


def start(rig: LabRig, orders: list[dict[str, Any]], **extra: Any) -> str:
    return rig.runner.submit(MissionRequest("lab_run", run_params(orders, **extra), mission_id="run-1"))


def finish(rig: LabRig) -> dict[str, Any]:
    rig.run_until(rig.idle)
    result = rig.runner.history[-1]
    return {"outcome": result.outcome, "reason": result.reason, **result.data}


def two_tubes(rig: LabRig) -> list[dict[str, Any]]:
    """A serum chemistry tube and an EDTA haematology tube, both ordered."""
    p1, p2 = patient_ref(rig, 0), patient_ref(rig, 1)
    rig.load_tube(rig.site.new_tube(p1, Specimen.SERUM, sample_id="smp-000101"))
    rig.load_tube(rig.site.new_tube(p2, Specimen.WHOLE_BLOOD, sample_id="smp-000102"))
    return [order("smp-000101", p1, ("GLU", "K", "NA", "CREA")),
            order("smp-000102", p2, ("HB", "WBC", "PLT"), specimen="whole_blood")]


@pytest.mark.parametrize("analyzers", ANALYZER_BACKENDS)
def test_success_path_reports_each_sample_and_discards_the_tubes(tmp_path: Path, analyzers: str) -> None:
    rig = make_lab_rig(tmp_path, analyzers=analyzers)
    start(rig, two_tubes(rig))
    result = finish(rig)
    assert result["outcome"] == "succeeded", result
    assert result["samples_reported"] == ["smp-000101", "smp-000102"]
    assert result["qc"] == {"chem": {"accepted": True, "reason": None}, "haem": {"accepted": True, "reason": None}}
    records = [e.data for e in rig.kinds(ev.CLINICAL_RECORD)]
    assert [r["record_type"] for r in records] == ["lab_result", "lab_result"]
    chem = next(r for r in records if r["observations"]["sample_id"] == "smp-000101")
    assert set(chem) == {"record_id", "record_type", "patient_ref", "bed_ref", "observations", "news2"}
    assert chem["patient_ref"] == patient_ref(rig, 0)
    assert chem["observations"]["complete"] is True
    assert isinstance(chem["observations"]["k_mmol_per_l"], float) and chem["observations"]["k_flag"] in "NLH"
    cell = rig.site.cell("lab-1")
    assert cell.tubes_in("input") == [] and len(cell.tubes_in("waste")) == 2
    assert len(cell.tubes_in("qc")) == 4 and len(cell.tubes_in("balance")) == 1  # controls and balance home
    assert cell.gripper is None


def test_unreadable_label_is_reread_then_rejected_to_manual_handling(tmp_path: Path) -> None:
    rig = make_lab_rig(tmp_path)
    orders = two_tubes(rig)
    damaged = rig.site.new_tube(patient_ref(rig, 2), Specimen.SERUM, sample_id="smp-000103", label_damaged=True)
    slot = rig.load_tube(damaged)
    orders.append(order("smp-000103", patient_ref(rig, 2), ("K",)))
    start(rig, orders, label_reads=3)
    result = finish(rig)
    assert result["outcome"] == "succeeded"
    assert result["samples_rejected"] == [{"slot": slot, "label": None, "reason": "label unreadable after 3 reads"}]
    assert "smp-000103" not in result["samples_reported"]  # never guessed from the order book
    assert rig.device("label_camera").frames_rendered >= 3 + 2
    assert rig.site.cell("lab-1").tubes_in("reject") == [damaged]
    alert = rig.alerts("lab.sample")[0].data
    assert alert["severity"] == "low" and "label unreadable after 3 reads" in alert["summary"]


def test_label_without_order_is_rejected(tmp_path: Path) -> None:
    rig = make_lab_rig(tmp_path)
    orders = two_tubes(rig)
    orphan = rig.site.new_tube(patient_ref(rig, 3), Specimen.SERUM, sample_id="smp-000999")
    rig.load_tube(orphan)
    start(rig, orders)
    result = finish(rig)
    assert result["outcome"] == "succeeded"
    assert [r["reason"] for r in result["samples_rejected"]] == ["no order for this label (smp-000999)"]
    assert rig.site.cell("lab-1").tubes_in("reject") == [orphan]
    assert all(e.data["observations"]["sample_id"] != "smp-000999" for e in rig.kinds(ev.CLINICAL_RECORD))


def test_centrifuge_only_for_serum(tmp_path: Path) -> None:
    rig = make_lab_rig(tmp_path)
    p = patient_ref(rig, 0)
    rig.load_tube(rig.site.new_tube(p, Specimen.WHOLE_BLOOD, sample_id="smp-000201"))
    start(rig, [order("smp-000201", p, ("HB", "WBC", "PLT"), specimen="whole_blood")])
    result = finish(rig)
    assert result["outcome"] == "succeeded" and result["centrifuged"] is False
    assert rig.device("centrifuge").spins == 0

    rig2 = make_lab_rig(tmp_path / "b")
    orders = two_tubes(rig2)  # one serum tube: odd, so the balance tube goes in opposite it
    rig2.runner.submit(MissionRequest("lab_run", run_params(orders), mission_id="run-2"))
    result2 = finish(rig2)
    assert result2["outcome"] == "succeeded" and result2["centrifuged"] is True
    assert rig2.device("centrifuge").spins == 1
    obs = next(e.data["observations"] for e in rig2.kinds(ev.CLINICAL_RECORD)
               if e.data["observations"]["sample_id"] == "smp-000101")
    assert obs["complete"] is True  # spun serum: no clot


@pytest.mark.parametrize("analyzers", ANALYZER_BACKENDS)
def test_critical_value_alerts_before_the_batch_completes(tmp_path: Path, analyzers: str) -> None:
    rig = make_lab_rig(tmp_path, analyzers=analyzers)
    orders = two_tubes(rig)
    critical_patient = patient_ref(rig, 4)
    rig.site.seed_value(critical_patient, "K", 6.8)
    rig.load_tube(rig.site.new_tube(critical_patient, Specimen.SERUM, sample_id="smp-000150"))
    orders.append(order("smp-000150", critical_patient, ("K", "NA"), priority="S"))
    start(rig, orders)
    result = finish(rig)
    assert result["outcome"] == "succeeded"
    alerts = rig.alerts("lab.critical")
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.data["severity"] == "critical" and alert.data["sample_id"] == "smp-000150"
    assert alert.data["test_code"] == "K"
    assert 6.4 < alert.data["value"] < 7.2 and alert.data["flag"] == "HH"
    summary = alert.data["summary"]
    assert "K" in summary and "mmol/L" in summary
    # the patient is found through the clinical record the alert names, never in the alert itself
    assert critical_patient not in summary and "patient_ref" not in alert.data
    record = next(e for e in rig.events
                  if e.kind == ev.CLINICAL_RECORD and e.data["record_id"] == alert.data["record_id"])
    assert record.data["patient_ref"] == critical_patient
    index = rig.events.index(alert)
    later_records = [e for e in rig.events[index:] if e.kind == ev.CLINICAL_RECORD]
    assert len(later_records) == 2  # the other samples were reported after the alert
    finished = rig.kinds(ev.MISSION_SUCCEEDED)[0]
    assert alert.stamp_s < later_records[-1].stamp_s < finished.stamp_s + 1
    assert result["critical_results"] == [{"sample_id": "smp-000150", "tests": ["K"]}]


@pytest.mark.parametrize("analyzers", ANALYZER_BACKENDS)
def test_qc_failure_holds_the_run_and_releases_no_patient_result(tmp_path: Path, analyzers: str) -> None:
    from sim.lab_samples import CalibrationShift

    rig = make_lab_rig(tmp_path, analyzers=analyzers)
    rig.site.shifts.append(CalibrationShift("lab-1", "chem", "K", 0.15, 0.0, float("inf")))
    start(rig, two_tubes(rig))
    result = finish(rig)
    assert result["outcome"] == "failed"
    assert result["reason"].startswith("held: QC failed (chem: K 1-3s")
    assert rig.kinds(ev.CLINICAL_RECORD) == []
    assert result["samples_reported"] == [] and result["samples_held"] == ["smp-000101", "smp-000102"]
    qc_alert = rig.alerts("lab.qc")[0].data
    assert qc_alert["severity"] == "high" and qc_alert["samples_held"] == ["smp-000101", "smp-000102"]
    cell = rig.site.cell("lab-1")
    assert len(cell.tubes_in("hold")) == 2 and cell.tubes_in("waste") == []  # kept for the re-run
    assert len(cell.tubes_in("qc")) == 4


def test_analyzer_fault_retries_then_fails_cleanly(tmp_path: Path) -> None:
    rig = make_lab_rig(tmp_path)
    rig.env.inject_fault("lab-1", "chem", "link down")
    start(rig, two_tubes(rig), analyzer_attempts=3, analyzer_retry_wait_s=10)
    result = finish(rig)
    assert result["outcome"] == "failed"
    assert result["reason"] == "analyzer chem: instrument fault: link down (after 3 attempts)"
    assert rig.device("chem").runs_started == 3
    assert rig.kinds(ev.CLINICAL_RECORD) == []
    fault = rig.alerts("lab.device")[0].data
    assert fault["severity"] == "high" and "manual handling" in fault["summary"]


def test_fridge_out_of_range_alerts_and_holds(tmp_path: Path) -> None:
    from sim.lab_samples import FridgeExcursion

    rig = make_lab_rig(tmp_path)
    rig.site.excursions.append(FridgeExcursion("lab-1", 11.5, 0.0, float("inf")))
    orders = two_tubes(rig)
    start(rig, orders)
    result = finish(rig)
    assert result["outcome"] == "failed" and result["reason"].startswith("held: sample fridge out of range (11.")
    assert rig.alerts("lab.fridge")[0].data["severity"] == "high"
    assert len(rig.site.cell("lab-1").tubes_in("input")) == 2  # untouched
    assert rig.device("tubes").moves_done == 0


def test_cancel_ends_the_run_with_the_tubes_accounted_for(tmp_path: Path) -> None:
    rig = make_lab_rig(tmp_path)
    start(rig, two_tubes(rig))
    rig.run_until(lambda: rig.runner.current is not None and rig.runner.current.step.name == "CENTRIFUGE")
    rig.runner.cancel(None)
    result = finish(rig)
    assert result["outcome"] == "cancelled"
    cell = rig.site.cell("lab-1")
    assert cell.gripper is None or cell.gripper[0] is not None
    assert rig.kinds(ev.CLINICAL_RECORD) == []
    # every tube is somewhere definite: the serum tube in the rotor, the EDTA tube on its analyzer
    assert len(cell.tubes_in("centrifuge")) + len(cell.tubes_in("haem")) + (cell.gripper is not None) >= 2


@pytest.mark.parametrize("analyzers", ANALYZER_BACKENDS)
def test_estop_pauses_and_the_interrupted_step_restarts(tmp_path: Path, analyzers: str) -> None:
    from lab_rig import estopped

    rig = make_lab_rig(tmp_path, analyzers=analyzers)
    start(rig, two_tubes(rig))
    rig.run_until(lambda: rig.runner.current is not None and rig.runner.current.step.name == "ANALYZE")
    for _ in range(30):
        rig.tick(1.0, estopped(rig.clock.now_s()))
    assert rig.runner.current is not None and rig.runner.current.state.value == "paused"
    assert str(rig.kinds(ev.MISSION_PAUSED)[0].reason).startswith("e-stop latched")
    result = finish(rig)
    assert result["outcome"] == "succeeded"
    assert result["samples_reported"] == ["smp-000101", "smp-000102"]
    assert len(rig.kinds(ev.CLINICAL_RECORD)) == 2


@pytest.mark.parametrize("analyzers", ANALYZER_BACKENDS)
def test_restart_mid_run_never_reports_twice_nor_loses_a_result(tmp_path: Path, analyzers: str) -> None:
    rig = make_lab_rig(tmp_path, analyzers=analyzers)
    orders = two_tubes(rig)
    p3 = patient_ref(rig, 5)
    rig.load_tube(rig.site.new_tube(p3, Specimen.SERUM, sample_id="smp-000103"))
    orders.append(order("smp-000103", p3, ("CRP",)))
    start(rig, orders)
    rig.run_until(lambda: len(rig.kinds(ev.CLINICAL_RECORD)) == 1)
    rig.tick(5.0)  # the next sample is on the analyzer, uncommitted, when the robot dies
    rig.new_runner()
    result = finish(rig)
    assert rig.kinds(ev.MISSION_STARTED)[-1].data["steps_restored"] > 0
    assert result["outcome"] == "succeeded", result
    ids = [e.data["record_id"] for e in rig.kinds(ev.CLINICAL_RECORD)]
    assert sorted(ids) == ["run-1.smp-000101", "run-1.smp-000102", "run-1.smp-000103"]
    assert len(ids) == len(set(ids))
    assert len(rig.site.cell("lab-1").tubes_in("waste")) == 3
