"""How long a task of each kind takes, learnt from the tasks the fleet saw finish.

An exponentially weighted mean per mission kind (deterministic: it only changes on a finished
task), starting from a default until the first one is seen. Estimates feed the robots' ready
times, the deadline check and the battery estimate; they are persisted with the fleet's state.
"""

from __future__ import annotations

from typing import Any

DEFAULT_DURATION_S = 900.0
WEIGHT = 0.2
#: first guesses per kind (seconds) from the default hospital day, before anything was observed
PRIOR_S: dict[str, float] = {
    "nursing_round": 2400.0, "medication_round": 1500.0, "meal_orders": 1500.0, "meal_delivery": 1200.0,
    "nursing_inquiry": 1500.0, "sample_pickup": 900.0, "lab_run": 1500.0, "imaging_exam": 900.0,
    "epi_survey": 2400.0, "security_patrol": 1800.0, "visitor_guidance": 300.0, "supply_delivery": 1500.0,
    "asset_audit": 2400.0,
}


class DurationEstimates:
    def __init__(self) -> None:
        self._mean_s: dict[str, float] = {}

    def duration_s(self, kind: str) -> float:
        return self._mean_s.get(kind, PRIOR_S.get(kind, DEFAULT_DURATION_S))

    def observe(self, kind: str, duration_s: float) -> None:
        if duration_s <= 0:
            return
        old = self._mean_s.get(kind)
        self._mean_s[kind] = duration_s if old is None else (1 - WEIGHT) * old + WEIGHT * duration_s

    def snapshot(self) -> dict[str, Any]:
        return {k: round(v, 3) for k, v in sorted(self._mean_s.items())}

    def restore(self, state: dict[str, Any]) -> None:
        self._mean_s = {str(k): float(v) for k, v in state.items()}
