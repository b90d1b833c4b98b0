"""KPIs of a hospital group (SQLite and PostgreSQL): each site on its own, and the group pooled — two
sites whose robots and alerts carry the same ids (each site names its own) must not be mixed."""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from datacenter.cli import datacenter_command
from datacenter.ingest import decode_message
from datacenter.kpi import GROUP_ROW, fleet_kpis, group_kpis, render_group_report
from datacenter.store import Store, StoredMessage
from telemetry.codec import MessageEncoder
from telemetry.envelope import iso_timestamp
from telemetry.examples import example_body
from telemetry.topics import FLEET_ID, Channel

T0 = 1767600000.0  # 2026-01-05T08:00:00Z


class Site:
    """Frames one site's messages as its robots and fleet would, decoded as the ingest decodes them."""

    def __init__(self, site: str) -> None:
        self.site = site
        self.encoders: dict[str, MessageEncoder] = {}
        self.rows: list[StoredMessage] = []

    def send(self, robot_id: str, channel: Channel, body: dict[str, Any], minute: float) -> None:
        encoder = self.encoders.setdefault(robot_id, MessageEncoder(self.site, robot_id))
        wire = encoder.encode(channel, body, T0 + minute * 60)
        row, reason = decode_message(wire.topic, wire.payload, 0)
        assert row is not None, reason
        self.rows.append(row)

    def state(self, robot_id: str, minute: float, *, busy: bool) -> None:
        body = {**example_body(Channel.STATE)}
        if not busy:
            body["mission"] = None
        self.send(robot_id, Channel.STATE, body, minute)

    def mission(self, robot_id: str, event: str, minute: float) -> None:
        self.send(robot_id, Channel.EVENTS, {**example_body(Channel.EVENTS), "event": event}, minute)

    def task(self, task_id: str, state: str, minute: float, *, deadline_min: float, finished_min: float | None) -> None:
        body = {**example_body(Channel.TASKS), "task_id": task_id, "state": state, "updated": iso_timestamp(
            T0 + minute * 60), "created": iso_timestamp(T0), "started": iso_timestamp(T0 + 60),
            "deadline": iso_timestamp(T0 + deadline_min * 60),
            "finished": None if finished_min is None else iso_timestamp(T0 + finished_min * 60)}
        self.send(FLEET_ID, Channel.TASKS, body, minute)


def _group_day(store: Store) -> None:
    north, south = Site("north"), Site("south")
    # the same robot id at both sites: north's nurse-01 busy half its time, south's all of it
    for minute, busy in ((0, True), (30, False), (60, False)):
        north.state("nurse-01", minute, busy=busy)
    for minute in (0, 30, 60):
        south.state("nurse-01", minute, busy=True)
    south.state("nurse-02", 0, busy=False)
    south.state("nurse-02", 60, busy=False)
    north.mission("nurse-01", "mission.succeeded", 20)
    south.mission("nurse-01", "mission.succeeded", 20)
    south.mission("nurse-02", "mission.failed", 40)
    # the same alert id at both sites; only north's is acknowledged
    for site in (north, south):
        site.send("nurse-01", Channel.ALERTS, example_body(Channel.ALERTS), 10)
    north.send("nurse-01", Channel.EVENTS, {**example_body(Channel.EVENTS), "event": "alert.acknowledged",
                                            "data": {"alert_id": "al-0001"}}, 12)
    # the same task id at both sites: done on time at north, late at south
    north.task("deliver-0001", "done", 30, deadline_min=60, finished_min=30)
    south.task("deliver-0001", "done", 90, deadline_min=60, finished_min=90)
    south.task("deliver-0002", "done", 50, deadline_min=60, finished_min=50)
    assert store.insert_batch(north.rows + south.rows) == len(north.rows) + len(south.rows)


def test_each_site_keeps_its_own_robots_alerts_and_tasks(store: Store) -> None:
    _group_day(store)
    north, south = fleet_kpis(store, site="north"), fleet_kpis(store, site="south")
    assert set(north["robots"]) == {"nurse-01"} and set(south["robots"]) == {"nurse-01", "nurse-02"}
    assert north["robots"]["nurse-01"]["utilisation_fraction"] == 0.5
    assert south["robots"]["nurse-01"]["utilisation_fraction"] == 1.0
    assert (north["alerts"]["answered"], north["alerts"]["unanswered"]) == (1, 0)
    assert (south["alerts"]["answered"], south["alerts"]["unanswered"]) == (0, 1), "north's ack is not south's"
    assert north["fleet"]["tasks"]["supply_delivery"]["on_time_share"] == 1.0
    assert south["fleet"]["tasks"]["supply_delivery"]["on_time_share"] == 0.5
    assert store.sites() == ["north", "south"]


def test_the_group_rolls_every_site_up_without_mixing_them(store: Store) -> None:
    _group_day(store)
    kpis = group_kpis(store)
    group = kpis["group"]
    assert set(group["robots"]) == {"north/nurse-01", "south/nurse-01", "south/nurse-02"}
    assert group["robots"]["north/nurse-01"]["utilisation_fraction"] == 0.5
    assert group["missions"]["vitals_round"] == {"succeeded": 2, "failed": 1}
    assert (group["alerts"]["total"], group["alerts"]["answered"], group["alerts"]["unanswered"]) == (2, 1, 1)
    assert group["fleet"]["requested"] == 3, "deliver-0001 of north and of south are two tasks"
    assert group["fleet"]["tasks"]["supply_delivery"]["on_time_share"] == round(2 / 3, 3)
    rows = {row["site"]: row for row in kpis["table"]}
    assert list(rows) == ["north", "south", GROUP_ROW]
    assert (rows["north"]["robots"], rows["south"]["robots"], rows[GROUP_ROW]["robots"]) == (1, 2, 3)
    assert rows["south"]["missions_failed"] == 1 and rows[GROUP_ROW]["missions_succeeded"] == 2
    assert rows[GROUP_ROW]["on_time_share"] == round(2 / 3, 3)
    assert rows[GROUP_ROW]["messages"] == rows["north"]["messages"] + rows["south"]["messages"] == store.count()
    report = render_group_report(kpis)
    assert report.splitlines()[2].startswith("north") and report.splitlines()[4].startswith(GROUP_ROW)
    assert "Group (every site pooled)" in report


def test_the_kpi_command_prints_the_group_by_site(store: Store) -> None:
    _group_day(store)
    out = CliRunner().invoke(datacenter_command, ["kpi", "--store", store.url, "--by-site"])
    assert out.exit_code == 0, out.output
    assert [line.split()[0] for line in out.output.splitlines()[2:5]] == ["north", "south", GROUP_ROW]
    refused = CliRunner().invoke(datacenter_command, ["kpi", "--store", store.url, "--by-site", "--site", "north"])
    assert refused.exit_code == 2 and "leave out --site" in refused.output
