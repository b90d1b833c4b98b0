"""The nursing round's vitals record: observations as charted (name_with_unit → value), the NEWS2
score when the set is complete, and the record in the clinical telemetry schema's words
(`telemetry/schemas/clinical.json`). Plain functions over the readings, tested directly."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from hal.clock import iso_utc
from missions.clinical.news2 import Consciousness, News2Score, Observations, score_news2


class VitalsOrder(Protocol):
    """What of a bed's order changes the chart: oxygen and the SpO2 scale."""

    @property
    def on_oxygen(self) -> bool: ...

    @property
    def spo2_scale(self) -> int: ...


def build_record_parts(
    order: VitalsOrder, consciousness: Consciousness | None, readings: Mapping[str, Any], problems: Sequence[str]
) -> tuple[dict[str, Any], News2Score | None, list[str]]:
    """Observations as charted (name_with_unit → value), the NEWS2 score if complete, problems.

    `readings` maps a measurement name (temperature, pulse_oximetry, respiration, blood_pressure,
    glucose, weight) to its device reading; `problems` are what already kept the set incomplete."""
    problems = list(problems)
    obs: dict[str, Any] = {
        "on_oxygen": order.on_oxygen,
        "spo2_scale": order.spo2_scale,
        "consciousness_acvpu": consciousness.value if consciousness is not None else None,
    }
    temperature = readings.get("temperature")
    oximetry = readings.get("pulse_oximetry")
    respiration = readings.get("respiration")
    pressure = readings.get("blood_pressure")
    if temperature is not None:
        obs["temperature_c"] = temperature.temperature_c
        obs["temperature_site"] = temperature.site
    if oximetry is not None:
        obs["spo2_pct"] = oximetry.spo2_percent
        obs["pulse_bpm"] = oximetry.pulse_bpm
    if respiration is not None:
        obs["resp_rate_per_min"] = respiration.respiration_rate_per_min
    if pressure is not None:
        obs["systolic_mmhg"] = pressure.systolic_mmhg
        obs["diastolic_mmhg"] = pressure.diastolic_mmhg
        obs.setdefault("pulse_bpm", pressure.pulse_bpm)
    if "glucose" in readings:
        obs["glucose_mmol_per_l"] = readings["glucose"].glucose_mmol_per_l
    if "weight" in readings:
        obs["weight_kg"] = readings["weight"].weight_kg
    news2: News2Score | None = None
    if not problems and consciousness is not None:
        assert temperature and oximetry and respiration and pressure
        try:
            news2 = score_news2(
                Observations(
                    respiration_rate_per_min=respiration.respiration_rate_per_min,
                    spo2_percent=oximetry.spo2_percent,
                    on_oxygen=order.on_oxygen,
                    systolic_bp_mmhg=pressure.systolic_mmhg,
                    pulse_bpm=oximetry.pulse_bpm,
                    consciousness=consciousness,
                    temperature_c=temperature.temperature_c,
                    spo2_scale=order.spo2_scale,
                )
            )
        except ValueError as exc:
            problems.append(f"implausible reading: {exc}")
    obs["complete"] = not problems
    obs["incomplete_reason"] = "; ".join(problems) if problems else None
    return obs, news2, problems


def news2_body(score: News2Score) -> dict[str, Any]:
    """The record's NEWS2 object, in the clinical telemetry schema's words (risk "low-medium", as
    telemetry/schemas/clinical.json spells it: a record in any other spelling is refused by the
    publisher, and the round fails at that bed)."""
    return {
        "total": score.total,
        "risk": score.risk,
        "components": dict(score.per_parameter),
        "any_single_3": score.any_single_3,
        "response": score.response.value,
        "observation_frequency": score.response.observation_frequency,
        "escalate": score.response.escalate,
        "next_observation_due_s": score.next_observation_due_s,
    }


def vitals_record(
    record_id: str, patient_ref: str, bed_id: str, observations: dict[str, Any], news2: News2Score | None,
    measured_at_s: float,
) -> dict[str, Any]:
    """The `clinical.record` data of one bed's vitals (record_type "vitals")."""
    return {
        "record_id": record_id,
        "record_type": "vitals",
        "patient_ref": patient_ref,
        "bed_ref": bed_id,
        "observations": {**observations, "measured_at": iso_utc(measured_at_s)},
        "news2": news2_body(news2) if news2 is not None else None,
    }
