"""Simulated patients: one per bed, pseudonymous, with seeded true vitals over the day.

Every patient's vitals are a deterministic function of time: a physiological baseline, slow drift
(a few long-period sinusoids with seeded phases) and small beat-to-beat variation. A seeded subset
deteriorates from an onset time the way early sepsis does (respiration, pulse and temperature
climb; SpO2 and systolic pressure fall; confusion comes late), so that NEWS2 climbs to 5 and
beyond within a few hours. Identities never leave the simulator as names: only `pt-xxxxxx`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

Consciousness = Literal["alert", "confusion", "voice", "unresponsive"]

WRISTBAND_PREFIX = "MEDBOT-PT:"
_HOUR_S = 3600.0


def stable_int(*parts: object) -> int:
    """A 32-bit integer from the parts, the same in every process (unlike Python's `hash()`)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def patient_ref_for(seed: int, bed_id: str) -> str:
    return "pt-" + hashlib.sha256(f"medbot-patient:{seed}:{bed_id}".encode()).hexdigest()[:6]


def _phase(rng: np.random.Generator) -> float:
    return float(rng.uniform(0, 2 * math.pi))


class BedPlace(Protocol):
    """What the census needs of a bed place (`sim.world.Place` satisfies it)."""

    @property
    def name(self) -> str: ...
    @property
    def bed_id(self) -> str | None: ...
    @property
    def ward(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class TrueVitals:
    respiration_rate_per_min: float
    spo2_percent: float
    pulse_bpm: float
    systolic_bp_mmhg: float
    diastolic_bp_mmhg: float
    temperature_c: float
    glucose_mmol_per_l: float
    consciousness: Consciousness


# parameter → (slow drift amplitude, fast variation amplitude)
_VARIATION = {
    "rr": (1.2, 0.4),
    "spo2": (0.8, 0.3),
    "pulse": (5.0, 1.5),
    "sbp": (7.0, 2.0),
    "dbp": (4.0, 1.5),
    "temp": (0.2, 0.04),
    "glucose": (0.8, 0.1),
}
# parameter → change at full deterioration (sepsis-like)
_DETERIORATION = {
    "rr": 12.0,
    "spo2": -7.0,
    "pulse": 42.0,
    "sbp": -38.0,
    "dbp": -18.0,
    "temp": 2.1,
    "glucose": 2.5,
}


class PatientModel:
    """One patient: identity, care flags and a seeded vitals trajectory."""

    def __init__(
        self,
        seed: int,
        bed_id: str,
        ward: str | None,
        start_s: float,
        *,
        deteriorating: bool = False,
    ) -> None:
        self.bed_id = bed_id  # the bed this patient was admitted to (census)
        self.current_bed_id = bed_id  # the bed they actually lie in (differs after a swap)
        self.ward = ward
        self.patient_ref = patient_ref_for(seed, bed_id)
        self.wristband_payload = WRISTBAND_PREFIX + self.patient_ref
        self.start_s = start_s
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & 0xFFFFFFFF, stable_int(bed_id)])))
        self.has_copd = bool(rng.random() < 0.12)  # hypercapnic respiratory failure: SpO2 scale 2
        self.spo2_scale = 2 if self.has_copd else 1
        self.on_oxygen = bool(rng.random() < (0.6 if self.has_copd else 0.12))
        self.is_diabetic = bool(rng.random() < 0.25)
        self.needs_glucose = self.is_diabetic
        self.needs_weight = bool(rng.random() < 0.3)
        self.weight_kg = round(min(150.0, max(42.0, float(rng.normal(76.0, 14.0)))), 1)
        self.baseline = {
            "rr": float(rng.uniform(13.0, 18.0)),
            "spo2": float(rng.uniform(89.0, 91.5) if self.has_copd else rng.uniform(95.5, 98.5)),
            "pulse": float(rng.uniform(64.0, 88.0)),
            "sbp": float(rng.uniform(114.0, 142.0)),
            "dbp": float(rng.uniform(66.0, 84.0)),
            "temp": float(rng.uniform(36.4, 37.1)),
            "glucose": float(rng.uniform(7.0, 10.5) if self.is_diabetic else rng.uniform(4.6, 6.4)),
        }
        # Drift: 3 slow (1–8 h) and 2 fast (1–5 min) sinusoids per parameter, seeded phases.
        self._waves: dict[str, list[tuple[float, float, float]]] = {}
        for key, (slow, fast) in _VARIATION.items():
            waves = [(slow / 2, _HOUR_S * float(rng.uniform(1, 8)), _phase(rng)) for _ in range(3)]
            waves += [(fast, float(rng.uniform(60, 300)), _phase(rng)) for _ in range(2)]
            self._waves[key] = waves
        self.deteriorating = deteriorating
        # Some are already going off when the day starts (admitted overnight, a post-op patient),
        # others turn during the day: both must be caught, the first by the morning round.
        self.onset_s = start_s + float(rng.uniform(-3.0, 5.0)) * _HOUR_S
        self.ramp_s = float(rng.uniform(2.0, 5.0)) * _HOUR_S
        self.peak_severity = float(rng.uniform(0.6, 1.0))  # some plateau at "urgent", some go on

    def __repr__(self) -> str:
        return f"PatientModel({self.patient_ref}, bed={self.bed_id}, deteriorating={self.deteriorating})"

    def severity_at(self, t_s: float) -> float:
        """0 (well) … 1 (fully deteriorated); always 0 for a patient who does not deteriorate."""
        if not self.deteriorating:
            return 0.0
        return self.peak_severity * min(1.0, max(0.0, (t_s - self.onset_s) / self.ramp_s))

    def _value(self, key: str, t_s: float, severity: float) -> float:
        drift = sum(a * math.sin(2 * math.pi * t_s / period + phase) for a, period, phase in self._waves[key])
        return self.baseline[key] + drift + _DETERIORATION[key] * severity

    def vitals_at(self, t_s: float) -> TrueVitals:
        s = self.severity_at(t_s)
        consciousness: Consciousness = "alert"
        if s >= 0.97:
            consciousness = "voice"
        elif s >= 0.7:
            consciousness = "confusion"
        spo2 = self._value("spo2", t_s, s)
        return TrueVitals(
            respiration_rate_per_min=max(6.0, self._value("rr", t_s, s)),
            spo2_percent=min(100.0, max(70.0, spo2 + (2.0 if self.on_oxygen and not self.has_copd else 0.0))),
            pulse_bpm=max(35.0, self._value("pulse", t_s, s)),
            systolic_bp_mmhg=max(60.0, self._value("sbp", t_s, s)),
            diastolic_bp_mmhg=max(35.0, self._value("dbp", t_s, s)),
            temperature_c=self._value("temp", t_s, s),
            glucose_mmol_per_l=max(2.5, self._value("glucose", t_s, s)),
            consciousness=consciousness,
        )


class PatientCensus:
    """One patient per bed. `swapped_wristbands` exchanges that many pairs of patients between
    beds, so the patient lying in a bed is not the one the ward's census system says is there."""

    def __init__(
        self,
        seed: int,
        beds: Sequence[BedPlace],
        start_s: float,
        *,
        deteriorating_fraction: float = 0.2,
        swapped_wristbands: int = 0,
    ) -> None:
        if not 0.0 <= deteriorating_fraction <= 1.0:
            raise ValueError(f"deteriorating_fraction must be in 0..1, got {deteriorating_fraction}")
        bed_ids = sorted(b.bed_id or b.name for b in beds)
        if swapped_wristbands < 0 or 2 * swapped_wristbands > len(bed_ids):
            raise ValueError(
                f"swapped_wristbands={swapped_wristbands} needs {2 * swapped_wristbands} beds, have {len(bed_ids)}"
            )
        self.seed = seed
        self.start_s = start_s
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & 0xFFFFFFFF, stable_int("census")])))
        n_det = round(deteriorating_fraction * len(bed_ids))
        det = set(rng.choice(len(bed_ids), size=n_det, replace=False).tolist()) if n_det else set()
        ward_of = {(b.bed_id or b.name): b.ward for b in beds}
        self._assigned: dict[str, PatientModel] = {
            bed: PatientModel(seed, bed, ward_of[bed], start_s, deteriorating=i in det) for i, bed in enumerate(bed_ids)
        }
        self._present = dict(self._assigned)
        self._beds = tuple(bed_ids)
        self._patients = tuple(self._assigned.values())
        self.swaps: list[tuple[str, str]] = []
        if swapped_wristbands:
            order = rng.permutation(len(bed_ids))[: 2 * swapped_wristbands]
            for k in range(swapped_wristbands):
                a, b = sorted((bed_ids[order[2 * k]], bed_ids[order[2 * k + 1]]))
                self._present[a], self._present[b] = self._assigned[b], self._assigned[a]
                self._assigned[a].current_bed_id, self._assigned[b].current_bed_id = b, a
                self.swaps.append((a, b))

    def bed_ids(self) -> list[str]:
        return list(self._beds)

    def patients(self) -> list[PatientModel]:
        """Everyone admitted today, in bed order of their admission (also after a discharge)."""
        return list(self._patients)

    def patient_at_bed(self, bed_id: str) -> PatientModel:
        """The patient actually lying in the bed (after any swap); KeyError for an empty bed."""
        patient = self.occupant(bed_id)
        if patient is None:
            raise KeyError(f"bed {bed_id!r} is empty" if bed_id in self._beds else
                           f"no bed {bed_id!r} in the census (beds: {', '.join(self._beds)})")
        return patient

    def occupant(self, bed_id: str) -> PatientModel | None:
        """The patient lying in the bed, None for an empty (or unknown) one."""
        return self._present.get(bed_id)

    def assigned(self, bed_id: str) -> PatientModel | None:
        """Who the ward's census system says is in the bed (None: empty, or no such bed)."""
        return self._assigned.get(bed_id)

    def expected_ref(self, bed_id: str) -> str:
        """Who the ward's census system says is in the bed: what the robot is told."""
        if bed_id not in self._assigned:
            raise KeyError(f"bed {bed_id!r} is empty in the census" if bed_id in self._beds else
                           f"no bed {bed_id!r} in the census (beds: {', '.join(self._beds)})")
        return self._assigned[bed_id].patient_ref

    # ---- what the patient administration system records (sim/his_feed.py sends it as ADT) ------

    def discharge(self, bed_id: str) -> PatientModel:
        """The patient the census has in the bed goes home: out of the census and out of their bed."""
        patient = self._assigned.pop(bed_id)
        self._present.pop(patient.current_bed_id, None)
        return patient

    def transfer(self, from_bed: str, to_bed: str) -> PatientModel:
        """The patient the census has in `from_bed` is moved to the empty `to_bed`: wheeled over,
        and the census says so."""
        if to_bed in self._assigned or to_bed in self._present or to_bed not in self._beds:
            raise ValueError(f"bed {to_bed!r} is not an empty bed of the census")
        patient = self._assigned.pop(from_bed)
        self._present.pop(patient.current_bed_id, None)
        self._assigned[to_bed] = self._present[to_bed] = patient
        patient.current_bed_id = to_bed
        return patient

    def correct(self, beds: Sequence[str]) -> None:
        """The census is put right for these beds (a swap found on the ward): it now says who lies there."""
        for bed in beds:
            self._assigned.pop(bed, None)
        for bed in beds:
            if bed in self._present:
                self._assigned[bed] = self._present[bed]

    def swapped_beds(self) -> list[str]:
        return sorted(bed for pair in self.swaps for bed in pair)

    def deteriorating(self) -> list[PatientModel]:
        return [p for p in self._patients if p.deteriorating]
