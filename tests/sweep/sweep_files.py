"""The tiny sweep the tests start from (tests/sweep/conftest.py, test_sweep_ray.py)."""

from __future__ import annotations

from typing import Any

#: the default day without the HL7 feed and the visitors: what stays is the fleet and its work, and
#: a few simulated minutes of it build and run in about a second
QUIET = {"his.enabled": False, "people.visitors_per_level": 0, "people.beds_per_level": 0}


def sweep_data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "tiny",
        "scenario": "hospital-day",
        "hours": 0.05,
        "set": dict(QUIET),
        "axes": {"robots.nursing": [1, 2]},
        "seeds": [1, 2],
        "kpis": {"observation_sets": {"min": 1}, "drug_rounds_on_time": None,
                 "busy_nurse_a_s": {"path": "fleet.robot_busy_s.nurse-a"}},
    }
    data.update(over)
    return data
