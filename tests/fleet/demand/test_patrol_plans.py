"""The security desk's patrol plans as a fleet demand source: laps back to back with a pause, the
route by time of day (day route / night route with all of the car park), checkpoint plans from
the site map, open incidents carried from lap to lap, several patrols at once, snapshot/restore,
bad settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleet.demand import DemandError, RobotMessage
from fleet.demand.patrol_plans import PatrolDesk, build
from fleet.tasks import Task, TaskRequest, TaskState
from tests.fleet.demand.supply_site import at, context


def desk(submitted: list[TaskRequest], start_s: float = at(7), **settings: Any) -> PatrolDesk:
    return build(context(submitted, start_s), settings)


def end(request: TaskRequest, finished_s: float, state: TaskState = TaskState.DONE,
        open_incidents: list[dict[str, Any]] | None = None) -> Task:
    result = {} if open_incidents is None else {"open_incidents": open_incidents}
    return Task(request, created_s=request.earliest_start_s, state=state, robot_id="security-1",
                mission_id=request.task_id, attempts=1, finished_s=finished_s, result=result)


def alert(task_id: str, checkpoint: str, category: str, *, severity: str = "high", magnitude: float = 1.0,
          lap: int = 1, message_task: str | None = None) -> RobotMessage:
    body = {"alert_id": f"{task_id}.{lap}.{checkpoint}.{category}", "severity": severity, "category": category,
            "summary": f"{category} at {checkpoint}", "where": {"place": checkpoint, "x_m": 0.0, "y_m": 0.0},
            "evidence_ref": None, "data": {"checkpoint": checkpoint, "lap": lap, "magnitude": magnitude}}
    return RobotMessage("security-1", "alerts", body, at(8), task_id=message_task)


# ---- laps and routes ---------------------------------------------------------------------------------


def test_the_first_lap_goes_out_at_the_start_with_the_day_route() -> None:
    submitted: list[TaskRequest] = []
    desk(submitted).step(at(7))
    (lap,) = submitted
    assert lap.task_id == "patrol-1-20260105-070000-1"
    assert (lap.kind, lap.priority, lap.robot_kinds, lap.requested_by) == (
        "security_patrol", 40, ("security",), "source:patrol_plans")
    assert (lap.earliest_start_s, lap.deadline_s) == (at(7), at(8))
    assert lap.params == {"route": "day", "return_to_dock": False, "open_incidents": []}


def test_the_next_lap_falls_due_a_pause_after_the_last_one_ended() -> None:
    submitted: list[TaskRequest] = []
    source = desk(submitted)
    source.step(at(7))
    source.step(at(9))  # the lap is still out: no second one
    assert len(submitted) == 1
    source.on_task_finished(end(submitted[0], at(7) + 600))
    source.step(at(7) + 600 + 299)
    assert len(submitted) == 1
    source.step(at(7) + 900)
    assert [r.task_id for r in submitted][1] == "patrol-1-20260105-071500-2"
    assert submitted[1].earliest_start_s == at(7) + 900


def test_a_failed_lap_is_followed_by_the_next_one_as_well() -> None:
    submitted: list[TaskRequest] = []
    source = desk(submitted, lap_pause_min=0)
    source.step(at(7))
    source.on_task_finished(end(submitted[0], at(7.5), TaskState.FAILED))
    source.step(at(7.5))
    assert len(submitted) == 2
    assert source.summary()["lap_outcomes"] == {"failed": 1}


@pytest.mark.parametrize(("hour", "route"), [
    (6.99, "night"), (7.0, "day"), (13.0, "day"), (19.99, "day"), (20.0, "night"), (23.5, "night"), (2.0, "night"),
])
def test_the_route_follows_the_time_of_day(hour: float, route: str) -> None:
    submitted: list[TaskRequest] = []
    desk(submitted, start_s=at(hour)).step(at(hour))
    assert submitted[0].params["route"] == route


def test_the_route_is_the_one_that_holds_when_the_lap_goes_out() -> None:
    submitted: list[TaskRequest] = []
    source = desk(submitted, start_s=at(19.5))
    source.step(at(19.5))
    source.on_task_finished(end(submitted[0], at(19.9)))
    source.step(at(20.5))
    assert [r.params["route"] for r in submitted] == ["day", "night"]
    assert source.summary()["laps_by_plan"] == {"day": 1, "night": 1}
    # it fell due at 19:59 (its id and earliest start say so) but went out under the night plan
    assert submitted[1].earliest_start_s == at(19.9) + 300
    assert submitted[1].task_id == "patrol-1-20260105-195900-2"


def test_a_checkpoint_plan_walks_all_of_the_car_park_then_its_places() -> None:
    submitted: list[TaskRequest] = []
    plans = [{"name": "night", "from": "20:00", "car_park": True,
              "checkpoints": ["main-entrance", {"place": "pharmacy", "closed_hours": [21, 7], "check_door": True}]},
             {"name": "day", "from": "07:00", "checkpoints": ["car-park-bay-1", "outpatient-reception"]}]
    source = desk(submitted, start_s=at(22), plans=plans)
    source.step(at(22))
    params = submitted[0].params
    assert "route" not in params
    # bay 1 first, then the nearest bay (3 is 13 m away, 2 is 20 m), then 2
    assert [c["name"] for c in params["checkpoints"]] == [
        "car-park-bay-1", "car-park-bay-3", "car-park-bay-2", "main-entrance", "pharmacy"]
    assert params["checkpoints"][4] == {"name": "pharmacy", "place": "pharmacy", "closed_hours": [21.0, 7.0],
                                        "check_door": True}
    assert submitted[0].place == "car-park-bay-1"
    json.dumps(params)


def test_several_patrols_run_their_laps_side_by_side() -> None:
    submitted: list[TaskRequest] = []
    source = desk(submitted, patrols=2)
    source.step(at(7))
    assert [r.task_id for r in submitted] == ["patrol-1-20260105-070000-1", "patrol-2-20260105-070000-1"]
    source.on_task_finished(end(submitted[1], at(7.2)))
    source.step(at(7.5))
    assert [r.task_id for r in submitted][2] == "patrol-2-20260105-071700-2"


# ---- incidents ----------------------------------------------------------------------------------------


def test_reported_incidents_go_with_every_next_lap_until_a_lap_finds_them_cleared() -> None:
    submitted: list[TaskRequest] = []
    source = desk(submitted, lap_pause_min=0)
    source.step(at(7))
    first = submitted[0].task_id
    source.on_message(alert(first, "central-supply", "hot_spot", magnitude=1.2))
    source.on_message(alert(first, "central-supply", "hot_spot", magnitude=1.2))  # re-sent by the outbox
    source.on_message(alert(first, "kitchen", "device"))  # about the robot, not a hazard
    source.on_task_finished(end(submitted[0], at(7.2)))  # ended without a result: the alerts stand
    source.step(at(7.2))
    assert submitted[1].params["open_incidents"] == [
        {"checkpoint": "central-supply", "category": "hot_spot", "severity": "high", "magnitude": 1.2}]
    source.on_task_finished(end(submitted[1], at(7.4), open_incidents=[]))  # the robot found it cleared
    source.step(at(7.4))
    assert submitted[2].params["open_incidents"] == []
    summary = source.summary()
    assert summary["alerts_by_category"] == {"device": 1, "hot_spot": 1}
    assert summary["open_incidents"] == []


def test_a_laps_result_replaces_the_open_incidents() -> None:
    submitted: list[TaskRequest] = []
    source = desk(submitted, lap_pause_min=0)
    source.step(at(7))
    leak = {"checkpoint": "radiology-reception", "category": "water_leak", "severity": "medium", "magnitude": 1.6}
    source.on_task_finished(end(submitted[0], at(7.2), open_incidents=[leak]))
    source.step(at(7.2))
    assert submitted[1].params["open_incidents"] == [leak]
    assert source.summary()["open_incidents"] == ["radiology-reception:water_leak"]


def test_alerts_of_other_missions_are_not_the_desks() -> None:
    submitted: list[TaskRequest] = []
    source = desk(submitted)
    source.step(at(7))
    source.on_message(alert("someone-elses-patrol", "kitchen", "fire"))
    source.on_message(alert("x", "kitchen", "fire", message_task="other-task"))
    assert source.summary()["alerts_by_category"] == {}
    # the fleet's own bookkeeping may name the task; a later attempt's mission id is <task>.2
    source.on_message(alert("x", "kitchen", "fire", message_task=submitted[0].task_id))
    source.on_message(alert(f"{submitted[0].task_id}.2", "pharmacy", "door_open"))
    assert source.summary()["alerts_by_category"] == {"door_open": 1, "fire": 1}


# ---- restart ----------------------------------------------------------------------------------------------


def test_a_restarted_fleet_submits_no_lap_twice_and_keeps_the_open_incidents() -> None:
    submitted: list[TaskRequest] = []
    source = desk(submitted)
    source.step(at(7))
    source.on_message(alert(submitted[0].task_id, "kitchen", "fire"))
    state = json.loads(json.dumps(source.snapshot()))

    after: list[TaskRequest] = []
    restarted = build(context(after, at(7.1)), {})
    restarted.restore(state)
    restarted.step(at(7.1))
    assert after == []  # the lap is still out
    restarted.on_task_finished(end(submitted[0], at(7.2)))
    restarted.step(at(7.2) + 300)
    (lap,) = after
    assert lap.task_id == "patrol-1-20260105-071700-2"
    assert lap.params["open_incidents"] == [
        {"checkpoint": "kitchen", "category": "fire", "severity": "high", "magnitude": 1.0}]
    assert restarted.summary()["laps_requested"] == 2


def test_a_lap_that_ended_while_the_fleet_was_down_is_still_booked_on_restart() -> None:
    submitted: list[TaskRequest] = []
    source = desk(submitted)
    source.step(at(7))
    source.on_task_finished(end(submitted[0], at(7.2)))
    state = json.loads(json.dumps(source.snapshot()))
    after: list[TaskRequest] = []
    restarted = build(context(after, at(9)), {})
    restarted.restore(state)
    restarted.step(at(9))
    assert [r.task_id for r in after] == ["patrol-1-20260105-071700-2"]  # due since 07:17: goes now


# ---- bad settings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "field"), [
    ({"plans": [{"name": "day", "from": "7:00", "route": "day"}]}, "demand.patrol_plans.plans.0.from"),
    ({"plans": [{"name": "day", "from": "07:00", "route": "day", "checkpoints": ["pharmacy"]}]},
     "demand.patrol_plans.plans.0"),
    ({"plans": [{"name": "day", "from": "07:00"}]}, "demand.patrol_plans.plans.0"),
    ({"plans": [{"name": "day", "from": "07:00", "checkpoints": ["pharmacy", "attic"]}]},
     "demand.patrol_plans.plans.0.checkpoints.1"),
    ({"plans": [{"name": "day", "from": "07:00", "checkpoints": ["pharmacy", {"place": "pharmacy"}]}]},
     "demand.patrol_plans.plans.0.checkpoints"),
    ({"plans": [{"name": "a", "from": "07:00", "route": "day"}, {"name": "b", "from": "07:00", "route": "x"}]},
     "demand.patrol_plans.plans"),
    ({"plans": []}, "demand.patrol_plans.plans"),
    ({"patrols": 0}, "demand.patrol_plans.patrols"),
    ({"lap_pause_min": -1}, "demand.patrol_plans.lap_pause_min"),
    ({"day_from": "07:00"}, "demand.patrol_plans.day_from"),
])
def test_bad_settings_name_the_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(DemandError, match=f"^{field.replace('.', '[.]')}:"):
        desk([], **settings)


def test_a_car_park_plan_on_a_site_without_one_is_refused() -> None:
    ctx = context([], at(7))
    for name in [n for n, p in ctx.site.places.items() if p.kind == "parking"]:
        del ctx.site.places[name]
    with pytest.raises(DemandError, match=r"^demand[.]patrol_plans[.]plans[.]0[.]car_park:"):
        build(ctx, {"plans": [{"name": "night", "from": "20:00", "car_park": True}]})
