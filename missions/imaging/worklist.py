"""The worklist: which exams are scheduled, for which patient (pseudonymous), where and when.

`Worklist` is the interface the imaging robot's scheduler reads (shaped after the DICOM Modality
Worklist: accession number, requested procedure, scheduled step, station AE title); `FileWorklist`
reads a YAML file and is the default in the simulator; the DICOM C-FIND backend lives in
`hal/drivers/dicom_worklist.py`. Pure Python; no DICOM here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

_PATIENT_REF = re.compile(r"^pt-[0-9a-f]{6,32}$")
_ACCESSION = re.compile(r"^[A-Za-z0-9-]{1,16}$")  # DICOM SH: at most 16 characters


class WorklistError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class WorklistItem:
    accession_number: str
    patient_ref: str  # pseudonymous; DICOM PatientID carries the same reference, never a name
    procedure_code: str
    modality: str  # "DX" or "US"
    scheduled_s: float  # scheduled procedure step start, seconds since midnight of the worklist day
    station_ae: str = "MEDBOT_IMG1"
    step_id: str = ""

    def __post_init__(self) -> None:
        if not _PATIENT_REF.match(self.patient_ref):
            raise WorklistError(f"{self.accession_number}: patient_ref {self.patient_ref!r} is not pseudonymous")
        if not _ACCESSION.match(self.accession_number):
            raise WorklistError(f"accession number {self.accession_number!r} must be 1-16 letters, digits or '-'")
        if self.modality not in ("DX", "US"):
            raise WorklistError(f"{self.accession_number}: modality {self.modality!r} (accepted: DX, US)")


class Worklist(Protocol):
    def scheduled(self, *, modality: str | None = None, station_ae: str | None = None) -> list[WorklistItem]:
        """Scheduled items, earliest first, optionally for one modality or station."""
        ...


def _clock_s(value: Any, where: str) -> float:
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", str(value))
    if match is None:
        raise WorklistError(f"{where}: time {value!r} must be HH:MM")
    return int(match.group(1)) * 3600.0 + int(match.group(2)) * 60.0


def item_from_mapping(raw: Mapping[str, Any], where: str) -> WorklistItem:
    try:
        return WorklistItem(
            accession_number=str(raw["accession_number"]),
            patient_ref=str(raw["patient_ref"]),
            procedure_code=str(raw["procedure_code"]),
            modality=str(raw["modality"]),
            scheduled_s=_clock_s(raw["scheduled"], where),
            station_ae=str(raw.get("station_ae", "MEDBOT_IMG1")),
            step_id=str(raw.get("step_id", "")),
        )
    except KeyError as exc:
        raise WorklistError(f"{where}: missing field {exc.args[0]!r}") from None


class FileWorklist:
    """A worklist from YAML: `exams: [{accession_number, patient_ref, procedure_code, modality,
    scheduled: "HH:MM", station_ae?, step_id?, sim?}]` (`sim` holds simulator scripts, ignored here)."""

    def __init__(self, items: Sequence[WorklistItem]) -> None:
        seen: set[str] = set()
        for item in items:
            if item.accession_number in seen:
                raise WorklistError(f"accession number {item.accession_number} appears twice")
            seen.add(item.accession_number)
        self._items = sorted(items, key=lambda i: (i.scheduled_s, i.accession_number))

    @classmethod
    def load(cls, path: Path) -> FileWorklist:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("exams"), list):
            raise WorklistError(f"{path}: expected a mapping with an 'exams' list")
        return cls([item_from_mapping(raw, f"{path}: exams[{i}]") for i, raw in enumerate(data["exams"])])

    def scheduled(self, *, modality: str | None = None, station_ae: str | None = None) -> list[WorklistItem]:
        return [i for i in self._items
                if (modality is None or i.modality == modality) and (station_ae is None or i.station_ae == station_ae)]
