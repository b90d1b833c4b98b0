"""The exam's report: the `clinical.record` "imaging_study" (MPPS COMPLETED or DISCONTINUED, with
exposures, retakes and their reasons, the dose against its limit, the accepted image or the scan),
built from the exam's committed exposures. A plain function; the mission journals the record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hal.ultrasound import ScanResult
from missions.imaging.params import ImagingExamParams
from missions.imaging.policy import Procedure


def study_record(
    mission_id: str, params: ImagingExamParams, proc: Procedure, *, exposures: Mapping[int, Mapping[str, Any]],
    exposures_started: int, dose_mgy_cm2: float, dose_limit_mgy_cm2: float, scan: ScanResult | None,
    discontinue: str | None,
) -> tuple[dict[str, Any], bool, str]:
    """(record, completed, reason): completed only with an accepted image or a scan and nothing
    discontinued; reason is empty when completed."""
    accepted = [e for e in exposures.values() if e.get("outcome") == "accepted"]
    completed = discontinue is None and (bool(accepted) or scan is not None)
    reason = discontinue or ("" if completed else "no image acquired")
    obs: dict[str, Any] = {
        "accession_number": params.accession_number, "procedure_code": proc.code,
        "modality": proc.modality, "room": proc.room,
        "mpps_status": "COMPLETED" if completed else "DISCONTINUED", "discontinued_reason": reason or None,
        "exposures": exposures_started, "retakes": sum(1 for e in exposures.values() if e.get("retake")),
        "retake_reasons": "; ".join(str(e["reason"]) for e in exposures.values() if e.get("reason")) or None,
        "dap_mgy_cm2": round(dose_mgy_cm2, 2), "dose_limit_dap_mgy_cm2": dose_limit_mgy_cm2,
        "image_ref": accepted[0]["image_ref"] if accepted else None,
    }
    if scan is not None:
        obs.update(scan_frames=scan.frames_captured, peak_contact_force_n=scan.peak_contact_force_n)
    record = {"record_id": f"{mission_id}.study", "record_type": "imaging_study",
              "patient_ref": params.patient_ref, "bed_ref": None, "observations": obs, "news2": None}
    return record, completed, reason
