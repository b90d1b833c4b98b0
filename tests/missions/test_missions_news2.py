"""NEWS2 against the RCP chart: every band edge on both sides, scale 2, totals, responses, rounding."""

from __future__ import annotations

from dataclasses import replace

import pytest

from missions.clinical.news2 import (
    ClinicalResponse,
    Consciousness,
    Observations,
    chart_temperature_c,
    score_news2,
)

HOUR = 3600.0

#: A patient who scores 0 on every parameter; each test changes one field.
NORMAL = Observations(
    respiration_rate_per_min=16,
    spo2_percent=97,
    on_oxygen=False,
    systolic_bp_mmhg=120,
    pulse_bpm=70,
    consciousness=Consciousness.ALERT,
    temperature_c=37.0,
)


def points(parameter: str, **change: object) -> int:
    return score_news2(replace(NORMAL, **change)).per_parameter[parameter]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)],
)
def test_respiration_rate_band_edges(rate: int, expected: int) -> None:
    assert points("respiration_rate", respiration_rate_per_min=rate) == expected


@pytest.mark.parametrize(
    ("spo2", "expected"),
    [(50, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)],
)
def test_spo2_scale_1_band_edges(spo2: int, expected: int) -> None:
    assert points("spo2", spo2_percent=spo2) == expected
    # on scale 1 oxygen adds its own 2 points but never changes the SpO2 points
    assert points("spo2", spo2_percent=spo2, on_oxygen=True) == expected


@pytest.mark.parametrize(
    ("spo2", "expected"),
    [(70, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0), (93, 0), (97, 0), (100, 0)],
)
def test_spo2_scale_2_on_air(spo2: int, expected: int) -> None:
    assert points("spo2", spo2_percent=spo2, spo2_scale=2, on_oxygen=False) == expected


@pytest.mark.parametrize(
    ("spo2", "expected"),
    [
        (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0),
        (93, 1), (94, 1), (95, 2), (96, 2), (97, 3), (100, 3),
    ],
)
def test_spo2_scale_2_on_oxygen(spo2: int, expected: int) -> None:
    assert points("spo2", spo2_percent=spo2, spo2_scale=2, on_oxygen=True) == expected


@pytest.mark.parametrize(("on_oxygen", "expected"), [(False, 0), (True, 2)])
def test_air_or_oxygen(on_oxygen: bool, expected: int) -> None:
    assert points("air_or_oxygen", on_oxygen=on_oxygen) == expected
    assert points("air_or_oxygen", on_oxygen=on_oxygen, spo2_scale=2) == expected


@pytest.mark.parametrize(
    ("systolic", "expected"),
    [(40, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (300, 3)],
)
def test_systolic_band_edges(systolic: int, expected: int) -> None:
    assert points("systolic_bp", systolic_bp_mmhg=systolic) == expected


@pytest.mark.parametrize(
    ("pulse", "expected"),
    [
        (20, 3), (40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1),
        (111, 2), (130, 2), (131, 3), (200, 3),
    ],
)
def test_pulse_band_edges(pulse: int, expected: int) -> None:
    assert points("pulse", pulse_bpm=pulse) == expected


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (Consciousness.ALERT, 0),
        (Consciousness.CONFUSION, 3),
        (Consciousness.VOICE, 3),
        (Consciousness.PAIN, 3),
        (Consciousness.UNRESPONSIVE, 3),
    ],
)
def test_consciousness(level: Consciousness, expected: int) -> None:
    assert points("consciousness", consciousness=level) == expected


@pytest.mark.parametrize(
    ("temperature", "expected"),
    [
        (30.0, 3), (35.0, 3), (35.1, 1), (36.0, 1), (36.1, 0), (38.0, 0),
        (38.1, 1), (39.0, 1), (39.1, 2), (42.0, 2),
    ],
)
def test_temperature_band_edges(temperature: float, expected: int) -> None:
    assert points("temperature", temperature_c=temperature) == expected


@pytest.mark.parametrize(
    ("temperature", "charted", "expected"),
    [
        (35.05, "35.1", 1),  # half up: out of the 3-point band (float round() would give 35.0)
        (35.04, "35.0", 3),
        (36.04, "36.0", 1),
        (36.05, "36.1", 0),
        (38.04, "38.0", 0),
        (38.05, "38.1", 1),
        (39.04, "39.0", 1),
        (39.05, "39.1", 2),
        (37, "37.0", 0),
    ],
)
def test_temperature_rounds_half_up_to_a_tenth(temperature: float, charted: str, expected: int) -> None:
    assert str(chart_temperature_c(temperature)) == charted
    assert points("temperature", temperature_c=temperature) == expected


def test_all_normal_scores_zero_routine() -> None:
    score = score_news2(NORMAL)
    assert score.total == 0
    assert not score.any_single_3
    assert score.risk == "low"
    assert score.response is ClinicalResponse.ROUTINE
    assert not score.response.escalate
    assert score.next_observation_due_s == 12 * HOUR


@pytest.mark.parametrize(
    ("change", "total", "single_3", "risk", "response", "due_s"),
    [
        ({"pulse_bpm": 95}, 1, False, "low", ClinicalResponse.NURSE_ASSESSMENT, 4 * HOUR),
        (
            {"pulse_bpm": 95, "respiration_rate_per_min": 22, "temperature_c": 38.5},
            4, False, "low", ClinicalResponse.NURSE_ASSESSMENT, 4 * HOUR,
        ),
        ({"consciousness": Consciousness.CONFUSION}, 3, True, "low-medium",
         ClinicalResponse.INFORM_MEDICAL_TEAM, 1 * HOUR),
        ({"systolic_bp_mmhg": 85, "pulse_bpm": 95}, 4, True, "low-medium",
         ClinicalResponse.INFORM_MEDICAL_TEAM, 1 * HOUR),
        ({"on_oxygen": True, "pulse_bpm": 120, "temperature_c": 38.5}, 5, False, "medium",
         ClinicalResponse.URGENT_REVIEW, 1 * HOUR),
        ({"respiration_rate_per_min": 26, "spo2_percent": 93, "pulse_bpm": 95}, 6, True, "medium",
         ClinicalResponse.URGENT_REVIEW, 1 * HOUR),
        ({"respiration_rate_per_min": 26, "spo2_percent": 93, "temperature_c": 39.5}, 7, True, "high",
         ClinicalResponse.EMERGENCY, 15 * 60),
        (
            {
                "respiration_rate_per_min": 30, "spo2_percent": 85, "on_oxygen": True,
                "systolic_bp_mmhg": 80, "pulse_bpm": 140, "consciousness": Consciousness.UNRESPONSIVE,
                "temperature_c": 34.0,
            },
            20, True, "high", ClinicalResponse.EMERGENCY, 15 * 60,
        ),
    ],
)
def test_totals_risk_and_response(
    change: dict[str, object],
    total: int,
    single_3: bool,
    risk: str,
    response: ClinicalResponse,
    due_s: float,
) -> None:
    score = score_news2(replace(NORMAL, **change))  # type: ignore[arg-type]
    assert score.total == total
    assert score.total == sum(score.per_parameter.values())
    assert score.any_single_3 is single_3
    assert score.risk == risk
    assert score.response is response
    assert score.next_observation_due_s == due_s
    assert score.response.escalate is (response is not ClinicalResponse.NURSE_ASSESSMENT)


def test_triggers_name_the_scoring_parameters_highest_first() -> None:
    score = score_news2(replace(NORMAL, respiration_rate_per_min=26, pulse_bpm=95))
    assert score.triggers == ["respiration_rate", "pulse"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"respiration_rate_per_min": -1}, "respiration_rate_per_min"),
        ({"spo2_percent": 101}, "spo2_percent"),
        ({"spo2_percent": -3}, "spo2_percent"),
        ({"systolic_bp_mmhg": -10}, "systolic_bp_mmhg"),
        ({"systolic_bp_mmhg": 500}, "systolic_bp_mmhg"),
        ({"pulse_bpm": -1}, "pulse_bpm"),
        ({"pulse_bpm": 400}, "pulse_bpm"),
        ({"temperature_c": 50.0}, "temperature_c"),
        ({"temperature_c": -2.0}, "temperature_c"),
        ({"temperature_c": float("nan")}, "temperature_c"),
        ({"spo2_scale": 3}, "spo2_scale"),
        ({"pulse_bpm": 72.5}, "pulse_bpm"),
        ({"on_oxygen": "yes"}, "on_oxygen"),
        ({"consciousness": "A"}, "consciousness"),
    ],
)
def test_impossible_inputs_raise_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        replace(NORMAL, **change)  # type: ignore[arg-type]
