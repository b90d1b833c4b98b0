"""A re-measurement alerts only when the escalation rises above the one the ward acts on."""

from __future__ import annotations

from missions.clinical.escalation import escalation_alerts
from missions.clinical.news2 import Consciousness, Observations, score_news2

WHERE = {"place": "ward-a-bed-01", "x_m": 1.0, "y_m": 2.0, "level": 0}


def score(total_kind: str):
    if total_kind == "high":  # RR 22 (2) + pulse 115 (2) + temp 38.5 (1) = 5
        obs = Observations(22, 97, False, 120, 115, Consciousness.ALERT, 38.5)
    else:  # critical: RR 26 (3) + pulse 135 (3) + SBP 95 (2) = 8
        obs = Observations(26, 97, False, 95, 135, Consciousness.ALERT, 37.0)
    return score_news2(obs)


def test_first_escalation_alerts():
    alerts = escalation_alerts("r1", "A-01", score("high"), WHERE)
    assert [a["severity"] for a in alerts] == ["high"]
    assert "A-01" in alerts[0]["summary"] and "NEWS2 5" in alerts[0]["summary"]


def test_same_level_in_force_is_recorded_without_a_new_alert():
    assert escalation_alerts("r2", "A-01", score("high"), WHERE, in_force="high") == []
    assert escalation_alerts("r3", "A-01", score("high"), WHERE, in_force="critical") == []


def test_a_rise_alerts_at_once():
    alerts = escalation_alerts("r4", "A-01", score("critical"), WHERE, in_force="high")
    assert [a["severity"] for a in alerts] == ["critical"]
