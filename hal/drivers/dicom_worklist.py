"""DICOM Modality Worklist client: C-FIND on the Modality Worklist Information Model (pynetdicom).

Returns the scheduled procedure steps for a modality / station AE title as plain frozen records
(`ScheduledStep`), shaped like `missions.imaging.worklist.WorklistItem`. PatientID carries the
pseudonymous `pt-…` reference; the query never asks for PatientName, and a returned name is never
read. Every network wait is bounded (`timeout_s` for association, DIMSE and network). The query
blocks for at most those timeouts, so it belongs to the scheduler side, never to `Robot.step`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

from hal.device import DeviceError, DeviceTimeout

_PENDING = (0xFF00, 0xFF01)
_PATIENT_REF = re.compile(r"^pt-[0-9a-f]{6,32}$")


@dataclass(frozen=True, slots=True)
class ScheduledStep:
    accession_number: str
    patient_ref: str
    procedure_code: str
    modality: str
    scheduled_s: float  # seconds since midnight of the scheduled date
    station_ae: str
    step_id: str


def _time_s(value: str) -> float:
    digits = (value or "000000").split(".")[0].ljust(6, "0")
    return int(digits[0:2]) * 3600.0 + int(digits[2:4]) * 60.0 + int(digits[4:6])


def worklist_query(modality: str | None, station_ae: str | None, date: str | None) -> Dataset:
    """The C-FIND identifier: return keys empty, matching keys set."""
    ds = Dataset()
    ds.PatientID = ""
    ds.AccessionNumber = ""
    ds.RequestedProcedureID = ""
    code = Dataset()
    code.CodeValue = ""
    code.CodingSchemeDesignator = ""
    ds.RequestedProcedureCodeSequence = [code]
    step = Dataset()
    step.Modality = modality or ""
    step.ScheduledStationAETitle = station_ae or ""
    step.ScheduledProcedureStepStartDate = date or ""
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledProcedureStepID = ""
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def step_from_dataset(ds: Dataset) -> ScheduledStep:
    sps = ds.ScheduledProcedureStepSequence[0]
    codes = ds.get("RequestedProcedureCodeSequence") or []
    ref = str(ds.PatientID)
    if not _PATIENT_REF.match(ref):
        raise ValueError(f"worklist PatientID {ref!r} is not a pseudonymous pt- reference")
    return ScheduledStep(
        accession_number=str(ds.AccessionNumber),
        patient_ref=ref,
        procedure_code=str(codes[0].CodeValue) if codes else str(ds.get("RequestedProcedureID", "")),
        modality=str(sps.Modality),
        scheduled_s=_time_s(str(sps.get("ScheduledProcedureStepStartTime", ""))),
        station_ae=str(sps.get("ScheduledStationAETitle", "")),
        step_id=str(sps.get("ScheduledProcedureStepID", "")),
    )


class DicomWorklist:
    """`scheduled(modality=…, station_ae=…)` against a worklist SCP (RIS / broker)."""

    def __init__(self, host: str, port: int, *, called_ae: str = "WORKLIST", calling_ae: str = "MEDBOT_IMG1",
                 date: str | None = None, timeout_s: float = 10.0) -> None:
        self.host, self.port = host, port
        self.called_ae, self.calling_ae = called_ae, calling_ae
        self.date = date  # YYYYMMDD, or None for any date
        self.timeout_s = timeout_s
        self.skipped: list[str] = []  # responses that were not usable, with why

    def scheduled(self, *, modality: str | None = None, station_ae: str | None = None) -> list[ScheduledStep]:
        ae = AE(ae_title=self.calling_ae)
        ae.add_requested_context(ModalityWorklistInformationFind)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout_s
        assoc = ae.associate(self.host, self.port, ae_title=self.called_ae)
        if not assoc.is_established:
            raise DeviceTimeout("dicom_worklist", f"no association with {self.called_ae}@{self.host}:{self.port}")
        steps: list[ScheduledStep] = []
        try:
            for status, identifier in assoc.send_c_find(worklist_query(modality, station_ae, self.date),
                                                        ModalityWorklistInformationFind):
                if not status:
                    raise DeviceTimeout("dicom_worklist", "C-FIND got no response in time")
                code = int(status.Status)
                if code in _PENDING and identifier is not None:
                    try:
                        steps.append(step_from_dataset(identifier))
                    except (ValueError, AttributeError, IndexError) as exc:
                        self.skipped.append(str(exc))
                elif code != 0x0000:
                    raise DeviceError("dicom_worklist", f"C-FIND failed with status 0x{code:04X}")
        finally:
            assoc.release()
        return sorted(steps, key=lambda s: (s.scheduled_s, s.accession_number))
