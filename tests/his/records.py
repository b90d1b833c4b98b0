"""Clinical records as the robots publish them, and a results rig without sockets: the service takes
ADT (so the census knows the patients), the intake takes records and queues ORUs.

The vitals records are built by the nursing robot's own code (missions/clinical: the NEWS2 score,
`vitals_record`), so the test is about what a robot really sends on the clinical channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hospital import KEY, POLICY, Clock, RecordingBus, adt

from his.oru import OruSettings
from his.pseudonym import Pseudonymizer
from his.results import ResultIntake
from his.service import HisService
from his.store import Store
from missions.clinical.news2 import Consciousness, Observations, score_news2
from missions.clinical.vitals_record import vitals_record
from telemetry.envelope import make_envelope
from telemetry.topics import Channel
from telemetry.validate import validate

SITE = "general-hospital"
SETTINGS = OruSettings(application="MEDBOT", facility="GENERAL", receiving_application="EHR",
                       receiving_facility="GENERAL")
#: the LOINC (or local / SNOMED) code -> UCUM unit every vitals ORU of `vitals()` must carry
VITALS_PAIRS = {"9279-1": "/min", "59408-5": "%", "8480-6": "mm[Hg]", "8462-4": "mm[Hg]", "8867-4": "/min",
                "8310-5": "Cel", "O2SUPP": "", "SPO2SCALE": "", "ACVPU": "", "1104051000000101": ""}


def vitals(ref: str, record_id: str, *, resp: int = 16, spo2: int = 97, on_oxygen: bool = False, systolic: int = 121,
           diastolic: int = 79, pulse: int = 72, acvpu: str = "A", temperature: float = 36.8,
           bed: str = "A-01") -> dict[str, Any]:
    """A complete vitals set as the nursing round records it (valid on the clinical channel)."""
    consciousness = Consciousness(acvpu)
    score = score_news2(Observations(resp, spo2, on_oxygen, systolic, pulse, consciousness, temperature))
    observations = {"on_oxygen": on_oxygen, "spo2_scale": 1, "consciousness_acvpu": acvpu,
                    "temperature_c": temperature, "temperature_site": "oral", "spo2_pct": spo2, "pulse_bpm": pulse,
                    "resp_rate_per_min": resp, "systolic_mmhg": systolic, "diastolic_mmhg": diastolic,
                    "complete": True, "incomplete_reason": None}
    record = vitals_record(record_id, ref, bed, observations, score, 1_767_601_951.0)
    validate(Channel.CLINICAL, make_envelope(Channel.CLINICAL, "nurse-1", 0, 0.0, record))
    return record


def lab(ref: str, record_id: str, sample: str = "SPEC-1") -> dict[str, Any]:
    """A lab result as the lab robot records it (missions/lab/report.py's shape)."""
    record = {"record_id": record_id, "record_type": "lab_result", "patient_ref": ref, "bed_ref": None, "news2": None,
              "observations": {"sample_id": sample, "specimen": "serum", "analyzer": "chem-1", "priority": "routine",
                               "measured_at": "2026-01-05T09:40:00.000Z", "k_mmol_per_l": 6.8, "k_flag": "HH",
                               "na_mmol_per_l": 139.0, "na_flag": "N", "crea_umol_per_l": None,
                               "complete": False, "incomplete_reason": "CREA not done by the analyzer: clot"}}
    validate(Channel.CLINICAL, make_envelope(Channel.CLINICAL, "lab-1", 0, 0.0, record))
    return record


class Rig:
    """HisService + ResultIntake on one store; the alerts they raise, in order."""

    def __init__(self, path: Path, key: bytes = KEY, previous: tuple[bytes, ...] = ()) -> None:
        self.path = path
        self.clock = Clock()
        self.store = Store(path)
        self.pseudonyms = Pseudonymizer(key, previous)
        self.service = HisService(self.store, self.pseudonyms, POLICY, RecordingBus(), clock_s=self.clock)
        self.alerts: list[dict[str, Any]] = []
        self.queued = 0
        self.intake = ResultIntake(self.store, self.service.sealer, SITE, SETTINGS, alert=self._alert,
                                   on_queued=self._on_queued, clock_s=self.clock)

    def _alert(self, body: dict[str, Any], stamp_s: float) -> None:
        validate(Channel.ALERTS, make_envelope(Channel.ALERTS, "his", 0, stamp_s, body))
        self.alerts.append(body)

    def _on_queued(self) -> None:
        self.queued += 1

    def admit(self, mrn: str, bed: str, ward: str = "ward-a") -> str:
        reply = self.service.handle(adt("A01", mrn, bed, ward).encode())
        assert b"MSA|AA" in reply, reply
        return self.pseudonyms.ref(mrn)

    def close(self) -> None:
        self.store.close()
