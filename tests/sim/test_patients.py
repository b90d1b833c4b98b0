"""Patients and the census: deterministic for a seed, deteriorating ones score higher over hours,
swapped wristbands put the wrong patient in a bed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from missions.clinical.news2 import Consciousness, Observations, score_news2
from sim.patients import PatientCensus, PatientModel, patient_ref_for

START_S = 1767596400.0
HOUR_S = 3600.0
_ACVPU = {
    "alert": Consciousness.ALERT,
    "confusion": Consciousness.CONFUSION,
    "voice": Consciousness.VOICE,
    "unresponsive": Consciousness.UNRESPONSIVE,
}


@dataclass(frozen=True)
class Bed:
    name: str
    bed_id: str | None
    ward: str | None


def beds(n: int = 20) -> list[Bed]:
    return [Bed(f"ward-a-bed-{i:02d}", f"A-{i:02d}", "ward-a") for i in range(1, n + 1)]


def news2_at(patient: PatientModel, t_s: float) -> int:
    v = patient.vitals_at(t_s)
    obs = Observations(
        respiration_rate_per_min=round(v.respiration_rate_per_min),
        spo2_percent=round(v.spo2_percent),
        on_oxygen=patient.on_oxygen,
        systolic_bp_mmhg=round(v.systolic_bp_mmhg),
        pulse_bpm=round(v.pulse_bpm),
        consciousness=_ACVPU[v.consciousness],
        temperature_c=round(v.temperature_c, 1),
        spo2_scale=patient.spo2_scale,
    )
    return score_news2(obs).total


def snapshot(census: PatientCensus) -> list[tuple[object, ...]]:
    return [
        (p.bed_id, p.patient_ref, p.deteriorating, p.on_oxygen, p.weight_kg, p.vitals_at(START_S + 7200.0))
        for p in census.patients()
    ]


def test_same_seed_same_patients_other_seed_others() -> None:
    a = PatientCensus(42, beds(), START_S)
    b = PatientCensus(42, list(reversed(beds())), START_S)  # bed order given does not matter
    c = PatientCensus(43, beds(), START_S)
    assert snapshot(a) == snapshot(b)
    assert snapshot(a) != snapshot(c)
    assert [p.patient_ref for p in a.patients()] != [p.patient_ref for p in c.patients()]


def test_patient_refs_are_pseudonymous_stable_and_unique() -> None:
    census = PatientCensus(7, beds(), START_S)
    refs = [p.patient_ref for p in census.patients()]
    assert len(set(refs)) == len(refs)
    for p in census.patients():
        assert p.patient_ref.startswith("pt-") and len(p.patient_ref) == 9
        int(p.patient_ref[3:], 16)
        assert p.wristband_payload == f"MEDBOT-PT:{p.patient_ref}"
    # Known value: sha256-based, never Python's per-process hash().
    assert patient_ref_for(7, "A-01") == census.expected_ref("A-01")
    assert patient_ref_for(7, "A-01") == patient_ref_for(7, "A-01")
    assert patient_ref_for(7, "A-01") != patient_ref_for(8, "A-01")


def test_deteriorating_fraction_and_flags() -> None:
    census = PatientCensus(3, beds(20), START_S, deteriorating_fraction=0.2)
    assert len(census.deteriorating()) == 4
    assert PatientCensus(3, beds(20), START_S, deteriorating_fraction=0.0).deteriorating() == []
    for p in census.patients():
        assert p.spo2_scale in (1, 2)
        assert 40.0 <= p.weight_kg <= 150.0


def test_stable_patients_stay_near_normal() -> None:
    census = PatientCensus(5, beds(30), START_S)
    for p in census.patients():
        if p.deteriorating:
            continue
        scores = [news2_at(p, START_S + h * HOUR_S) for h in range(0, 13)]
        assert max(scores) <= 4, (p, scores)
        assert p.vitals_at(START_S + 10 * HOUR_S).consciousness == "alert"


def test_deteriorating_patients_worsen_over_hours() -> None:
    census = PatientCensus(11, beds(30), START_S)
    peaks = []
    for p in census.deteriorating():
        early = p.vitals_at(p.onset_s)  # the last moment before it starts
        late = p.vitals_at(p.onset_s + p.ramp_s)
        assert news2_at(p, p.onset_s) <= 3
        assert late.respiration_rate_per_min > early.respiration_rate_per_min + 4
        assert late.pulse_bpm > early.pulse_bpm + 15
        assert late.temperature_c > early.temperature_c + 0.8
        assert late.spo2_percent < early.spo2_percent - 2
        assert late.systolic_bp_mmhg < early.systolic_bp_mmhg - 15
        peak = max(news2_at(p, START_S + h * 0.5 * HOUR_S) for h in range(0, 21))  # within 10 h
        assert peak >= 5, (p, peak)
        peaks.append(peak)
    assert any(peak >= 7 for peak in peaks)


def test_vitals_are_a_function_of_time() -> None:
    p = PatientCensus(2, beds(3), START_S).patients()[0]
    assert p.vitals_at(START_S + 100.0) == p.vitals_at(START_S + 100.0)
    assert p.vitals_at(START_S + 100.0) != p.vitals_at(START_S + 4000.0)


def test_swapped_wristbands_exchange_two_patients() -> None:
    census = PatientCensus(9, beds(10), START_S, swapped_wristbands=1)
    assert len(census.swaps) == 1
    a, b = census.swaps[0]
    assert census.swapped_beds() == sorted([a, b])
    assert census.patient_at_bed(a).patient_ref == census.expected_ref(b)
    assert census.patient_at_bed(b).patient_ref == census.expected_ref(a)
    assert census.patient_at_bed(a).current_bed_id == a
    mismatched = [bed for bed in census.bed_ids() if census.patient_at_bed(bed).patient_ref != census.expected_ref(bed)]
    assert sorted(mismatched) == sorted([a, b])
    # same seed, same swap
    assert PatientCensus(9, beds(10), START_S, swapped_wristbands=1).swaps == census.swaps


def test_too_many_swaps_and_unknown_beds_are_errors() -> None:
    with pytest.raises(ValueError, match="swapped_wristbands=3 needs 6 beds"):
        PatientCensus(1, beds(4), START_S, swapped_wristbands=3)
    census = PatientCensus(1, beds(4), START_S)
    with pytest.raises(KeyError, match="no bed 'Z-9'"):
        census.patient_at_bed("Z-9")
    with pytest.raises(KeyError, match="no bed 'Z-9'"):
        census.expected_ref("Z-9")
