"""A vitals record is what the clinical telemetry schema accepts, for every NEWS2 risk band —
"low-medium" included (a record in another spelling is refused by the publisher and the round fails
at that bed; the fleet's end-to-end test met it on a patient with a single parameter scoring 3)."""

from __future__ import annotations

import pytest

from missions.clinical.news2 import Consciousness, Observations, score_news2
from missions.clinical.vitals_record import vitals_record
from telemetry.codec import MessageEncoder
from telemetry.topics import Channel

NORMAL = {"respiration_rate_per_min": 16, "spo2_percent": 97, "on_oxygen": False, "systolic_bp_mmhg": 125,
          "pulse_bpm": 72, "consciousness": Consciousness.ALERT, "temperature_c": 37.0}


@pytest.mark.parametrize(("change", "risk"), [
    ({}, "low"),
    ({"consciousness": Consciousness.CONFUSION}, "low-medium"),
    ({"systolic_bp_mmhg": 95, "pulse_bpm": 115, "respiration_rate_per_min": 22}, "medium"),
    ({"systolic_bp_mmhg": 85, "pulse_bpm": 135, "respiration_rate_per_min": 26}, "high"),
])
def test_vitals_record_passes_the_clinical_schema(change: dict[str, object], risk: str) -> None:
    score = score_news2(Observations(**{**NORMAL, **change}))  # type: ignore[arg-type]
    assert score.risk == risk
    record = vitals_record("rec-1", "pt-abc123", "A-01", {"spo2_pct": 97}, score, 1767596400.0)
    assert record["news2"]["risk"] == risk
    MessageEncoder("site", "nurse-a").encode(Channel.CLINICAL, record, 1767596400.0)  # raises if off-contract
