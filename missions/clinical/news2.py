"""NEWS2, the National Early Warning Score 2 (Royal College of Physicians, 2017).

Implemented from the RCP chart (docs: /work/shared/DOMAIN.md §2), every band inclusive. The bands
are written out below as tables of (lowest, highest, points) so that they can be read against the
chart line by line; `None` means "no limit on that side".

Temperature rounding rule
-------------------------
The chart has 0.1 °C resolution, and its bands leave no room between them (35.0 | 35.1, 36.0 |
36.1, ...), so a device reading such as 35.05 °C belongs to no band until it is charted. We chart it
the way a nurse would: **round half up to 0.1 °C, then band**. The rounding is done in `Decimal` on
the shortest decimal text of the float (`str(x)`), because the binary float 35.05 is really
35.04999999999999715..., so `round(35.05, 1)` gives 35.0 and would chart a value the device
printed as 35.05 one band colder. Examples: 35.05 → 35.1 (1 point), 36.04 → 36.0 (1),
38.05 → 38.1 (1), 39.05 → 39.1 (2).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

Band = tuple[int | None, int | None, int]  # (lowest, highest, points), both ends inclusive

# --- the chart -----------------------------------------------------------------------------------

RESPIRATION_BANDS: tuple[Band, ...] = (
    (None, 8, 3),
    (9, 11, 1),
    (12, 20, 0),
    (21, 24, 2),
    (25, None, 3),
)

SPO2_SCALE_1_BANDS: tuple[Band, ...] = (
    (None, 91, 3),
    (92, 93, 2),
    (94, 95, 1),
    (96, None, 0),
)

#: Scale 2 (hypercapnic respiratory failure only), on air: 88–92 and ≥93 both score 0.
SPO2_SCALE_2_AIR_BANDS: tuple[Band, ...] = (
    (None, 83, 3),
    (84, 85, 2),
    (86, 87, 1),
    (88, None, 0),
)

#: Scale 2 on oxygen: above 92 % is over-oxygenation and scores again.
SPO2_SCALE_2_OXYGEN_BANDS: tuple[Band, ...] = (
    (None, 83, 3),
    (84, 85, 2),
    (86, 87, 1),
    (88, 92, 0),
    (93, 94, 1),
    (95, 96, 2),
    (97, None, 3),
)

AIR_POINTS = 0
OXYGEN_POINTS = 2

SYSTOLIC_BANDS: tuple[Band, ...] = (
    (None, 90, 3),
    (91, 100, 2),
    (101, 110, 1),
    (111, 219, 0),
    (220, None, 3),
)

PULSE_BANDS: tuple[Band, ...] = (
    (None, 40, 3),
    (41, 50, 1),
    (51, 90, 0),
    (91, 110, 1),
    (111, 130, 2),
    (131, None, 3),
)

#: Temperature in tenths of a degree (after rounding), so that the bands stay exact integers.
TEMPERATURE_TENTHS_BANDS: tuple[Band, ...] = (
    (None, 350, 3),
    (351, 360, 1),
    (361, 380, 0),
    (381, 390, 1),
    (391, None, 2),
)

#: Inputs outside these ranges are physiologically impossible (or not a measurement at all) and
#: are rejected rather than scored; the ranges are deliberately wide so that no real, if extreme,
#: patient is refused.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "respiration_rate_per_min": (0, 100),
    "spo2_percent": (0, 100),
    "systolic_bp_mmhg": (0, 350),
    "pulse_bpm": (0, 350),
    "temperature_c": (20.0, 45.0),
}


class Consciousness(enum.StrEnum):
    """ACVPU. Anything but Alert scores 3 (C is *new* confusion)."""

    ALERT = "A"
    CONFUSION = "C"
    VOICE = "V"
    PAIN = "P"
    UNRESPONSIVE = "U"


class ClinicalResponse(enum.StrEnum):
    """The RCP clinical response for a score, with its observation frequency."""

    ROUTINE = "routine"  # total 0
    NURSE_ASSESSMENT = "nurse_assessment"  # total 1–4
    INFORM_MEDICAL_TEAM = "inform_medical_team"  # a 3 in any single parameter, total < 5
    URGENT_REVIEW = "urgent_review"  # total 5–6
    EMERGENCY = "emergency"  # total ≥ 7

    @property
    def observation_frequency(self) -> str:
        return _RESPONSES[self][0]

    @property
    def escalate(self) -> bool:
        return _RESPONSES[self][1]

    @property
    def next_observation_due_s(self) -> float:
        return _RESPONSES[self][2]


HOUR_S = 3600.0

#: response → (observation frequency text, escalate beyond the ward nurse, next observation due).
#: "4–6-hourly" uses the shorter 4 h; "continuous monitoring" becomes a 15-minute re-check, since a
#: round robot cannot monitor continuously (the escalation hands that to staff).
_RESPONSES: dict[ClinicalResponse, tuple[str, bool, float]] = {
    ClinicalResponse.ROUTINE: ("minimum 12-hourly", False, 12 * HOUR_S),
    ClinicalResponse.NURSE_ASSESSMENT: (
        "minimum 4–6-hourly; registered nurse to assess",
        False,
        4 * HOUR_S,
    ),
    ClinicalResponse.INFORM_MEDICAL_TEAM: (
        "minimum 1-hourly; registered nurse to inform the medical team",
        True,
        1 * HOUR_S,
    ),
    ClinicalResponse.URGENT_REVIEW: (
        "minimum 1-hourly; urgent review by a clinician competent in acute illness",
        True,
        1 * HOUR_S,
    ),
    ClinicalResponse.EMERGENCY: (
        "continuous monitoring; emergency assessment by a critical-care team",
        True,
        0.25 * HOUR_S,
    ),
}

Risk = str  # "low" | "low-medium" | "medium" | "high"


@dataclass(frozen=True, slots=True)
class Observations:
    respiration_rate_per_min: int
    spo2_percent: int
    on_oxygen: bool
    systolic_bp_mmhg: int
    pulse_bpm: int
    consciousness: Consciousness
    temperature_c: float
    spo2_scale: int = 1

    def __post_init__(self) -> None:
        for name in ("respiration_rate_per_min", "spo2_percent", "systolic_bp_mmhg", "pulse_bpm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
        if not isinstance(self.on_oxygen, bool):
            raise ValueError(f"on_oxygen must be True or False, got {self.on_oxygen!r}")
        if not isinstance(self.consciousness, Consciousness):
            raise ValueError(f"consciousness must be a Consciousness (ACVPU), got {self.consciousness!r}")
        temperature = self.temperature_c
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            raise ValueError(f"temperature_c must be a number, got {temperature!r}")
        if not math.isfinite(temperature):
            raise ValueError(f"temperature_c must be finite, got {temperature!r}")
        if self.spo2_scale not in (1, 2) or isinstance(self.spo2_scale, bool):
            raise ValueError(f"spo2_scale must be 1 or 2, got {self.spo2_scale!r}")
        for name, (low, high) in PLAUSIBLE_RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name}={value!r} is physiologically impossible (expected {low}–{high})")


@dataclass(frozen=True, slots=True)
class News2Score:
    total: int
    per_parameter: dict[str, int]
    any_single_3: bool
    risk: Risk
    response: ClinicalResponse
    next_observation_due_s: float

    @property
    def triggers(self) -> list[str]:
        """The parameters that scored, highest first (for alert summaries)."""
        scored = [(points, name) for name, points in self.per_parameter.items() if points > 0]
        return [name for points, name in sorted(scored, key=lambda item: (-item[0], item[1]))]

    def as_dict(self) -> dict[str, object]:
        return {
            "total": self.total,
            "per_parameter": dict(self.per_parameter),
            "any_single_3": self.any_single_3,
            "risk": self.risk,
            "response": self.response.value,
            "observation_frequency": self.response.observation_frequency,
            "escalate": self.response.escalate,
            "next_observation_due_s": self.next_observation_due_s,
        }


def chart_temperature_c(temperature_c: float) -> Decimal:
    """The temperature as charted: round half up to 0.1 °C on its decimal text (see module doc)."""
    return Decimal(str(temperature_c)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def band_points(value: int, bands: tuple[Band, ...], parameter: str) -> int:
    for low, high, points in bands:
        if (low is None or value >= low) and (high is None or value <= high):
            return points
    raise ValueError(f"{parameter}={value} falls in no band")  # only if a table has a gap


def spo2_points(spo2_percent: int, *, scale: int, on_oxygen: bool) -> int:
    if scale == 1:
        return band_points(spo2_percent, SPO2_SCALE_1_BANDS, "spo2_percent")
    bands = SPO2_SCALE_2_OXYGEN_BANDS if on_oxygen else SPO2_SCALE_2_AIR_BANDS
    return band_points(spo2_percent, bands, "spo2_percent")


def temperature_points(temperature_c: float) -> int:
    tenths = int(chart_temperature_c(temperature_c) * 10)
    return band_points(tenths, TEMPERATURE_TENTHS_BANDS, "temperature_c")


def score_news2(obs: Observations) -> News2Score:
    per_parameter = {
        "respiration_rate": band_points(obs.respiration_rate_per_min, RESPIRATION_BANDS, "respiration_rate"),
        "spo2": spo2_points(obs.spo2_percent, scale=obs.spo2_scale, on_oxygen=obs.on_oxygen),
        "air_or_oxygen": OXYGEN_POINTS if obs.on_oxygen else AIR_POINTS,
        "systolic_bp": band_points(obs.systolic_bp_mmhg, SYSTOLIC_BANDS, "systolic_bp"),
        "pulse": band_points(obs.pulse_bpm, PULSE_BANDS, "pulse"),
        "consciousness": 0 if obs.consciousness is Consciousness.ALERT else 3,
        "temperature": temperature_points(obs.temperature_c),
    }
    total = sum(per_parameter.values())
    any_single_3 = any(points == 3 for points in per_parameter.values())
    response = clinical_response(total, any_single_3)
    return News2Score(
        total=total,
        per_parameter=per_parameter,
        any_single_3=any_single_3,
        risk=risk_for(total, any_single_3),
        response=response,
        next_observation_due_s=response.next_observation_due_s,
    )


def clinical_response(total: int, any_single_3: bool) -> ClinicalResponse:
    if total >= 7:
        return ClinicalResponse.EMERGENCY
    if total >= 5:
        return ClinicalResponse.URGENT_REVIEW
    if any_single_3:
        return ClinicalResponse.INFORM_MEDICAL_TEAM
    if total >= 1:
        return ClinicalResponse.NURSE_ASSESSMENT
    return ClinicalResponse.ROUTINE


def risk_for(total: int, any_single_3: bool) -> Risk:
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if any_single_3:
        return "low-medium"
    return "low"
