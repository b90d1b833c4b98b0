"""The lab run on simulated devices: sorting by label, centrifuge, QC, validation, reporting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab_rig import LabRig, make_lab_rig, order, patient_ref, run_params

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


def test_success_path_reports_each_sample_and_discards_the_tubes(tmp_path: Path) -> None:
    rig = make_lab_rig(tmp_path)
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
