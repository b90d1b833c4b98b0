"""What the simulator knows and the robots do not: each patient's true NEWS2 over time.

Used only to grade a run — did the robots catch every patient who crossed the urgent threshold,
and how long after — never by a robot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from missions.clinical.news2 import Consciousness, Observations, score_news2
from sim.patients import PatientModel

_ACVPU = {"alert": Consciousness.ALERT, "confusion": Consciousness.CONFUSION, "voice": Consciousness.VOICE,
          "pain": Consciousness.PAIN, "unresponsive": Consciousness.UNRESPONSIVE}
URGENT_THRESHOLD = 5
SAMPLE_PERIOD_S = 300.0


def true_news2(patient: PatientModel, t_s: float) -> int:
    v = patient.vitals_at(t_s)
    obs = Observations(
        respiration_rate_per_min=round(v.respiration_rate_per_min),
        spo2_percent=min(100, round(v.spo2_percent)),
        on_oxygen=patient.on_oxygen,
        systolic_bp_mmhg=round(v.systolic_bp_mmhg),
        pulse_bpm=round(v.pulse_bpm),
        consciousness=_ACVPU[str(v.consciousness)],
        temperature_c=round(v.temperature_c, 1),
        spo2_scale=patient.spo2_scale,
    )
    return score_news2(obs).total


@dataclass(frozen=True)
class DeteriorationCase:
    bed_id: str
    urgent_from_s: float | None  # first sample at or above the urgent threshold, None if never
    first_alert_s: float | None

    def as_dict(self, start_s: float) -> dict[str, Any]:
        def rel_min(t: float | None) -> float | None:
            return None if t is None else round((t - start_s) / 60.0, 1)

        delay = None
        if self.urgent_from_s is not None and self.first_alert_s is not None:
            delay = round(max(0.0, self.first_alert_s - self.urgent_from_s) / 60.0, 1)
        return {"bed": self.bed_id, "urgent_from_min": rel_min(self.urgent_from_s),
                "first_alert_min": rel_min(self.first_alert_s), "alert_delay_min": delay}


def grade_deterioration(
    patients: list[PatientModel], alerts_by_bed: dict[str, float], start_s: float, end_s: float
) -> list[DeteriorationCase]:
    """For each deteriorating patient: when the truth crossed NEWS2 5, and when the first NEWS2
    alert for the bed they lie in came (alerts_by_bed: bed -> first alert time)."""
    cases = []
    for patient in sorted(patients, key=lambda p: p.current_bed_id):
        urgent_from = None
        t = start_s
        while t <= end_s:
            if true_news2(patient, t) >= URGENT_THRESHOLD:
                urgent_from = t
                break
            t += SAMPLE_PERIOD_S
        cases.append(DeteriorationCase(patient.current_bed_id, urgent_from, alerts_by_bed.get(patient.current_bed_id)))
    return cases
