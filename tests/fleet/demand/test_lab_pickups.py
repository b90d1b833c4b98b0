"""The lab's pick-up rounds and the lab runs that follow them (fleet/demand/lab_pickups.py)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from desk_site import HOUR_S, START_S, context, event, finished

from fleet.demand import DemandError
from fleet.demand.lab_pickups import LabPickups, build
from fleet.tasks import TaskRequest, TaskState

MIN_S = 60.0
CONTROLS = [{"material_id": "QC-CHEM-1", "analyzer": "chem", "position": "qc:1", "targets": {"K": [4.0, 0.1]}}]


@dataclass(frozen=True)
class Order:
    sample_id: str
    patient_ref: str
    specimen: str = "serum"
    tests: tuple[str, ...] = ("K", "NA")
    priority: str = "R"
    collected_s: float = START_S


@dataclass
class FakeLis:
    """The LIS: orders by sample id, and which samples wait at each station."""

    orders: dict[str, Order] = field(default_factory=dict)
    waiting: dict[str, list[str]] = field(default_factory=dict)

    def draw(self, station: str, sample_id: str, at_s: float, *, ordered: bool = True) -> None:
        if ordered:
            self.orders[sample_id] = Order(sample_id, f"pt-{sample_id[-6:]}", collected_s=at_s)
        self.waiting.setdefault(station, []).append(sample_id)

    def hand_over(self, station: str) -> list[str]:
        return self.waiting.pop(station, [])

    def waiting_at(self, station: str) -> list[Order]:
        return [self.orders[s] for s in self.waiting.get(station, []) if s in self.orders]

    def order(self, sample_id: str) -> Order | None:
        return self.orders.get(sample_id)

    def controls(self) -> list[dict[str, Any]]:
        return CONTROLS


SETTINGS = {"stations": ["ward-a-nurse-station", "ward-b-nurse-station"], "pickup_interval_h": 2,
            "first_pickup_min": 15}
A, B = "ward-a-nurse-station", "ward-b-nurse-station"
FIRST_S = START_S + 15 * MIN_S


def make(settings: dict[str, Any] | None = None, *, end_s: float | None = None) -> tuple[LabPickups, Any, FakeLis]:
    lis = FakeLis()
    ctx, submitted = context({"lab_orders": lis}, end_s=end_s)
    return build(ctx, SETTINGS if settings is None else settings), submitted, lis


def pickup_done(source: LabPickups, request: TaskRequest, lis: FakeLis, at_s: float, *, robot: str = "lab-1",
                extra: tuple[str, ...] = ()) -> None:
    samples = lis.hand_over(request.params["station"]) + list(extra)
    source.on_task_finished(finished(request, TaskState.DONE, at_s, robot_id=robot,
                                     result={"station": request.params["station"], "sample_ids": samples}))


# ---- the schedule -----------------------------------------------------------------------------


def test_pickups_follow_the_schedule_at_every_station() -> None:
    source, submitted, lis = make()
    lis.draw(A, "smp-000001", FIRST_S - 10 * MIN_S)
    lis.draw(A, "smp-000002", FIRST_S)
    source.step(FIRST_S - 1)
    assert submitted == []
    source.step(FIRST_S)
    assert submitted.ids() == ["lab-pickup-ward-a-nurse-station-20260105-0715",
                               "lab-pickup-ward-b-nurse-station-20260105-0715"]
    first = submitted[0]
    assert first.kind == "sample_pickup" and first.robot_kinds == ("lab",)
    assert first.params == {"station": A, "expected_samples": ["smp-000001", "smp-000002"], "lab_place": "clinical-lab"}
    assert (first.priority, first.zone, first.place) == (60, "ward-a", A)
    assert first.earliest_start_s == FIRST_S
    # the pick-up's half of the 2 h stability window runs from the oldest sample waiting
    assert first.deadline_s == FIRST_S - 10 * MIN_S + 60 * MIN_S
    assert submitted[1].params["expected_samples"] == [] and submitted[1].deadline_s == FIRST_S + 60 * MIN_S
    source.step(FIRST_S + 30 * MIN_S)
    assert len(submitted) == 2
    source.step(FIRST_S + 2 * HOUR_S)
    assert submitted.ids()[2:] == ["lab-pickup-ward-a-nurse-station-20260105-0915",
                                   "lab-pickup-ward-b-nurse-station-20260105-0915"]


def test_a_gap_is_caught_up_once_at_the_latest_round_and_nothing_after_the_end() -> None:
    source, submitted, _lis = make(end_s=START_S + 8 * HOUR_S)
    source.step(FIRST_S)
    source.step(FIRST_S + 4 * HOUR_S + 5 * MIN_S)  # the 09:15 and 11:15 rounds were missed
    assert [i.rsplit("-", 1)[1] for i in submitted.ids()] == ["0715", "0715", "1115", "1115"]
    source.step(FIRST_S + 6 * HOUR_S)  # 13:15 is still inside the run
    source.step(FIRST_S + 8 * HOUR_S)  # 15:15 is after its end
    assert len(submitted) == 6


def test_a_sample_already_past_its_window_makes_a_late_task_not_an_invalid_one() -> None:
    source, submitted, lis = make()
    lis.draw(A, "smp-000001", FIRST_S - 3 * HOUR_S)
    source.step(FIRST_S)
    assert submitted[0].deadline_s == FIRST_S


def test_empty_stations_are_skipped_only_when_asked() -> None:
    source, submitted, lis = make({**SETTINGS, "skip_empty_stations": True})
    lis.draw(B, "smp-000001", FIRST_S)
    source.step(FIRST_S)
    assert [r.params["station"] for r in submitted] == [B]


# ---- the lab run after a pick-up -------------------------------------------------------------


def test_a_done_pickup_books_a_run_on_that_robot_with_every_open_order() -> None:
    source, submitted, lis = make()
    lis.draw(A, "smp-000001", FIRST_S - 5 * MIN_S)
    lis.draw(B, "smp-000002", FIRST_S)
    source.step(FIRST_S)
    pick_a, pick_b = submitted
    pickup_done(source, pick_a, lis, FIRST_S + 20 * MIN_S, robot="lab-2")
    runs = submitted.of_kind("lab_run")
    assert len(runs) == 1
    run = runs[0]
    assert run.robot_id == "lab-2"  # the tubes are in lab-2's input rack
    assert run.task_id == "lab-run-lab-2-20260105-073500"
    # station B's order goes too: its tube may be in the rack by the time the run sorts it
    assert [o["sample_id"] for o in run.params["orders"]] == ["smp-000001", "smp-000002"]
    assert run.params["orders"][0] == {"sample_id": "smp-000001", "patient_ref": "pt-000001", "specimen": "serum",
                                       "tests": ["K", "NA"], "priority": "R"}
    assert run.params["controls"] == CONTROLS and run.params["place"] == "clinical-lab"
    assert (run.priority, run.zone, run.place) == (50, "clinical-lab", "clinical-lab")
    assert run.deadline_s == FIRST_S - 5 * MIN_S + 120 * MIN_S  # the oldest tube in the rack
    # B's pick-up ends while the run is open: no second run beside it ...
    pickup_done(source, pick_b, lis, FIRST_S + 30 * MIN_S, robot="lab-2")
    assert len(submitted.of_kind("lab_run")) == 1
    # ... but one after it, since tubes came while it ran
    source.on_task_finished(finished(run, TaskState.DONE, FIRST_S + 50 * MIN_S, robot_id="lab-2",
                                     result={"samples_reported": ["smp-000001"]}))
    again = submitted.of_kind("lab_run")[1:]
    assert [o["sample_id"] for o in again[0].params["orders"]] == ["smp-000002"]
    source.on_task_finished(finished(again[0], TaskState.DONE, FIRST_S + 70 * MIN_S, robot_id="lab-2",
                                     result={"samples_reported": ["smp-000002"]}))
    assert len(submitted.of_kind("lab_run")) == 2  # nothing left: no empty run
    summary = source.summary()
    assert (summary["batches"], summary["batches_done"], summary["samples_reported"], summary["orders_open"]) == \
        (2, 2, 2, 0)


def test_an_unexpected_tube_with_an_order_is_booked_and_one_without_is_not() -> None:
    source, submitted, lis = make({**SETTINGS, "stations": [A]})
    source.step(FIRST_S)
    lis.draw(A, "smp-000009", FIRST_S + MIN_S)  # drawn after the round was booked
    lis.draw(A, "smp-00000a", FIRST_S + MIN_S, ordered=False)  # the order was never placed
    pickup_done(source, submitted[0], lis, FIRST_S + 20 * MIN_S)
    (run,) = submitted.of_kind("lab_run")
    assert [o["sample_id"] for o in run.params["orders"]] == ["smp-000009"]


def test_failed_pickups_book_nothing_and_a_failed_run_keeps_its_orders() -> None:
    source, submitted, lis = make({**SETTINGS, "stations": [A]})
    lis.draw(A, "smp-000001", FIRST_S)
    source.step(FIRST_S)
    source.on_task_finished(finished(submitted[0], TaskState.FAILED, FIRST_S + 10 * MIN_S,
                                     reason="hand-over not authenticated"))
    assert submitted.of_kind("lab_run") == []
    source.step(FIRST_S + 2 * HOUR_S)
    pickup_done(source, submitted[1], lis, FIRST_S + 2 * HOUR_S + 20 * MIN_S)
    (run,) = submitted.of_kind("lab_run")
    source.on_task_finished(finished(run, TaskState.CANCELLED, FIRST_S + 2.5 * HOUR_S, reason="operator"))
    assert source.summary()["orders_open"] == 1  # no result: the order waits for the next run
    source.step(FIRST_S + 4 * HOUR_S)
    pickup_done(source, submitted[-1], lis, FIRST_S + 4 * HOUR_S + 20 * MIN_S)
    assert [o["sample_id"] for o in submitted.of_kind("lab_run")[1].params["orders"]] == ["smp-000001"]


def test_held_rejected_and_deferred_tubes_after_a_run() -> None:
    source, submitted, lis = make({**SETTINGS, "stations": [A]})
    for n in range(1, 5):
        lis.draw(A, f"smp-00000{n}", FIRST_S)
    source.step(FIRST_S)
    pickup_done(source, submitted[0], lis, FIRST_S + 20 * MIN_S)
    (run,) = submitted.of_kind("lab_run")
    result = {"samples_reported": ["smp-000001"], "samples_held": ["smp-000002"],
              "samples_rejected": [{"slot": "input:3", "label": "MEDBOT-SPEC:smp-000003", "reason": "clot"},
                                   {"slot": "input:9", "label": None, "reason": "unreadable"}],
              "samples_deferred": ["smp-000004"], "qc": {"chem": {"accepted": True, "reason": None}}}
    source.on_task_finished(finished(run, TaskState.DONE, FIRST_S + HOUR_S, result=result))
    (rerun,) = submitted.of_kind("lab_run")[1:]  # it deferred one while reporting others: go again
    assert [o["sample_id"] for o in rerun.params["orders"]] == ["smp-000004"]
    source.on_task_finished(finished(rerun, TaskState.FAILED, FIRST_S + 2 * HOUR_S, reason="held: QC 1-3s on K",
                                     result={"samples_held": ["smp-000004"], "qc": {"chem": {"accepted": False}}}))
    summary = source.summary()
    assert (summary["batches_held"], summary["qc_failures"], summary["samples_rejected"]) == (1, 1, 2)
    assert summary["orders_open"] == 0 and len(submitted.of_kind("lab_run")) == 2


def test_critical_alerts_are_counted_once() -> None:
    from desk_site import alert
    source, _submitted, _lis = make()
    for _ in range(2):
        source.on_message(alert("lab-1", FIRST_S, "r1.critical.K", "lab.critical"))
    source.on_message(alert("lab-1", FIRST_S, "r1.pickup", "lab.pickup"))
    assert source.summary()["critical_alerts"] == 1


# ---- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "field"), [
    ({"pickup_interval_h": 0}, "demand.lab_pickups.pickup_interval_h"),
    ({"first_pickup_min": -1}, "demand.lab_pickups.first_pickup_min"),
    ({"stations": []}, "demand.lab_pickups.stations"),
    ({"stations": [A, "ward-c-nurse-station"]}, "demand.lab_pickups.stations[1]"),
    ({"lab_place": "the-basement"}, "demand.lab_pickups.lab_place"),
    ({"pickup_window_min": 130}, "demand.lab_pickups.pickup_window_min"),
    ({"pickup_priority": 101}, "demand.lab_pickups.pickup_priority"),
    ({"pickup_intervall_h": 2}, "demand.lab_pickups.pickup_intervall_h"),
])
def test_bad_settings_name_the_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(DemandError, match=re.escape(field)):
        make(settings)


def test_the_lis_is_required() -> None:
    ctx, _ = context({})
    with pytest.raises(DemandError, match="lab_orders"):
        build(ctx, SETTINGS)


def test_default_stations_are_every_nurse_station() -> None:
    source, _submitted, _lis = make({})
    assert source.stations == [A, B]


# ---- restarts -----------------------------------------------------------------------------------


def test_a_restarted_source_submits_nothing_twice() -> None:
    source, submitted, lis = make()
    lis.draw(A, "smp-000001", FIRST_S)
    source.step(FIRST_S)
    pickup_done(source, submitted[0], lis, FIRST_S + 20 * MIN_S)
    state = json.loads(json.dumps(source.snapshot()))  # what the store keeps
    again, resubmitted, _ = make()
    again.lis = lis
    again.restore(state)
    again.step(FIRST_S + 21 * MIN_S)
    again.on_task_finished(finished(submitted[1], TaskState.DONE, FIRST_S + 25 * MIN_S,
                                    result={"sample_ids": []}))  # B had nothing: no second run
    assert resubmitted == []
    (run,) = submitted.of_kind("lab_run")
    again.on_task_finished(finished(run, TaskState.DONE, FIRST_S + HOUR_S, result={"samples_reported": ["smp-000001"]}))
    again.step(FIRST_S + 2 * HOUR_S)
    assert not set(resubmitted.ids()) & set(submitted.ids())
    assert [r.params["station"] for r in resubmitted] == [A, B]
    assert again.summary()["orders_open"] == 0 and again.summary()["batches_done"] == 1


def test_a_run_lost_from_an_old_snapshot_is_learnt_from_its_events() -> None:
    source, submitted, lis = make({**SETTINGS, "stations": [A]})
    lis.draw(A, "smp-000001", FIRST_S)
    source.step(FIRST_S)
    state = json.loads(json.dumps(source.snapshot()))
    pickup_done(source, submitted[0], lis, FIRST_S + 20 * MIN_S)  # books a run the snapshot misses
    (run,) = submitted.of_kind("lab_run")
    again, resubmitted, _ = make({**SETTINGS, "stations": [A]})
    again.lis = lis
    again.restore(state)
    again.on_message(event("lab-1", run.task_id, "mission.started", FIRST_S + 22 * MIN_S))
    lis.draw(A, "smp-000002", FIRST_S + 2 * HOUR_S)
    again.step(FIRST_S + 2 * HOUR_S)
    pickup_done(again, resubmitted[0], lis, FIRST_S + 2 * HOUR_S + 20 * MIN_S)
    assert resubmitted.of_kind("lab_run") == []  # lab-1 still has its run open


def test_snapshot_rejects_another_version() -> None:
    source, _submitted, _lis = make()
    with pytest.raises(DemandError, match="snapshot version"):
        source.restore({"version": 99})
