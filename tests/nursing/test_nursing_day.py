"""A nursing-only morning through the simulator runner: the vitals round and its follow-ups plus
the 08:00 medication round, dispatched by the ward's workload and finished. (Meals and the inquiry
are left out here to keep the run short: each wristband read renders and decodes a camera frame;
they have their own tests on the same simulated devices.)"""

from __future__ import annotations

from sim.runner import SimOptions, SimulationRun
from sim.scenario import Scenario


def test_four_hour_nursing_morning_with_a_medication_round() -> None:
    scenario = Scenario.model_validate({
        "name": "nursing-morning", "hours": 4, "tick_s": 0.5, "start_time": "07:00",
        "patients": {"deteriorating_fraction": 0.2, "swapped_wristbands": 1},
        "robots": [{"id": "nurse-a", "kind": "nursing", "dock": "dock-ward-a", "serves": "ward-a"}],
        "workloads": {"nursing": {"medication_times": ["08:00"], "meals": [], "inquiry_at": None}},
    })
    run = SimulationRun(scenario, SimOptions(broker=None, progress=False, seed=3))
    summary = run.run()
    robot = summary["robots"]["nurse-a"]
    by_kind = robot["missions_by_kind"]
    assert robot["failures"] == []
    assert by_kind.get("medication_round:succeeded", 0) >= 1
    assert by_kind.get("nursing_round:succeeded", 0) >= 1
    ward = summary["workloads"]["nursing"]["ward-a"]
    assert ward["rounds"] == 1 and ward["medication_trips"] == by_kind["medication_round:succeeded"]
    assert ward["meal_order_rounds"] == 0 and ward["inquiries"] == 0
    records = run.collector.records.values()
    meds = [r for r in records if r["record_type"] == "medication_administration"]
    assert meds and all(r["observations"]["status"] in ("given", "not_given", "needs_nurse_check") for r in meds)
    # the ward's 08:00 doses: given inside their window, or withheld with a reason
    given = [r for r in meds if r["observations"]["status"] == "given"]
    assert given and all(r["observations"]["reason"] for r in meds if r["observations"]["status"] != "given")
    assert any(r["record_type"] == "vitals" for r in records)
    assert summary["events_by_kind"].get("mission.failed", 0) == 0
