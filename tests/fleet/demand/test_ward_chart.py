"""The ward's observation chart as a fleet demand source: rounds at the interval, NEWS2 follow-ups
booked per ward from any robot's records, escalations in force, snapshot/restore, bad settings."""

from __future__ import annotations

import json

import pytest

from fleet.demand import DemandError
from fleet.demand._common import task_id
from fleet.demand.ward_chart import FOLLOW_UP_PRIORITY, ROUND_PRIORITY, WardChart, build
from fleet.tasks import TASK_ID_RE, TaskRequest
from tests.fleet.demand.nursing_site import HOUR_S, FakeBed, FakeCensus, at, context, news2_alert, vitals_record


def chart(submitted: list[TaskRequest], **settings: object) -> WardChart:
    return build(context(submitted), settings)


def ids(submitted: list[TaskRequest]) -> list[str]:
    return [r.task_id for r in submitted]


def test_full_rounds_per_ward_at_the_interval() -> None:
    submitted: list[TaskRequest] = []
    source = chart(submitted, round_interval_h=4)
    source.step(at("07:00"))
    assert ids(submitted) == ["round-isolation-20260105-0700", "round-ward-a-20260105-0700"]
    ward_a = submitted[1]
    assert ward_a.kind == "nursing_round" and ward_a.priority == ROUND_PRIORITY
    assert ward_a.robot_kinds == ("nursing",) and ward_a.zone == "ward-a" and ward_a.place == "ward-a-bed-01"
    assert ward_a.earliest_start_s == at("07:00") and ward_a.deadline_s == at("09:00")
    assert ward_a.requested_by == "source:ward_chart"
    assert ward_a.params["beds"][0] == {
        "bed_id": "A-01", "place": "ward-a-bed-01", "patient_ref": "pt-aaaa01", "on_oxygen": True, "spo2_scale": 2,
        "measure_glucose": False, "measure_weight": False, "escalation_in_force": "none"}
    assert [b["bed_id"] for b in ward_a.params["beds"]] == ["A-01", "A-02", "A-03"]
    source.step(at("10:59"))
    assert len(submitted) == 2
    source.step(at("11:00"))
    assert ids(submitted)[2:] == ["round-isolation-20260105-1100", "round-ward-a-20260105-1100"]
    assert source.summary()["ward-a"]["rounds"] == 2


def test_a_late_step_owes_the_ward_one_round_not_several() -> None:
    submitted: list[TaskRequest] = []
    source = chart(submitted, wards=["ward-a"])
    source.step(at("07:00"))
    source.step(at("16:30"))  # 11:00 and 15:00 both passed
    assert ids(submitted) == ["round-ward-a-20260105-0700", "round-ward-a-20260105-1500"]
    source.step(at("19:00"))
    assert ids(submitted)[-1] == "round-ward-a-20260105-1900"


def test_empty_beds_are_not_visited() -> None:
    submitted: list[TaskRequest] = []
    census = FakeCensus()
    del census.beds["A-02"], census.beds["ISO-1"]
    source = build(context(submitted, ward_census=census), {})
    source.step(at("07:00"))
    assert ids(submitted) == ["round-ward-a-20260105-0700"]  # the empty isolation ward gets no task
    assert [b["bed_id"] for b in submitted[0].params["beds"]] == ["A-01", "A-03"]


def test_a_follow_up_is_booked_from_another_robots_record() -> None:
    """The ward's robot is gone: a robot from another ward measured A-02 and its NEWS2 of 5 asks
    for an hourly re-check; the chart books it for the ward, whoever measured."""
    submitted: list[TaskRequest] = []
    source = chart(submitted)
    source.step(at("07:00"))
    source.on_message(vitals_record("A-02", at("07:32"), total=5, due_s=HOUR_S, escalate=True, robot_id="nurse-b"))
    source.step(at("08:31"))
    assert len(submitted) == 2
    source.step(at("08:32"))
    follow_up = submitted[-1]
    assert follow_up.task_id == "followup-ward-a-20260105-0832-A-02"
    assert follow_up.priority == FOLLOW_UP_PRIORITY and follow_up.zone == "ward-a" and follow_up.kind == "nursing_round"
    assert follow_up.earliest_start_s == at("08:32") and follow_up.deadline_s == at("09:02")
    assert [b["bed_id"] for b in follow_up.params["beds"]] == ["A-02"]
    assert source.summary()["ward-a"]["follow_ups"] == 1


def test_any_score_is_rechecked_at_the_ward_policy_and_a_zero_waits_for_the_round() -> None:
    submitted: list[TaskRequest] = []
    source = chart(submitted, scored_recheck_h=2)
    source.step(at("07:00"))
    source.on_message(vitals_record("A-01", at("07:10"), total=2, due_s=4 * HOUR_S))  # RCP says 4 h; ward 2 h
    source.on_message(vitals_record("A-03", at("07:20"), total=0, due_s=12 * HOUR_S))  # after the next round
    source.step(at("09:10"))
    assert ids(submitted)[-1] == "followup-ward-a-20260105-0910-A-01"
    source.step(at("10:59"))
    assert len(submitted) == 3


def test_follow_ups_can_be_switched_off() -> None:
    submitted: list[TaskRequest] = []
    source = chart(submitted, follow_up_escalations=False)
    source.step(at("07:00"))
    source.on_message(vitals_record("A-02", at("07:32"), total=6, due_s=HOUR_S, escalate=True))
    source.step(at("09:00"))
    assert len(submitted) == 2


def test_a_record_delivered_twice_or_late_books_nothing_more() -> None:
    submitted: list[TaskRequest] = []
    source = chart(submitted)
    source.step(at("07:00"))
    record = vitals_record("A-02", at("07:32"), total=5, due_s=HOUR_S, escalate=True)
    source.on_message(record)
    source.step(at("08:32"))
    source.on_message(record)  # QoS 1 redelivery after the follow-up went out
    source.on_message(vitals_record("A-02", at("07:00"), total=5, due_s=HOUR_S, escalate=True, n=0))  # older
    source.step(at("09:00"))
    assert ids(submitted).count("followup-ward-a-20260105-0832-A-02") == 1
    assert len(submitted) == 3


def test_the_full_round_covers_follow_ups_due_before_its_visit() -> None:
    submitted: list[TaskRequest] = []
    source = chart(submitted, round_interval_h=4, scored_recheck_h=3.5)
    source.step(at("07:00"))
    source.on_message(vitals_record("A-01", at("07:20"), total=1, due_s=4 * HOUR_S))  # due 10:50 < 11:00 round
    source.step(at("10:49"))
    assert len(submitted) == 2
    source.on_message(vitals_record("A-02", at("10:30"), total=6, due_s=HOUR_S, escalate=True))  # due 11:30
    source.step(at("10:50"))
    assert ids(submitted)[-1] == "followup-ward-a-20260105-1050-A-01"
    source.step(at("11:00"))  # round; the 11:30 follow-up falls before 11:00 + half the interval: dropped
    source.step(at("12:00"))
    assert ids(submitted)[-2:] == ["round-isolation-20260105-1100", "round-ward-a-20260105-1100"]


def test_beds_due_together_go_in_one_follow_up_named_by_the_earliest() -> None:
    submitted: list[TaskRequest] = []
    source = chart(submitted)
    source.step(at("07:00"))
    source.on_message(vitals_record("A-03", at("07:30"), total=5, due_s=HOUR_S, escalate=True))
    source.on_message(vitals_record("A-01", at("07:31"), total=5, due_s=HOUR_S, escalate=True))
    source.step(at("08:40"))  # the fleet was busy: both fell due
    assert submitted[-1].task_id == "followup-ward-a-20260105-0830-A-03"
    assert [b["bed_id"] for b in submitted[-1].params["beds"]] == ["A-01", "A-03"]
    assert submitted[-1].earliest_start_s == at("08:30")


def test_the_escalation_in_force_goes_with_the_bed_until_it_recovers() -> None:
    submitted: list[TaskRequest] = []
    source = chart(submitted)
    source.step(at("07:00"))
    source.on_message(vitals_record("A-02", at("07:32"), total=6, due_s=HOUR_S, escalate=True))
    source.on_message(news2_alert("A-02", "high", at("07:32")))
    source.step(at("08:32"))
    assert submitted[-1].params["beds"][0]["escalation_in_force"] == "high"
    source.on_message(vitals_record("A-02", at("08:40"), total=1, due_s=4 * HOUR_S, n=2))  # recovered
    source.step(at("10:40"))
    assert submitted[-1].task_id == "followup-ward-a-20260105-1040-A-02"
    assert submitted[-1].params["beds"][0]["escalation_in_force"] == "none"


def test_records_of_other_kinds_and_unknown_beds_are_ignored() -> None:
    submitted: list[TaskRequest] = []
    source = chart(submitted, wards=["ward-a"])
    source.step(at("07:00"))
    medication = vitals_record("A-02", at("07:32"), total=5, due_s=HOUR_S)
    medication.body["news2"] = None
    source.on_message(medication)
    source.on_message(vitals_record("ISO-1", at("07:33"), total=7, due_s=900))  # not a charted ward
    source.on_message(vitals_record("Z-99", at("07:34"), total=7, due_s=900))
    source.step(at("10:00"))
    assert len(submitted) == 1


def test_no_double_booking_after_snapshot_and_restore() -> None:
    before: list[TaskRequest] = []
    source = chart(before)
    source.step(at("07:00"))
    source.on_message(vitals_record("A-02", at("07:32"), total=6, due_s=HOUR_S, escalate=True))
    source.on_message(news2_alert("A-02", "high", at("07:32")))
    state = json.loads(json.dumps(source.snapshot()))  # what the store keeps

    after: list[TaskRequest] = []
    restarted = chart(after)
    restarted.restore(state)
    restarted.step(at("07:05"))  # the same day, just after the restart: the 07:00 round is not owed again
    assert after == []
    restarted.on_message(vitals_record("A-02", at("07:32"), total=6, due_s=HOUR_S, escalate=True))  # replayed
    restarted.step(at("08:32"))
    assert ids(after) == ["followup-ward-a-20260105-0832-A-02"]
    assert after[0].params["beds"][0]["escalation_in_force"] == "high"
    restarted.step(at("11:00"))
    assert ids(after)[1:] == ["round-isolation-20260105-1100", "round-ward-a-20260105-1100"]
    assert restarted.summary()["ward-a"] == {"rounds": 2, "follow_ups": 1, "follow_ups_booked": 0}


def test_a_restart_from_an_older_snapshot_resubmits_the_same_ids() -> None:
    """The service persists sources every few seconds: work submitted after the last snapshot is
    submitted again after a restart, under the same ids (the task store keeps the first)."""
    first: list[TaskRequest] = []
    source = chart(first)
    source.step(at("07:00"))
    source.on_message(vitals_record("A-02", at("07:32"), total=6, due_s=HOUR_S, escalate=True))
    source.on_message(vitals_record("A-03", at("07:33"), total=6, due_s=HOUR_S, escalate=True))
    state = json.loads(json.dumps(source.snapshot()))
    for minute in ("08:32", "08:33"):
        source.step(at(minute))
    again: list[TaskRequest] = []
    restarted = chart(again)
    restarted.restore(state)
    restarted.step(at("08:35"))  # both due at once now: one task, named as the first was
    assert set(ids(again)) <= set(ids(first))
    assert ids(again) == ["followup-ward-a-20260105-0832-A-02"]


@pytest.mark.parametrize(("settings", "field"), [
    ({"round_interval_h": 0}, "demand.ward_chart.round_interval_h"),
    ({"scored_recheck_h": "often"}, "demand.ward_chart.scored_recheck_h"),
    ({"rounds_per_day": 6}, "demand.ward_chart.rounds_per_day"),
    ({"wards": ["ward-z"]}, "demand.ward_chart.wards"),
])
def test_bad_settings_name_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(DemandError, match=f"^{field}"):
        chart([], **settings)


def test_a_hospital_without_a_ward_census_is_refused() -> None:
    ctx = context([])
    ctx.hospital = {}
    with pytest.raises(DemandError, match="ward_census"):
        build(ctx, {})


def test_a_bad_snapshot_is_refused_not_half_applied() -> None:
    with pytest.raises(DemandError, match=r"^demand\.ward_chart: cannot restore"):
        chart([]).restore({"version": 1, "wards": {"ward-a": {"next_round_s": "soon"}}})


def test_task_ids_are_valid_and_bounded() -> None:
    assert task_id("followup", "ward/b", "20260105-0832", "B/01") == "followup-ward_b-20260105-0832-B_01"
    long = task_id("round", "w" * 200, "20260105-0700")
    assert len(long) <= 100 and TASK_ID_RE.fullmatch(long) and long != task_id("round", "w" * 199, "20260105-0700")


def test_a_census_change_reaches_the_next_round() -> None:
    submitted: list[TaskRequest] = []
    census = FakeCensus()
    source = build(context(submitted, ward_census=census), {"wards": ["ward-a"]})
    source.step(at("07:00"))
    census.beds["A-03"] = FakeBed("pt-bbbb03", on_oxygen=True)  # a new admission
    source.step(at("11:00"))
    assert submitted[-1].params["beds"][2]["patient_ref"] == "pt-bbbb03"
    assert submitted[-1].params["beds"][2]["on_oxygen"] is True
