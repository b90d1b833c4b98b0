"""Fleet KPIs from stored fleet topics, on SQLite and on a real PostgreSQL: each figure checked against
a hand-made day of tasks. The messages go through the ingest's decode, framed as the fleet frames them,
so this also shows fleet topics are stored like any other channel (robot_id column ``fleet``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from datacenter.ingest import decode_message
from datacenter.kpi import fleet_kpis, fleet_task_kpis, percentile, render_report
from datacenter.store import Store, StoredMessage
from telemetry.codec import MessageEncoder
from telemetry.envelope import iso_timestamp
from telemetry.examples import example_body
from telemetry.topics import FLEET_ID, Channel

SITE = "general-hospital"


def at(hhmm: str) -> float:
    """Epoch seconds of a time on the test day, ``"08:01"`` or ``"08:01:30"``."""
    return datetime.fromisoformat(f"2026-01-05T{hhmm}+00:00").astimezone(UTC).timestamp()


def iso(hhmm: str | None) -> str | None:
    return None if hhmm is None else iso_timestamp(at(hhmm))


class Wire:
    """Frames messages as their publishers would and decodes them as the ingest does."""

    def __init__(self) -> None:
        self.encoders: dict[str, MessageEncoder] = {}
        self.rows: list[StoredMessage] = []

    def restart(self, robot_id: str) -> None:
        self.encoders.pop(robot_id, None)  # a new process: seq from 0 again

    def send(self, robot_id: str, channel: Channel, body: dict[str, Any], hhmm: str) -> None:
        encoder = self.encoders.setdefault(robot_id, MessageEncoder(SITE, robot_id))
        wire = encoder.encode(channel, body, at(hhmm))
        row, reason = decode_message(wire.topic, wire.payload, 0)
        assert row is not None, reason
        self.rows.append(row)

    def task(self, hhmm: str, task_id: str, kind: str, state: str, **fields: Any) -> None:
        times = {name: iso(fields.pop(name, None)) for name in ("created", "earliest_start", "deadline", "started",
                                                                "finished")}
        body = {**example_body(Channel.TASKS), "task_id": task_id, "kind": kind, "state": state,
                "robot_id": fields.pop("robot_id", None), "updated": iso(hhmm), "reason": None,
                "unassignable": None, "reallocations": 0, **times, **fields}
        self.send(FLEET_ID, Channel.TASKS, body, hhmm)

    def succeeded(self, hhmm: str, robot_id: str, task_id: str, mission_id: str) -> None:
        self.send(robot_id, Channel.EVENTS, {**example_body(Channel.EVENTS), "event": "mission.succeeded",
                                             "mission_id": mission_id, "task_id": task_id}, hhmm)


def a_day() -> Wire:
    w = Wire()
    due = {"created": "08:00"}
    # supply deliveries: on time; late (done after its deadline, once re-allocated); failed; cancelled;
    # still waiting past its deadline (no robot can take it); rejected
    w.task("08:00", "d-1", "supply_delivery", "waiting", deadline="09:00", **due)
    w.task("08:01", "d-1", "supply_delivery", "running", robot_id="logistics-1", deadline="09:00", started="08:01",
           **due)
    w.task("08:10", "d-1", "supply_delivery", "done", robot_id="logistics-1", deadline="09:00", started="08:01",
           finished="08:10", **due)
    w.task("08:32", "d-2", "supply_delivery", "running", robot_id="logistics-1", earliest_start="08:30",
           deadline="09:00", started="08:32", **due)
    w.task("08:40", "d-2", "supply_delivery", "waiting", earliest_start="08:30", deadline="09:00",
           reason="logistics-1 went offline", reallocations=1, **due)
    w.task("08:41", "d-2", "supply_delivery", "running", robot_id="logistics-2", earliest_start="08:30",
           deadline="09:00", started="08:41", reallocations=1, **due)
    w.task("09:05", "d-2", "supply_delivery", "done", robot_id="logistics-2", earliest_start="08:30",
           deadline="09:00", started="08:41", finished="09:05", reallocations=1, **due)
    w.task("08:05", "d-3", "supply_delivery", "running", robot_id="logistics-2", deadline="10:00", started="08:05",
           **due)
    w.task("08:20", "d-3", "supply_delivery", "failed", robot_id="logistics-2", deadline="10:00", started="08:05",
           finished="08:20", reason="robot offline", **due)
    w.task("08:15", "d-4", "supply_delivery", "cancelled", deadline="08:30", reason="cancelled by op-1", **due)
    w.task("08:00", "d-5", "supply_delivery", "waiting", deadline="08:45", unassignable="every logistics robot offline",
           **due)
    w.task("08:00", "d-6", "supply_delivery", "rejected", reason="params: ward is required", **due)
    # nursing rounds: no deadlines; two failures for two reasons; one re-allocated twice
    w.task("08:00:30", "n-1", "nursing_round", "running", robot_id="nurse-a", started="08:00:30", reallocations=2,
           **due)
    w.task("08:30", "n-1", "nursing_round", "done", robot_id="nurse-b", started="08:00:30", finished="08:30",
           reallocations=2, **due)
    w.task("08:10", "n-2", "nursing_round", "running", robot_id="nurse-a", started="08:10", **due)
    w.task("08:12", "n-2", "nursing_round", "failed", robot_id="nurse-a", started="08:10", reason="robot offline",
           **due)
    w.task("08:20", "n-3", "nursing_round", "failed", reason="battery reserve", **due)
    # the fleet service restarts and announces d-1 again (seq from 0, a later stamp, the same state)
    w.restart(FLEET_ID)
    w.task("09:05", "d-1", "supply_delivery", "done", robot_id="logistics-1", deadline="09:00", started="08:01",
           finished="08:10", **due)
    # an older state of d-2 arriving late must not undo its end
    w.task("08:41", "d-2", "supply_delivery", "running", robot_id="logistics-2", earliest_start="08:30",
           deadline="09:00", started="08:41", reallocations=1, **due)
    # requests: d-1 was answered; x-lost never was
    submit = example_body(Channel.TASK_REQUESTS)
    w.send(FLEET_ID, Channel.TASK_REQUESTS, {**submit, "task": {**submit["task"], "task_id": "d-1"}}, "07:59")
    w.send(FLEET_ID, Channel.TASK_REQUESTS, {**submit, "task": {**submit["task"], "task_id": "x-lost"}}, "08:02")
    w.send(FLEET_ID, Channel.TASK_REQUESTS, {"action": "cancel", "issued_by": submit["issued_by"], "task_id": "d-4",
                                             "reason": None}, "08:14")
    w.send(FLEET_ID, Channel.ALERTS, {**example_body(Channel.ALERTS), "alert_id": "unassignable-d-5",
                                      "category": "fleet", "severity": "medium", "where": None,
                                      "summary": "d-5: every logistics robot offline", "data": {}}, "08:00")
    # robots' events: n-1 finished by two missions (it ran twice); d-1's success redelivered after a
    # robot restart (the same mission: once)
    w.succeeded("08:20", "nurse-a", "n-1", "n-1")
    w.succeeded("08:30", "nurse-b", "n-1", "n-1.2")
    w.succeeded("08:10", "logistics-1", "d-1", "d-1")
    w.restart("logistics-1")
    w.succeeded("08:11", "logistics-1", "d-1", "d-1")
    w.send("logistics-1", Channel.STATE, example_body(Channel.STATE), "08:00")
    w.send("logistics-1", Channel.STATE, example_body(Channel.STATE), "08:10")
    return w


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    assert (percentile([60.0, 120.0, 300.0], 50), percentile([60.0, 120.0, 300.0], 99)) == (120.0, 300.0)
    assert percentile([float(i) for i in range(1, 101)], 99) == 99.0


def test_fleet_topics_are_stored_like_any_channel_under_robot_id_fleet(store: Store) -> None:
    rows = a_day().rows
    assert store.insert_batch(rows) == len(rows)
    assert store.insert_batch(rows) == 0, "a redelivery is a no-op here too"
    assert store.counts_by_channel(robot_ids=[FLEET_ID]) == {"alerts": 1, "tasks": 19, "tasks/request": 3}
    assert {m.robot_id for m in store.messages("tasks")} == {FLEET_ID}


def test_fleet_task_kpis_per_kind_and_fleet_wide(store: Store) -> None:
    store.insert_batch(a_day().rows)
    f = fleet_task_kpis(store)
    supply, rounds = f["tasks"]["supply_delivery"], f["tasks"]["nursing_round"]
    assert {k: supply[k] for k in ("requested", "done", "failed", "cancelled", "rejected", "open")} == {
        "requested": 6, "done": 2, "failed": 1, "cancelled": 1, "rejected": 1, "open": 1}
    assert supply["failed_reasons"] == {"robot offline": 1}
    # waits from due to first start: d-1 60 s, d-2 120 s (due 08:30, not created 08:00; not its restart
    # at 08:41), d-3 300 s
    assert supply["wait_s"] == {"p50": 120.0, "p99": 300.0, "n": 3}
    # on time: d-1; late: d-2 (done after), d-3 (failed), d-5 (still waiting past 08:45); d-4 and d-6 no verdict
    assert (supply["on_time"], supply["late"], supply["on_time_share"]) == (1, 3, 0.25)
    assert supply["reallocations"] == 1
    assert {k: rounds[k] for k in ("requested", "done", "failed", "open")} == {
        "requested": 3, "done": 1, "failed": 2, "open": 0}
    assert rounds["failed_reasons"] == {"battery reserve": 1, "robot offline": 1}
    assert rounds["wait_s"] == {"p50": 30.0, "p99": 600.0, "n": 2}
    assert rounds["on_time_share"] is None, "no deadlines: no verdict"
    assert rounds["reallocations"] == 2
    assert (f["requested"], f["reallocations"], f["tasks_lost"], f["tasks_duplicated"]) == (9, 3, 1, 1)
    assert fleet_task_kpis(store, site="another-site")["tasks"] == {}


def test_the_fleet_section_is_in_the_kpis_and_the_report_and_fleet_is_not_a_robot(store: Store) -> None:
    store.insert_batch(a_day().rows)
    kpis = fleet_kpis(store, site=SITE)
    assert set(kpis["robots"]) == {"logistics-1"}
    assert kpis["alerts"]["by_category"] == {"fleet": 1}
    assert kpis["fleet"]["tasks"]["supply_delivery"]["on_time_share"] == 0.25
    report = render_report(kpis)
    assert "supply_delivery" in report and "failed 1x: robot offline" in report
    assert "re-allocations 3, tasks lost 1, tasks run twice 1" in report
    empty = render_report(fleet_kpis(store, site="another-site"))
    assert "none (no fleet service's tasks stored)" in empty
