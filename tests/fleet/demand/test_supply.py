"""Materials management as a fleet demand source: the day's schedule, restock quantities from the
ward stock levels at the moment a delivery falls due, the pharmacy delivery, the asset audit,
outcomes from task results, snapshot/restore across a restart, bad settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleet.demand import DemandError
from fleet.demand.supply import SupplyOffice, build, purchasing_plan, restock_quantities
from fleet.tasks import Task, TaskRequest, TaskState
from tests.fleet.demand.supply_site import FakeStock, Line, at, context

DAY = "20260105"


def office(submitted: list[TaskRequest], start_s: float = at(7), **settings: Any) -> SupplyOffice:
    return build(context(submitted, start_s, **settings.pop("_ctx", {})), settings)


def run(source: SupplyOffice, until_s: float, *, from_s: float, step_s: float = 60.0) -> None:
    t = from_s
    while t <= until_s:
        source.step(t)
        t += step_s


def by_id(submitted: list[TaskRequest]) -> dict[str, TaskRequest]:
    return {r.task_id: r for r in submitted}


# ---- the schedule ----------------------------------------------------------------------------------


def test_a_day_of_restocks_a_pharmacy_delivery_and_the_audit_in_due_order() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted)
    run(source, at(7, day=1) - 60, from_s=at(7))
    assert [r.task_id for r in submitted] == [
        f"restock-ward-a-{DAY}-0800", f"restock-ward-b-{DAY}-0800", f"pharmacy-ward-a-{DAY}-1030",
        f"restock-ward-a-{DAY}-1300", f"restock-ward-b-{DAY}-1300", f"audit-{DAY}-1500",
        f"restock-ward-a-{DAY}-1800", f"restock-ward-b-{DAY}-1800",
    ]
    for r in submitted:
        assert r.robot_kinds == ("logistics",) and r.requested_by == "source:supply" and r.robot_id is None
    restock, pharmacy, audit = (by_id(submitted)[t] for t in (
        f"restock-ward-b-{DAY}-1300", f"pharmacy-ward-a-{DAY}-1030", f"audit-{DAY}-1500"))
    assert (restock.kind, restock.priority, restock.earliest_start_s, restock.deadline_s) == (
        "supply_delivery", 50, at(13), at(14))
    assert (restock.zone, restock.place) == ("ward-b", "central-supply")
    assert (pharmacy.kind, pharmacy.priority, pharmacy.deadline_s, pharmacy.place) == (
        "supply_delivery", 60, at(10.5) + 45 * 60, "pharmacy")
    assert (audit.kind, audit.priority, audit.deadline_s, audit.zone) == ("asset_audit", 30, at(19), None)


def test_nothing_before_it_is_due_and_each_slot_once() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted)
    source.step(at(8) - 1)
    assert submitted == []
    for _ in range(3):
        source.step(at(8))
    assert len(submitted) == 2


def test_a_time_already_past_at_the_start_is_tomorrows() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted, start_s=at(9), ward_deliveries=["08:00"], pharmacy_delivery=None, asset_audit=None)
    run(source, at(9, day=1), from_s=at(9))
    assert [r.task_id for r in submitted] == ["restock-ward-a-20260106-0800", "restock-ward-b-20260106-0800"]


def test_several_days_make_distinct_ids() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted)
    run(source, at(7, day=2), from_s=at(7), step_s=300.0)
    ids = [r.task_id for r in submitted]
    assert len(ids) == 16 and len(set(ids)) == 16
    assert "audit-20260106-1500" in ids


def test_a_site_utc_offset_moves_the_slots_to_local_time() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted, start_s=at(0), ward_deliveries=["08:00"], wards=["ward-a"], pharmacy_delivery=None,
                    asset_audit=None, utc_offset_h=2.0)
    run(source, at(12), from_s=at(0))
    assert [(r.task_id, r.earliest_start_s) for r in submitted] == [(f"restock-ward-a-{DAY}-0800", at(6))]


# ---- what is sent -----------------------------------------------------------------------------------


def test_lines_below_their_reorder_point_are_ordered_up_to_par() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted)
    source.step(at(8))
    params = by_id(submitted)[f"restock-ward-a-{DAY}-0800"].params
    # gloves 3 of 30 and syringes 9 of 50 are low; gauze is fine; the pharmacy lines are not central supply's
    assert params["items"] == [{"item": "gloves", "quantity": 27}, {"item": "syringes", "quantity": 41}]
    assert params | {"items": None, "ward_stock": None} == {
        "delivery_id": f"restock-ward-a-{DAY}-0800", "origin": "central-supply", "sender_role": "supply",
        "destination": "ward-a-utility", "ward": "ward-a", "items": None, "ward_stock": None}
    # the whole ward's stock goes along (the robot reports the levels after the hand-over from it)
    assert [s["item"] for s in params["ward_stock"]] == ["gauze", "gloves", "heparin", "paracetamol", "syringes"]
    assert params["ward_stock"][1] == {"item": "gloves", "on_hand": 3, "reorder_point": 10, "par_level": 30}


def test_with_nothing_low_the_two_lowest_lines_by_share_of_par_are_topped_up() -> None:
    submitted: list[TaskRequest] = []
    office(submitted).step(at(8))
    items = by_id(submitted)[f"restock-ward-b-{DAY}-0800"].params["items"]
    assert items == [{"item": "syringes", "quantity": 20}, {"item": "gloves", "quantity": 10}]


def test_the_pharmacy_delivery_carries_only_pharmacy_lines() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted, ward_deliveries=[])
    source.step(at(10.5))
    (request,) = submitted
    assert request.params["sender_role"] == "pharmacist" and request.params["origin"] == "pharmacy"
    assert request.params["items"] == [{"item": "heparin", "quantity": 18}]


def test_quantities_come_from_the_stock_levels_when_the_delivery_falls_due() -> None:
    submitted: list[TaskRequest] = []
    stock = FakeStock()
    source = office(submitted, _ctx={"stock": stock}, wards=["ward-a"], pharmacy_delivery=None, asset_audit=None)
    source.step(at(8))
    stock.line("ward-a", "gauze").on_hand = 4  # used up over the morning
    stock.line("ward-a", "gloves").on_hand = 30  # the 08:00 delivery put away
    stock.line("ward-a", "syringes").on_hand = 50
    source.step(at(13))
    assert by_id(submitted)[f"restock-ward-a-{DAY}-1300"].params["items"] == [{"item": "gauze", "quantity": 36}]


def test_a_line_above_par_still_gets_one_unit_when_topped_up() -> None:
    lines = [Line("a", "central-supply", 60, 10, 40), Line("b", "central-supply", 45, 10, 40)]
    assert restock_quantities(lines, "central-supply") == [{"item": "b", "quantity": 1}, {"item": "a", "quantity": 1}]
    assert restock_quantities(lines, "pharmacy") == []


def test_a_ward_that_stocks_nothing_from_the_origin_is_not_sent_an_empty_delivery() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted, ward_deliveries=[], pharmacy_delivery={"at": "10:30", "ward": "ward-b"},
                    asset_audit=None, _ctx={"stock": FakeStock(wards={"ward-a": [], "ward-b": [
                        Line("gauze", "central-supply", 1, 10, 40)]})})
    source.step(at(10.5))
    assert submitted == []
    assert source.summary()["not_requested"] == {
        f"pharmacy-ward-b-{DAY}-1030": "ward ward-b stocks nothing from pharmacy"}


def test_the_audit_visits_the_registers_rooms_in_its_order_with_the_whole_register() -> None:
    submitted: list[TaskRequest] = []
    office(submitted, ward_deliveries=[], pharmacy_delivery=None).step(at(15))
    (audit,) = submitted
    assert audit.params["audit_id"] == audit.task_id == f"audit-{DAY}-1500"
    assert audit.params["rooms"] == ["central-supply", "ward-b-utility", "ward-a-nurse-station"]
    assert audit.place == "central-supply"
    assert [a["asset_id"] for a in audit.params["asset_register"]] == ["FA-0001", "FA-0002", "FA-0003", "FA-0004"]
    assert audit.params["asset_register"][1] == {"asset_id": "FA-0002", "tag_id": "E280-00000002",
                                                 "kind": "wheelchair", "room": "ward-b-utility"}


def test_audit_rooms_from_the_settings_keep_their_order_and_the_whole_register() -> None:
    submitted: list[TaskRequest] = []
    office(submitted, ward_deliveries=[], pharmacy_delivery=None,
           asset_audit={"at": "15:00", "rooms": ["ward-b-utility", "central-supply"]}).step(at(15))
    (audit,) = submitted
    assert audit.params["rooms"] == ["ward-b-utility", "central-supply"]
    assert len(audit.params["asset_register"]) == 4


# ---- outcomes ----------------------------------------------------------------------------------------


def finished(request: TaskRequest, state: TaskState, result: dict[str, Any], reason: str | None = None) -> Task:
    return Task(request, created_s=request.earliest_start_s, state=state, robot_id="logistics-1",
                mission_id=request.task_id, attempts=1, finished_s=request.earliest_start_s + 600, reason=reason,
                result=result)


def test_the_summary_books_outcomes_custody_checks_suggestions_and_findings_from_results() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted)
    run(source, at(15), from_s=at(7))
    tasks = by_id(submitted)
    suggestion = {"ward": "ward-a", "item": "gauze", "on_hand": 8, "reorder_point": 10, "order_quantity": 32}
    source.on_task_finished(finished(tasks[f"restock-ward-a-{DAY}-0800"], TaskState.DONE, {
        "delivery_outcome": "handed_over", "custody_verified": True,
        "stock": {"ward": "ward-a", "levels": [], "reorder_suggestions": [suggestion]}}))
    source.on_task_finished(finished(tasks[f"restock-ward-b-{DAY}-1300"], TaskState.FAILED, {
        "delivery_outcome": "returned", "custody_verified": True, "stock": None},
        reason="door ward-b-entrance did not open"))
    source.on_task_finished(finished(tasks[f"audit-{DAY}-1500"], TaskState.DONE, {
        "findings": {"missing": [{"asset_id": "FA-0003"}], "misplaced": [{"asset_id": "FA-0001", "found_in": "x"}]}}))
    summary = source.summary()
    assert summary["deliveries_requested"] == 5
    assert summary["deliveries_by_kind"] == {"pharmacy": 1, "restock": 4}
    assert (summary["handed_over"], summary["returned"], summary["custody_verified_by_robot"]) == (1, 1, 2)
    assert summary["failed"] == {f"restock-ward-b-{DAY}-1300": "door ward-b-entrance did not open"}
    assert summary["purchasing_plan"] == {"lines": 1, "items": {"gauze": {"order_quantity": 32, "wards": ["ward-a"]}},
                                          "total_units": 32}
    assert summary["audits"] == {f"audit-{DAY}-1500": {"state": "done", "reason": None, "missing": ["FA-0003"],
                                                      "misplaced": ["FA-0001"]}}
    json.dumps(summary)


def test_another_sources_task_is_not_booked() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted)
    other = TaskRequest("deliver-0001", "supply_delivery", {}, requested_by="op-0001")
    source.on_task_finished(finished(other, TaskState.DONE, {"delivery_outcome": "handed_over"}))
    assert source.summary()["handed_over"] == 0


def test_the_purchasing_plan_sums_per_item_over_wards() -> None:
    plan = purchasing_plan([
        {"ward": "ward-b", "item": "gloves", "order_quantity": 5},
        {"ward": "ward-a", "item": "gloves", "order_quantity": 7},
        {"ward": "ward-a", "item": "gauze", "order_quantity": 2},
    ])
    assert plan == {"lines": 3, "total_units": 14, "items": {
        "gauze": {"order_quantity": 2, "wards": ["ward-a"]},
        "gloves": {"order_quantity": 12, "wards": ["ward-a", "ward-b"]}}}


# ---- restart -------------------------------------------------------------------------------------------


def test_a_restarted_fleet_submits_nothing_twice_and_carries_on() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted)
    run(source, at(11), from_s=at(7))
    source.on_task_finished(finished(by_id(submitted)[f"restock-ward-a-{DAY}-0800"], TaskState.DONE,
                                     {"delivery_outcome": "handed_over", "custody_verified": True}))
    state = json.loads(json.dumps(source.snapshot()))  # what the fleet's store keeps
    before = [r.task_id for r in submitted]

    after: list[TaskRequest] = []
    restarted = office(after, start_s=at(11))  # the service comes back at 11:00
    restarted.restore(state)
    run(restarted, at(7, day=1) - 60, from_s=at(11))
    ids = before + [r.task_id for r in after]
    assert len(ids) == len(set(ids)) == 8
    assert [r.task_id for r in after][:2] == [f"restock-ward-a-{DAY}-1300", f"restock-ward-b-{DAY}-1300"]
    assert restarted.summary()["handed_over"] == 1 and restarted.summary()["deliveries_requested"] == 7


def test_a_slot_missed_while_the_fleet_was_down_is_submitted_once_after_the_restart() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted, ward_deliveries=["13:00"], pharmacy_delivery=None, asset_audit=None)
    run(source, at(12) + 59 * 60, from_s=at(7))
    state = json.loads(json.dumps(source.snapshot()))
    assert submitted == []

    after: list[TaskRequest] = []
    restarted = office(after, start_s=at(13.5), ward_deliveries=["13:00"], pharmacy_delivery=None, asset_audit=None)
    restarted.restore(state)
    run(restarted, at(16), from_s=at(13.5))
    assert [(r.task_id, r.earliest_start_s, r.deadline_s) for r in after] == [
        (f"restock-ward-a-{DAY}-1300", at(13), at(14)), (f"restock-ward-b-{DAY}-1300", at(13), at(14))]


def test_restore_of_an_empty_snapshot_changes_nothing() -> None:
    submitted: list[TaskRequest] = []
    source = office(submitted)
    source.restore({})
    source.step(at(8))
    assert len(submitted) == 2


# ---- bad settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "field"), [
    ({"ward_deliveries": ["08:00", "25:00"]}, "demand.supply.ward_deliveries.1"),
    ({"wards": ["ward-z"]}, "demand.supply.wards.0"),
    ({"pharmacy_delivery": {"at": "10:30", "ward": "ward-c"}}, "demand.supply.pharmacy_delivery.ward"),
    ({"pharmacy_delivery": {"at": "10:30", "origin": "nowhere"}}, "demand.supply.pharmacy_delivery.origin"),
    ({"pharmacy_delivery": {"at": "10h30"}}, "demand.supply.pharmacy_delivery.at"),
    ({"asset_audit": {"at": "15:00", "rooms": ["attic"]}}, "demand.supply.asset_audit.rooms.0"),
    ({"asset_audit": {"at": "15:00", "rooms": ["pharmacy", "pharmacy"]}}, "demand.supply.asset_audit.rooms"),
    ({"restock_priority": 101}, "demand.supply.restock_priority"),
    ({"central_supply": "basement"}, "demand.supply.central_supply"),
    ({"colour": "blue"}, "demand.supply.colour"),
])
def test_bad_settings_name_the_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(DemandError, match=f"^{field.replace('.', '[.]')}:"):
        office([], **settings)


def test_a_ward_without_a_receiving_place_is_refused() -> None:
    with pytest.raises(DemandError, match=r"^demand[.]supply[.]wards[.]1: ward 'ward-b' has no receiving place"):
        office([], _ctx={"stock": FakeStock(stores={"ward-a": "ward-a-utility"})})


def test_missing_hospital_information_is_named() -> None:
    with pytest.raises(DemandError, match="'ward_stock'"):
        build(context([], at(7), hospital={}), {})
    with pytest.raises(DemandError, match=r"^demand[.]supply[.]asset_audit: .*'asset_register'"):
        build(context([], at(7), hospital={"ward_stock": FakeStock()}), {})
    # without the audit, no register is needed
    build(context([], at(7), hospital={"ward_stock": FakeStock()}), {"asset_audit": None})
