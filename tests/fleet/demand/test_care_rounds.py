"""The ward's care duties as a fleet demand source: medication rounds from the MAR in robot-loads,
meal orders and deliveries from the kitchen's list (per ward, whatever robot took it), the
inquiry, the isolation ward left out, snapshot/restore, bad settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleet.demand import DemandError, RobotMessage
from fleet.demand.care_rounds import (
    INQUIRY_PRIORITY,
    MEAL_DELIVERY_PRIORITY,
    MEAL_ORDER_PRIORITY,
    MEDICATION_PRIORITY,
    CareRounds,
    build,
)
from fleet.tasks import TaskRequest
from tests.fleet.demand.nursing_site import DAY_S, HOUR_S, at, context

BREAKFAST_ONLY: dict[str, Any] = {"meals": [["breakfast", "06:30", "07:45"]], "medication_times": [],
                                  "inquiry_at": None}


def care(submitted: list[TaskRequest], *, start_s: float = DAY_S + 6 * HOUR_S, **settings: Any) -> CareRounds:
    return build(context(submitted, start_s=start_s), settings)


def kitchen_list(meal: str, beds: list[str], stamp_s: float, robot_id: str = "nurse-a") -> RobotMessage:
    orders = [{"bed_id": b, "patient_ref": f"pt-aaaa{b[-2:]}", "diet": "standard", "dish": "porridge"} for b in beds]
    body = {"task_id": f"meal-orders-ward-a-{meal}", "event": "mission.step", "mission_id": "m-1",
            "mission_kind": "meal_orders", "step": "kitchen.order", "reason": None,
            "data": {"meal": meal, "orders": orders, "sent_at": "2026-01-05T07:00:00.000Z", "robot_at_kitchen": True}}
    return RobotMessage(robot_id, "events", body, stamp_s)


def test_medication_rounds_leave_ahead_in_robot_loads() -> None:
    submitted: list[TaskRequest] = []
    source = care(submitted, drawers_per_trip=2, meals=[], inquiry_at=None)
    source.step(at("07:29"))
    assert submitted == []
    source.step(at("07:30"))  # 30 min ahead of the 08:00 doses
    assert [r.task_id for r in submitted] == ["meds-ward-a-20260105-0800-1", "meds-ward-a-20260105-0800-2"]
    first = submitted[0]
    assert first.kind == "medication_round" and first.priority == MEDICATION_PRIORITY
    assert first.robot_kinds == ("nursing",) and first.zone == "ward-a" and first.place == "pharmacy"
    assert first.earliest_start_s == at("07:30") and first.deadline_s == at("09:00")
    assert [p["bed_id"] for p in first.params["patients"]] == ["A-01", "A-02"]
    assert [p["bed_id"] for p in submitted[1].params["patients"]] == ["A-03"]
    patient = first.params["patients"][0]
    assert set(patient) == {"bed_id", "place", "patient_ref", "doses"} and patient["place"] == "ward-a-bed-01"
    assert patient["doses"][0]["due_s"] == at("08:00")
    source.step(at("12:00"))  # the fake MAR has nothing at 12:00: no empty trip
    assert len(submitted) == 2
    assert source.summary()["ward-a"]["medication_trips"] == 2


def test_the_isolation_ward_gets_no_care_trips() -> None:
    submitted: list[TaskRequest] = []
    source = care(submitted)
    source.step(at("23:59"))
    assert submitted and {r.zone for r in submitted} == {"ward-a"}
    assert list(source.summary()) == ["ward-a"]
    included: list[TaskRequest] = []
    care(included, care_exclude_wards=[]).step(at("23:59"))
    assert {r.zone for r in included} == {"isolation", "ward-a"}


def test_meal_orders_then_the_kitchen_list_is_delivered_in_robot_loads() -> None:
    submitted: list[TaskRequest] = []
    source = care(submitted, drawers_per_trip=2, **BREAKFAST_ONLY)
    source.step(at("06:30"))
    orders = submitted[-1]
    assert orders.task_id == "meal-orders-ward-a-20260105-0630-breakfast"
    assert orders.kind == "meal_orders" and orders.priority == MEAL_ORDER_PRIORITY
    assert orders.earliest_start_s == at("06:30") and orders.deadline_s == at("07:45")
    assert orders.params["meal"] == "breakfast"
    assert [(b["bed_id"], b["diet"]) for b in orders.params["beds"]] == [
        ("A-01", "standard"), ("A-02", "diabetic"), ("A-03", "standard")]
    # two robots took the ward's orders (the first broke down half-way): one list for the ward
    source.on_message(kitchen_list("breakfast", ["A-02"], at("06:50"), robot_id="nurse-a"))
    source.on_message(kitchen_list("breakfast", ["A-03", "A-01"], at("07:10"), robot_id="nurse-b"))
    source.step(at("07:44"))
    assert len(submitted) == 1
    source.step(at("07:45"))
    deliveries = submitted[1:]
    assert [r.task_id for r in deliveries] == ["meal-ward-a-20260105-0745-breakfast-1",
                                               "meal-ward-a-20260105-0745-breakfast-2"]
    assert deliveries[0].kind == "meal_delivery" and deliveries[0].priority == MEAL_DELIVERY_PRIORITY
    assert deliveries[0].place == "kitchen" and deliveries[0].deadline_s == at("08:15")
    assert deliveries[0].params["orders"][0] == {"bed_id": "A-01", "patient_ref": "pt-aaaa01", "dish": "porridge",
                                                 "place": "ward-a-bed-01", "diet": "standard"}
    assert [o["bed_id"] for o in deliveries[0].params["orders"]] == ["A-01", "A-02"]
    assert deliveries[0].params["orders"][1]["diet"] == "diabetic"  # the diet list, not the robot's copy
    assert [o["bed_id"] for o in deliveries[1].params["orders"]] == ["A-03"]


def test_orders_handed_in_late_are_delivered_once_on_arrival() -> None:
    submitted: list[TaskRequest] = []
    source = care(submitted, **BREAKFAST_ONLY)
    source.step(at("06:30"))
    source.on_message(kitchen_list("breakfast", ["A-01"], at("07:30")))
    source.step(at("07:45"))
    assert [r.task_id for r in submitted[1:]] == ["meal-ward-a-20260105-0745-breakfast-1"]
    late = kitchen_list("breakfast", ["A-01", "A-03"], at("07:55"), robot_id="nurse-b")
    source.on_message(late)
    assert submitted[-1].task_id == "meal-ward-a-20260105-0745-breakfast-2"
    assert [o["bed_id"] for o in submitted[-1].params["orders"]] == ["A-03"]  # A-01 already went out
    source.on_message(late)  # a replay delivers nothing twice
    assert len(submitted) == 3


def test_a_list_left_from_yesterday_is_not_todays() -> None:
    submitted: list[TaskRequest] = []
    source = care(submitted, **BREAKFAST_ONLY)
    source.step(at("06:30"))
    source.step(at("07:45"))  # no list: nothing to deliver
    assert len(submitted) == 1
    source.on_message(kitchen_list("breakfast", ["A-01"], at("07:50")))  # late: delivered at once
    source.step(at("06:30", day=1))
    source.on_message(kitchen_list("breakfast", ["A-02"], at("06:50", day=1)))
    source.step(at("07:45", day=1))
    today = [r for r in submitted if r.task_id.startswith("meal-ward-a-20260106")]
    assert [o["bed_id"] for r in today for o in r.params["orders"]] == ["A-02"]


def test_the_inquiry_follows_the_morning_round() -> None:
    submitted: list[TaskRequest] = []
    source = care(submitted, meals=[], medication_times=[])
    source.step(at("09:30"))
    (inquiry,) = submitted
    assert inquiry.task_id == "inquiry-ward-a-20260105-0930" and inquiry.kind == "nursing_inquiry"
    assert inquiry.priority == INQUIRY_PRIORITY and inquiry.deadline_s == at("11:30")
    assert inquiry.params["beds"][0] == {"bed_id": "A-01", "place": "ward-a-bed-01", "patient_ref": "pt-aaaa01"}


def test_duties_before_the_start_are_not_owed_and_days_roll_on() -> None:
    submitted: list[TaskRequest] = []
    source = care(submitted, start_s=at("09:00"), meals=[], drawers_per_trip=3)
    source.step(at("09:00", day=2))
    meds = [r.task_id for r in submitted if r.kind == "medication_round"]
    assert meds == ["meds-ward-a-20260106-0800-1", "meds-ward-a-20260107-0800-1"]  # not 05-0800: before start
    assert [r.task_id for r in submitted if r.kind == "nursing_inquiry"] == [
        "inquiry-ward-a-20260105-0930", "inquiry-ward-a-20260106-0930"]


def test_no_resubmission_after_snapshot_and_restore() -> None:
    before: list[TaskRequest] = []
    source = care(before, **BREAKFAST_ONLY)
    source.step(at("06:30"))
    source.on_message(kitchen_list("breakfast", ["A-01", "A-02"], at("07:00")))
    state = json.loads(json.dumps(source.snapshot()))

    after: list[TaskRequest] = []
    restarted = care(after, **BREAKFAST_ONLY)
    restarted.restore(state)
    restarted.step(at("07:00"))
    assert after == []  # the orders round went out before the restart
    restarted.step(at("07:45"))  # the kitchen's list survived the restart
    assert [r.task_id for r in after] == ["meal-ward-a-20260105-0745-breakfast-1"]
    assert [o["bed_id"] for o in after[0].params["orders"]] == ["A-01", "A-02"]
    assert restarted.summary()["ward-a"]["meal_order_rounds"] == 1

    again: list[TaskRequest] = []
    third = care(again, **BREAKFAST_ONLY)
    third.restore(json.loads(json.dumps(restarted.snapshot())))
    third.on_message(kitchen_list("breakfast", ["A-01", "A-02"], at("07:50")))  # replayed after the restart
    third.step(at("08:00"))
    assert again == []


def test_a_kitchen_elsewhere_goes_in_the_params() -> None:
    submitted: list[TaskRequest] = []
    source = care(submitted, kitchen_place="main-kitchen", **BREAKFAST_ONLY)
    source.step(at("06:30"))
    assert submitted[0].params["kitchen_place"] == "main-kitchen"
    assert submitted[0].place == "ward-a-bed-01"  # not on this site map: the travel estimate starts at a bed
    plain: list[TaskRequest] = []
    care(plain, **BREAKFAST_ONLY).step(at("06:30"))
    assert "kitchen_place" not in plain[0].params


@pytest.mark.parametrize(("settings", "field"), [
    ({"medication_times": ["08:00", "25:00"]}, "demand.care_rounds.medication_times"),
    ({"meals": [["lunch", "12:15", "10:30"]]}, "demand.care_rounds.meals"),
    ({"meals": [["Brunch!", "10:00", "11:00"]]}, "demand.care_rounds.meals"),
    ({"drawers_per_trip": 0}, "demand.care_rounds.drawers_per_trip"),
    ({"inquiry_at": "9.30"}, "demand.care_rounds.inquiry_at"),
    ({"wards": ["ward-z"]}, "demand.care_rounds.wards"),
    ({"medication_lead": 30}, "demand.care_rounds.medication_lead"),
])
def test_bad_settings_name_the_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(DemandError, match=f"^{field}"):
        care([], **settings)


def test_a_hospital_without_a_mar_is_refused_unless_no_drug_rounds() -> None:
    ctx = context([], mar=None)
    with pytest.raises(DemandError, match="'mar'"):
        build(ctx, {})
    build(ctx, {"medication_times": []})
