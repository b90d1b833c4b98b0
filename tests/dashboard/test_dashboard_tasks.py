"""The task queue in FleetState / TaskBoard: fleet topics, latest body per task, per-robot assignment,
bounds, the request log, redaction. No broker: messages are fed as the link would feed them."""

from __future__ import annotations

from typing import Any

from dashboard.state import FleetState
from dashboard.tasks import TASK_FIELDS, TaskBoard
from telemetry.envelope import iso_timestamp, make_envelope
from telemetry.examples import example_body
from telemetry.topics import FLEET_ID, Channel, topic_for
from telemetry.validate import validate

SITE = "ward-3"
T0 = 1767600000.0


def feed(state: FleetState, channel: Channel, body: dict[str, Any], stamp_s: float, *, robot: str = FLEET_ID,
         seq: int = 0, retained: bool = False, check: bool = True) -> None:
    envelope = make_envelope(channel, robot, seq, stamp_s, body)
    if check:
        validate(channel, envelope)  # the tests feed what the contract allows, unless they test the opposite
    state.ingest(topic_for(SITE, robot, channel), envelope, retained)


def task(task_id: str, state: str, at_s: float, *, robot_id: str | None = None, kind: str = "supply_delivery",
         **changes: Any) -> dict[str, Any]:
    body = {**example_body(Channel.TASKS), "task_id": task_id, "kind": kind, "state": state, "robot_id": robot_id,
            "updated": iso_timestamp(at_s), "started": None, "finished": None, "reason": None, "unassignable": None}
    return {**body, **changes}


def robot_online(state: FleetState, robot_id: str, stamp_s: float = T0) -> None:
    feed(state, Channel.FACTSHEET, {**example_body(Channel.FACTSHEET), "kind": "logistics",
                                    "missions": {"supply_delivery": {"type": "object"}}}, stamp_s, robot=robot_id,
         retained=True)
    feed(state, Channel.CONNECTION, {"state": "ONLINE", "session": 1}, stamp_s, robot=robot_id)


def test_fleet_topics_never_become_a_robot() -> None:
    state = FleetState()
    robot_online(state, "logistics-1")
    feed(state, Channel.CONNECTION, {"state": "ONLINE", "session": 4}, T0, retained=True)
    feed(state, Channel.TASKS, task("t-1", "waiting", T0 + 1, unassignable="kind not offered by any robot"), T0 + 1)
    feed(state, Channel.TASK_REQUESTS, example_body(Channel.TASK_REQUESTS), T0 + 2)
    feed(state, Channel.ALERTS, {**example_body(Channel.ALERTS), "alert_id": "unassignable-t-1", "category": "fleet",
                                 "severity": "medium", "summary": "t-1: kind not offered by any robot",
                                 "where": None}, T0 + 3)
    assert list(state.robots) == [f"{SITE}/logistics-1"], "robot_id 'fleet' is not a robot"
    snapshot = state.snapshot(clinical=False)
    assert [r["robot_id"] for r in snapshot["robots"]] == ["logistics-1"]
    assert snapshot["fleet_services"] == [{"site": SITE, "connection": "ONLINE", "session": 4}]
    alert = state.alerts[f"{SITE}/{FLEET_ID}/unassignable-t-1"]
    assert (alert["robot_id"], alert["category"]) == (FLEET_ID, "fleet")
    assert [t["unassignable"] for t in snapshot["tasks"]] == ["kind not offered by any robot"]
    # the fleet's stale Last Will (an older session) does not mark the service down
    feed(state, Channel.CONNECTION, {"state": "CONNECTION_BROKEN", "session": 3}, T0 + 4, retained=True)
    assert state.fleet_services[SITE]["connection"] == "ONLINE"
    feed(state, Channel.CONNECTION, {"state": "CONNECTION_BROKEN", "session": 4}, T0 + 5)
    assert state.fleet_services[SITE]["connection"] == "CONNECTION_BROKEN"
    assert state.robots[f"{SITE}/logistics-1"]["mission_kinds"] == ["supply_delivery"]


def test_the_latest_body_per_task_is_kept_and_an_older_one_never_overwrites_it() -> None:
    state = FleetState()
    feed(state, Channel.TASKS, task("t-1", "running", T0 + 10, robot_id="logistics-1"), T0 + 10, seq=5)
    feed(state, Channel.TASKS, task("t-1", "assigned", T0 + 5, robot_id="logistics-1"), T0 + 5, seq=3)
    assert state.board.tasks[f"{SITE}/t-1"]["state"] == "running"
    # two changes in the same millisecond: the later message (higher seq) wins, a redelivered earlier one not
    feed(state, Channel.TASKS, task("t-1", "waiting", T0 + 10, reason="logistics-1 went offline"), T0 + 10, seq=6)
    feed(state, Channel.TASKS, task("t-1", "running", T0 + 10, robot_id="logistics-1"), T0 + 10, seq=5)
    held = state.board.tasks[f"{SITE}/t-1"]
    assert (held["state"], held["reason"], held["robot_id"]) == ("waiting", "logistics-1 went offline", None)
    assert len(state.board.tasks) == 1


def test_each_robot_shows_the_task_it_runs_and_the_ones_planned_for_it() -> None:
    state = FleetState()
    robot_online(state, "logistics-1")
    robot_online(state, "logistics-2")
    state.drain()
    feed(state, Channel.TASKS, task("t-1", "assigned", T0 + 1, robot_id="logistics-1"), T0 + 1)
    feed(state, Channel.TASKS, task("t-2", "assigned", T0 + 2, robot_id="logistics-1", priority=80), T0 + 2)
    feed(state, Channel.TASKS, task("t-1", "running", T0 + 3, robot_id="logistics-1"), T0 + 3)
    robots, events, _, _ = state.drain()
    assert [r["robot_id"] for r in robots] == ["logistics-1"], "the robot's row is pushed again"
    assert robots[0]["tasks"] == [{"task_id": "t-1", "kind": "supply_delivery", "state": "running"},
                                  {"task_id": "t-2", "kind": "supply_delivery", "state": "assigned"}]
    assert [e["task"]["task_id"] for e in events if e["type"] == "task"] == ["t-1", "t-2", "t-1"]
    # the planned task moves to the other robot (re-planned), the running one finishes
    feed(state, Channel.TASKS, task("t-2", "dispatched", T0 + 4, robot_id="logistics-2"), T0 + 4)
    feed(state, Channel.TASKS, task("t-1", "done", T0 + 5, robot_id="logistics-1"), T0 + 5)
    assert state.robots[f"{SITE}/logistics-1"]["tasks"] == []
    assert state.robots[f"{SITE}/logistics-2"]["tasks"] == [
        {"task_id": "t-2", "kind": "supply_delivery", "state": "dispatched"}]
    # a robot first heard of after its task was assigned still shows it
    feed(state, Channel.TASKS, task("t-3", "assigned", T0 + 6, robot_id="logistics-3"), T0 + 6)
    assert f"{SITE}/logistics-3" not in state.robots, "a task does not invent a robot"
    robot_online(state, "logistics-3", T0 + 7)
    assert [t["task_id"] for t in state.robots[f"{SITE}/logistics-3"]["tasks"]] == ["t-3"]


def test_the_board_keeps_open_tasks_and_the_newest_finished_ones() -> None:
    board = TaskBoard(max_finished=3, max_open=4)
    for i in range(6):
        board.apply(SITE, task(f"done-{i}", "done", T0 + i), seq=i)
    for i in range(2):
        board.apply(SITE, task(f"open-{i}", "waiting", T0 + 10 + i), seq=10 + i)
    assert sorted(board.tasks) == [f"{SITE}/{k}" for k in ("done-3", "done-4", "done-5", "open-0", "open-1")]
    # a late redelivery of an evicted task's older state does not bring it back as a ghost
    held, _, _ = board.apply(SITE, task("done-0", "running", T0 - 1, robot_id="logistics-1"), seq=0)
    assert held is None and f"{SITE}/done-0" not in board.tasks
    # a task that reopens (re-queued after a failed attempt) counts as open again, not as finished
    board.apply(SITE, task("done-5", "waiting", T0 + 20), seq=20)
    assert board.counts()["waiting"] == 3 and board.counts()["done"] == 2
    for i in range(3):  # past max_open: the oldest open task goes (a fleet this busy is unusual)
        board.apply(SITE, task(f"more-{i}", "waiting", T0 + 30 + i), seq=30 + i)
    assert sum(1 for t in board.tasks.values() if t["state"] == "waiting") == 4 and board.dropped_open == 2


def test_a_tasks_body_breaking_the_contract_is_not_shown_and_fields_are_the_contracts_only() -> None:
    state = FleetState()
    bad = {**task("t-1", "waiting", T0), "params": {"patient_ref": "pt-3fa9c2"}}  # params must never travel here
    feed(state, Channel.TASKS, bad, T0, check=False)
    feed(state, Channel.TASKS, {**task("t-2", "waiting", T0), "state": "lost"}, T0, check=False)
    assert state.board.tasks == {} and state.ignored == 2
    feed(state, Channel.TASKS, task("t-3", "waiting", T0), T0)
    held = state.board.tasks[f"{SITE}/t-3"]
    assert set(held) - TASK_FIELDS == {"key", "site", "robot_key", "updated_s"} and "params" not in held


def test_the_request_log_shows_the_fleets_answer() -> None:
    state = FleetState()
    state.record_task_request("r-1", SITE, "submit", "t-1", "supply_delivery", "op-1", "2026-01-05T08:00:00.000Z")
    state.record_task_request("r-2", SITE, "submit", "t-bad", "no_such_kind", "op-1", "2026-01-05T08:00:00.000Z")
    feed(state, Channel.TASKS, task("t-1", "waiting", T0), T0)
    feed(state, Channel.TASKS, task("t-bad", "rejected", T0, kind="no_such_kind",
                                    reason="no robot offers no_such_kind"), T0)
    requests = state.board.requests
    assert (requests["r-1"]["status"], requests["r-2"]["status"]) == ("waiting", "rejected")
    assert requests["r-2"]["reason"] == "no robot offers no_such_kind"
    # a cancel is answered by the task ending, not by whatever the fleet publishes first
    state.record_task_request("r-3", SITE, "cancel", "t-1", None, "op-1", "2026-01-05T08:01:00.000Z")
    feed(state, Channel.TASKS, task("t-1", "assigned", T0 + 1, robot_id="logistics-1"), T0 + 1)
    assert requests["r-3"]["status"] == "sent"
    feed(state, Channel.TASKS, task("t-1", "cancelled", T0 + 2, reason="cancelled by op-1"), T0 + 2)
    assert requests["r-3"]["status"] == "cancelled"
    state.record_task_request("r-4", SITE, "submit", "t-4", "supply_delivery", "op-1", "2026-01-05T08:02:00.000Z")
    state.task_request_failed("r-4", "no connection to the broker")
    assert requests["r-4"]["status"] == "error"
    events = [e for e in state.drain()[1] if e["type"] == "task_request"]
    assert [e["request"]["status"] for e in events] == ["sent", "sent", "waiting", "rejected", "sent", "cancelled",
                                                         "sent", "error"]


def test_reasons_quoting_a_patient_reference_are_masked_for_non_clinical_sessions() -> None:
    state = FleetState()
    feed(state, Channel.TASKS, task("t-1", "failed", T0, reason="pt-3fa9c2 not in bed A-01"), T0)
    assert state.snapshot(clinical=False)["tasks"][0]["reason"] == "pt-•••• not in bed A-01"
    assert state.snapshot(clinical=True)["tasks"][0]["reason"] == "pt-3fa9c2 not in bed A-01"
