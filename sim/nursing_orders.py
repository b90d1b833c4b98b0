"""The ward's orders for the simulated patients: medication (MAR), diets, and how each patient
answers the bedside terminal.

Everything is a deterministic function of the seed, the bed and the time: the medication chart and
diet come from a per-bed random stream; answers from the patient's true state (a deteriorating
patient reports more pain, sleeps worse and eats less; a confused one often does not answer; one
who responds only to voice never does). Only pseudonymous references leave the simulator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.patients import PatientCensus, PatientModel, stable_int

#: the ward's standard medication times (HH:MM)
MEDICATION_TIMES = ("08:00", "12:00", "18:00", "22:00")
_QDS = MEDICATION_TIMES
_BD = ("08:00", "18:00")


@dataclass(frozen=True, slots=True)
class MedicationLine:
    """One regular prescription: what, how much, by which route, at which ward times."""

    drug: str
    dose_mg: float
    route: str
    times: tuple[str, ...]


# (line, who gets it: "all" with a probability, or a care flag)
_FORMULARY: tuple[tuple[MedicationLine, str, float], ...] = (
    (MedicationLine("paracetamol", 1000.0, "oral", _QDS), "all", 0.5),
    (MedicationLine("metformin", 500.0, "oral", _BD), "diabetic", 1.0),
    (MedicationLine("amlodipine", 5.0, "oral", ("08:00",)), "all", 0.3),
    (MedicationLine("omeprazole", 20.0, "oral", ("08:00",)), "all", 0.3),
    (MedicationLine("salbutamol", 2.5, "inhaled", _QDS), "copd", 1.0),
    (MedicationLine("atorvastatin", 20.0, "oral", ("22:00",)), "all", 0.3),
)


@dataclass(frozen=True, slots=True)
class PatientOrders:
    bed_id: str
    diet: str  # "standard" | "diabetic" | "soft" | "nil_by_mouth"
    medication: tuple[MedicationLine, ...]


class NursingOrders:
    """The medication chart and diet of every patient in the census (by the bed they were
    admitted to: what the ward's systems say, which is what the robot is told)."""

    def __init__(self, census: PatientCensus, seed: int, *, nil_by_mouth_fraction: float = 0.08) -> None:
        self._census = census
        self._orders: dict[str, PatientOrders] = {}
        for patient in census.patients():
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
                [seed & 0xFFFFFFFF, stable_int(patient.bed_id), stable_int("orders")])))
            lines = []
            for line, who, probability in _FORMULARY:
                eligible = (who == "all" or (who == "diabetic" and patient.is_diabetic)
                            or (who == "copd" and patient.has_copd))
                if eligible and rng.random() < probability:
                    lines.append(line)
            if rng.random() < nil_by_mouth_fraction:
                diet = "nil_by_mouth"
            elif patient.is_diabetic:
                diet = "diabetic"
            elif rng.random() < 0.15:
                diet = "soft"
            else:
                diet = "standard"
            self._orders[patient.bed_id] = PatientOrders(patient.bed_id, diet, tuple(lines))

    def orders(self, bed_id: str) -> PatientOrders:
        """The drug chart and diet of the patient the census has in the bed (they follow a patient
        transferred to another bed; keyed by the bed they were admitted to)."""
        patient = self._census.assigned(bed_id)
        if patient is None or patient.bed_id not in self._orders:
            raise KeyError(f"no orders for bed {bed_id!r}")
        return self._orders[patient.bed_id]

    def diet(self, bed_id: str) -> str:
        return self.orders(bed_id).diet

    def doses_due(self, bed_id: str, ward_time: str, due_s: float) -> list[dict[str, Any]]:
        """The MAR lines of this bed due at `ward_time` (HH:MM), as medication_round doses."""
        patient_ref = self._census.expected_ref(bed_id)
        return [
            {"order_id": f"rx-{bed_id}-{line.drug}-{ward_time.replace(':', '')}".lower(),
             "patient_ref": patient_ref, "drug": line.drug, "dose_mg": line.dose_mg, "route": line.route,
             "due_s": due_s}
            for line in self.orders(bed_id).medication if ward_time in line.times
        ]


# ---- how a simulated patient answers the terminal ------------------------------------------------


def _pick(rng: np.random.Generator, choices: Sequence[str], preferred: Sequence[str]) -> str:
    usable = [c for c in preferred if c in choices]
    return usable[0] if usable else str(choices[int(rng.integers(len(choices)))])


def patient_answer(
    patient: PatientModel, question_id: str, choices: Sequence[str], now_s: float, rng: np.random.Generator
) -> str | None:
    """The patient's answer (one of `choices`) or None when they do not answer."""
    state = patient.vitals_at(now_s).consciousness
    if state in ("voice", "unresponsive"):
        return None
    if state == "confusion" and rng.random() < 0.5:
        return None
    severity = patient.severity_at(now_s)
    if question_id == "pain_present":
        return "yes" if severity > 0.3 or rng.random() < 0.2 else "no"
    if question_id == "pain_score":
        score = 2.0 + 8.0 * severity + float(rng.normal(0.0, 0.7)) if severity > 0.3 else float(rng.uniform(1, 4))
        return _pick(rng, choices, [str(int(min(10, max(0, round(score)))))])
    if question_id == "sleep":
        return _pick(rng, choices, ["poor"] if severity > 0.4 else
                     [("good", "fair", "poor")[int(rng.choice(3, p=[0.6, 0.3, 0.1]))]])
    if question_id == "appetite":
        return _pick(rng, choices, ["none" if severity > 0.6 else "reduced"] if severity > 0.3 else
                     [("good", "reduced")[int(rng.random() < 0.2)]])
    if question_id == "song_offer":
        return "yes" if rng.random() < 0.25 else "no"
    if question_id == "medication_accept":
        return "no" if rng.random() < 0.03 else "yes"
    return str(choices[int(rng.integers(len(choices)))])


def hand_over_outcome(patient: PatientModel, now_s: float, rng: np.random.Generator) -> tuple[str, str | None]:
    """(outcome, confirmed_by): an alert patient confirms (or, rarely, refuses); anyone else's
    hand-over is confirmed by the nurse at the bedside."""
    if patient.vitals_at(now_s).consciousness == "alert":
        return ("refused", None) if rng.random() < 0.02 else ("received", "patient")
    return "received", "nurse"
