"""The DICOM Modality Worklist backend against an in-process pynetdicom worklist SCP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

from hal.drivers.dicom_worklist import DicomWorklist
from missions.imaging.worklist import WorklistItem

SCHEDULE = [  # (accession, patient_ref, procedure, modality, HHMMSS, station)
    ("RAD-0002", "pt-0a0b0c", "US-THYROID", "US", "093000", "MEDBOT_IMG1"),
    ("RAD-0001", "pt-a1b2c3", "XR-CHEST-PA", "DX", "081500", "MEDBOT_IMG1"),
    ("RAD-0003", "pt-d4e5f6", "XR-KNEE-AP", "DX", "101000", "OTHER_ROOM"),
]


def _entry(acc: str, ref: str, code: str, modality: str, time: str, station: str) -> Dataset:
    ds = Dataset()
    ds.PatientID = ref
    ds.AccessionNumber = acc
    ds.RequestedProcedureID = acc
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator = code, "MEDBOT"
    ds.RequestedProcedureCodeSequence = [item]
    step = Dataset()
    step.Modality, step.ScheduledStationAETitle = modality, station
    step.ScheduledProcedureStepStartDate, step.ScheduledProcedureStepStartTime = "20260105", time
    step.ScheduledProcedureStepID = f"SPS-{acc}"
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def _on_find(event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
    query = event.identifier.ScheduledProcedureStepSequence[0]
    for row in SCHEDULE:
        if query.Modality and query.Modality != row[3]:
            continue
        if query.ScheduledStationAETitle and query.ScheduledStationAETitle != row[5]:
            continue
        yield 0xFF00, _entry(*row)
    yield 0x0000, None


@pytest.fixture
def scp() -> Iterator[int]:
    ae = AE(ae_title="WORKLIST")
    ae.add_supported_context(ModalityWorklistInformationFind)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_FIND, _on_find)])
    try:
        yield int(server.server_address[1])  # a free port chosen by the OS
    finally:
        server.shutdown()


def test_c_find_returns_the_scheduled_exams(scp: int) -> None:
    worklist = DicomWorklist("127.0.0.1", scp, timeout_s=5.0)
    steps = worklist.scheduled(station_ae="MEDBOT_IMG1")
    assert [s.accession_number for s in steps] == ["RAD-0001", "RAD-0002"]  # earliest first, station matched
    first = steps[0]
    assert (first.patient_ref, first.procedure_code, first.modality) == ("pt-a1b2c3", "XR-CHEST-PA", "DX")
    assert first.scheduled_s == 8 * 3600 + 15 * 60 and first.step_id == "SPS-RAD-0001"
    item = WorklistItem(first.accession_number, first.patient_ref, first.procedure_code, first.modality,
                        first.scheduled_s, first.station_ae, first.step_id)
    assert item.modality == "DX"
    assert [s.accession_number for s in worklist.scheduled(modality="US")] == ["RAD-0002"]


def test_unreachable_worklist_raises_a_device_error() -> None:
    from hal.device import DeviceError

    with pytest.raises(DeviceError):
        DicomWorklist("127.0.0.1", 9, timeout_s=1.0).scheduled()
