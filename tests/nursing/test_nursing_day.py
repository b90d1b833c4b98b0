"""A nursing-only morning through the simulator runner: the vitals round and its follow-ups plus
the 08:00 medication round, requested by the fleet's ward sources (ward_chart, care_rounds) and
finished. (Meals and the inquiry are left out here to keep the run short: each wristband read
renders and decodes a camera frame; they have their own tests on the same simulated devices.)"""

from __future__ import annotations

from sim.runner import SimOptions, SimulationRun
from sim.scenario import Scenario


def test_four_hour_nursing_morning_with_a_medication_round() -> None:
    scenario = Scenario.model_validate({
        "name": "nursing-morning", "hours": 4, "tick_s": 0.5, "start_time": "07:00",
        "patients": {"deteriorating_fraction": 0.2, "swapped_wristbands": 1},
        "robots": [{"id": "nurse-a", "kind": "nursing", "dock": "dock-ward-a", "serves": "ward-a"}],
        "fleet": {"demand": {
            "ward_chart": {"wards": ["ward-a"]},
            "care_rounds": {"wards": ["ward-a"], "medication_times": ["08:00"], "meals": [], "inquiry_at": None},
        }},
        "hospital": {"nursing": {}},
    })
    run = SimulationRun(scenario, SimOptions(broker=None, progress=False, seed=3))
    summary = run.run()
    robot = summary["robots"]["nurse-a"]
    by_kind = robot["missions_by_kind"]
    assert robot["failures"] == []
    assert by_kind.get("medication_round:succeeded", 0) >= 1
    assert by_kind.get("nursing_round:succeeded", 0) >= 1
    chart = summary["fleet"]["sources"]["ward_chart"]["ward-a"]
    care = summary["fleet"]["sources"]["care_rounds"]["ward-a"]
    assert chart["rounds"] == 1, chart
    assert care["medication_trips"] == by_kind["medication_round:succeeded"], (care, by_kind)
    assert care["meal_order_rounds"] == 0 and care["inquiries"] == 0, care
    records = run.collector.records.values()
    meds = [r for r in records if r["record_type"] == "medication_administration"]
    assert meds and all(r["observations"]["status"] in ("given", "not_given", "needs_nurse_check") for r in meds)
    # the ward's 08:00 doses: given inside their window, or withheld with a reason
    given = [r for r in meds if r["observations"]["status"] == "given"]
    assert given and all(r["observations"]["reason"] for r in meds if r["observations"]["status"] != "given")
    assert any(r["record_type"] == "vitals" for r in records)
    assert summary["events_by_kind"].get("mission.failed", 0) == 0
