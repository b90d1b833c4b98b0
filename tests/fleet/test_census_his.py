"""The fleet reads the HIS link's census and lab pick-ups over a real Mosquitto (issue 16, "Done when").

python-hl7 plays the hospital's integration engine (tests/his/hospital.py): it sends ADT and
specimen orders over loopback MLLP to the HIS link (`HisService` + its `MllpServer` + `HisLink`, the
classes of `medbot his run`); the link publishes the census retained on ``his/census`` and the
pick-ups on ``fleet/tasks/request``; the fleet (`FleetService` on its `FleetLink`, the classes of
`medbot fleet run`, with the ward chart as its demand source) reads them off the broker. The
fleet is stepped by hand on a test clock, so "the next round" is a step past the round interval.
A lab robot is played on the broker with the contract's messages (factsheet, connection, state)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fleet.census import with_census
from fleet.config import FleetConfig
from fleet.demand import DemandContext
from fleet.demand.ward_chart import build as build_ward_chart
from fleet.mqtt_link import FleetLink
from fleet.service import FleetService
from fleet.site import site_from_json
from fleet.store import TaskStore
from fleet.tasks import TaskState
from his.link import HisLink
from his.mllp import MllpServer
from his.service import HisService
from his.store import Store
from sim.world import load_default_world
from sim.world_export import world_json
from telemetry.codec import MessageEncoder
from telemetry.topics import FLEET_ID, HIS_ID, Channel, topic_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "his"))  # the python-hl7 hospital
from hospital import POLICY, adt, order, pseudonyms, send

pytestmark = pytest.mark.integration

SITE = "census-hospital"
ROUND_S = 4 * 3600.0
WAIT_S = 10.0


@dataclass
class Setup:
    fleet: FleetService
    link: FleetLink
    his: HisService
    mllp: MllpServer
    broker: Any
    now_s: float = 1_767_600_000.0
    robot_messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def step(self, seconds: float = 1.0) -> None:
        self.now_s += seconds
        pending = self.link.take_received()
        self.fleet.step(self.now_s)
        self.link.acknowledge(pending)

    def step_until(self, what: str, predicate: Callable[[], bool]) -> None:
        """Step (1 s each) until the messages that make `predicate` true came over the broker."""
        deadline = time.monotonic() + WAIT_S
        while not predicate():
            assert time.monotonic() < deadline, f"{what}: not within {WAIT_S} s"
            time.sleep(0.02)
            self.step()

    def hospital(self, *messages: str) -> None:
        acks = send("127.0.0.1", self.mllp.port, *messages)
        assert [a.code for a in acks] == ["AA"] * len(messages), [(a.code, a.text) for a in acks]

    def round_beds(self) -> dict[str, str]:
        """bed id -> patient ref of the latest round booked on every ward (the rounds of one time)."""
        rounds = sorted((t for t in self.fleet.tasks() if t.kind == "nursing_round"),
                        key=lambda t: (t.request.earliest_start_s or 0.0, t.task_id))
        if not rounds:
            return {}
        latest = max(t.request.earliest_start_s or 0.0 for t in rounds)
        return {b["bed_id"]: b["patient_ref"] for t in rounds if t.request.earliest_start_s == latest
                for b in t.request.params["beds"]}


def _clear_retained(broker: Any) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(broker.host, broker.port)
    client.loop_start()
    for robot_id, channel in ((HIS_ID, Channel.CENSUS), (HIS_ID, Channel.CONNECTION), (FLEET_ID, Channel.CONNECTION),
                              ("lab-1", Channel.CONNECTION), ("lab-1", Channel.FACTSHEET)):
        client.publish(topic_for(SITE, robot_id, channel), b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def setup(mosquitto: Any, tmp_path: Path) -> Iterator[Setup]:
    site = site_from_json(world_json(load_default_world()), "default_hospital")
    his_link = HisLink(mosquitto.url, SITE, client_id=f"his-{time.monotonic_ns()}")
    his = HisService(Store(tmp_path / "his.db"), pseudonyms(), POLICY, his_link)
    his_link.start(his.on_task)
    his.publish_census()  # as `medbot his run` does at start: the (empty) census, retained
    mllp = MllpServer(his.handle, "127.0.0.1", 0)
    mllp.start()
    config = FleetConfig.model_validate({"requesters": {"his": {"role": "operator"}}})
    link = FleetLink(mosquitto.url, SITE, client_id=f"fleet-{time.monotonic_ns()}")
    fleet = FleetService(config, site, TaskStore(tmp_path / "fleet.db"), link, site_id=SITE)
    s = Setup(fleet, link, his, mllp, mosquitto)
    ctx = DemandContext(site=site, seed=0, start_s=s.now_s, end_s=None,
                        submit=lambda r: fleet.submit_from_source("ward_chart", r),
                        hospital=with_census({}, fleet.census))
    fleet.add_source(build_ward_chart(ctx, {"round_interval_h": ROUND_S / 3600.0}))
    link.start(fleet.on_message)
    try:
        yield s
    finally:
        mllp.stop()
        his_link.close()
        link.close()
        fleet.close()
        his.store.close()
        _clear_retained(mosquitto)


def test_admissions_appear_in_the_census_and_in_the_next_rounds_beds(setup: Setup) -> None:
    s, ref = setup, pseudonyms().ref
    # the first round waits for the census; it came empty (nobody admitted yet): no round of nobody
    s.step_until("the empty census", lambda: s.fleet.census.ready)
    assert s.round_beds() == {}
    s.hospital(adt("A01", "MRN-1", "A-01", "ward-a"), adt("A01", "MRN-2", "A-02", "ward-a"),
               adt("A01", "MRN-3", "B-01", "ward-b"))
    s.step_until("the census of three", lambda: len(s.fleet.census.beds()) == 3)
    assert s.fleet.census.beds() == {"A-01": ref("MRN-1"), "A-02": ref("MRN-2"), "B-01": ref("MRN-3")}
    s.step(ROUND_S)
    assert s.round_beds() == {"A-01": ref("MRN-1"), "A-02": ref("MRN-2"), "B-01": ref("MRN-3")}
    # an admission between rounds is in the next one
    s.hospital(adt("A01", "MRN-4", "B-02", "ward-b"))
    s.step_until("the admission", lambda: "B-02" in s.fleet.census.beds())
    assert "B-02" not in s.round_beds()
    s.step(ROUND_S)
    assert s.round_beds() == {"A-01": ref("MRN-1"), "A-02": ref("MRN-2"), "B-01": ref("MRN-3"),
                              "B-02": ref("MRN-4")}


def test_a_transfer_moves_the_patient_before_the_next_round(setup: Setup) -> None:
    s, ref = setup, pseudonyms().ref
    s.hospital(adt("A01", "MRN-1", "A-01", "ward-a"), adt("A01", "MRN-2", "B-01", "ward-b"))
    s.step_until("the census", lambda: len(s.fleet.census.beds()) == 2)
    s.step(ROUND_S)
    assert s.round_beds() == {"A-01": ref("MRN-1"), "B-01": ref("MRN-2")}
    s.hospital(adt("A02", "MRN-1", "B-05", "ward-b", prior_bed="A-01", prior_ward="ward-a"))
    s.step_until("the transfer", lambda: "B-05" in s.fleet.census.beds())
    s.step(ROUND_S)
    # the next round visits the patient in the new bed, under the same ref; the old bed is not visited
    assert s.round_beds() == {"B-05": ref("MRN-1"), "B-01": ref("MRN-2")}


def test_a_discharge_removes_the_patient_from_the_next_round(setup: Setup) -> None:
    s, ref = setup, pseudonyms().ref
    s.hospital(adt("A01", "MRN-1", "A-01", "ward-a"), adt("A01", "MRN-2", "A-02", "ward-a"))
    s.step_until("the census", lambda: len(s.fleet.census.beds()) == 2)
    s.hospital(adt("A03", "MRN-2"))
    s.step_until("the discharge", lambda: "A-02" not in s.fleet.census.beds())
    s.step(ROUND_S)
    assert s.round_beds() == {"A-01": ref("MRN-1")}
    assert ref("MRN-2") not in s.fleet.census.beds().values()


class LabRobot:
    """A lab robot on the broker, as the contract shows one: online, idle at its dock; it records
    every command the fleet sends it (and runs none: the test only asks what it was sent)."""

    def __init__(self, broker: Any, site: Any) -> None:
        self.commands: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._encoder = MessageEncoder(SITE, "lab-1")
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"lab-1-{time.monotonic_ns()}")
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.subscribe(topic_for(SITE, "lab-1", Channel.COMMANDS), qos=1)
        self._client.loop_start()
        dock = site.place("dock-lab")
        self._publish(Channel.FACTSHEET, {
            "kind": "lab", "capabilities": ["sample_pickup"], "software_version": "test",
            "missions": {"sample_pickup": {"type": "object"}}, "home_dock": "dock-lab", "serves": "clinical-lab",
            "confined": False, "max_speed_mps": 1.0,
            "battery": {"capacity_wh": 600, "energy_per_m_wh": 0.05, "reserve_floor_soc_fraction": 0.15}})
        self._publish(Channel.CONNECTION, {"state": "ONLINE", "session": 1})
        self._publish(Channel.STATE, {
            "pose": {"x_m": dock.x_m, "y_m": dock.y_m, "yaw_rad": 0.0, "level": dock.level},
            "velocity": {"linear_mps": 0.0, "angular_radps": 0.0}, "battery": {"soc_fraction": 0.9, "charging": False},
            "operating_mode": "automatic", "safety": {"state": "normal", "estop_latched": False, "reason": ""},
            "mission": None, "errors": [], "devices": {}})

    def _publish(self, channel: Channel, body: dict[str, Any]) -> None:
        wire = self._encoder.encode(channel, body, time.time())
        self._client.publish(wire.topic, wire.payload, qos=wire.qos, retain=wire.retain).wait_for_publish(5)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        import json

        with self._lock:
            self.commands.append(json.loads(message.payload)["body"])

    def dispatched(self) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self.commands if c.get("command") == "dispatch"]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def test_a_cancelled_orders_pick_up_never_runs(setup: Setup) -> None:
    s = setup
    s.hospital(adt("A01", "MRN-1", "A-01", "ward-a"), order("MRN-1", "ORD-1", specimen="SPEC-1"))
    s.step_until("the pick-up request", lambda: any(t.kind == "sample_pickup" for t in s.fleet.tasks()))
    [pickup] = [t for t in s.fleet.tasks() if t.kind == "sample_pickup"]
    assert pickup.request.params["expected_samples"] == ["SPEC-1"] and pickup.state is TaskState.WAITING
    # the HIS link hears from the fleet (tasks topic) that the pick-up waits; the hospital cancels
    s.step_until("the waiting state at the HIS link", lambda: _fleet_state(s.his, pickup.task_id) is not None)
    s.hospital(order("MRN-1", "ORD-1", control="CA"))
    s.step_until("the withdrawal", lambda: s.fleet.task(pickup.task_id).state is TaskState.CANCELLED)
    # a lab robot comes online: a second order's pick-up is given to it, the cancelled one never is
    robot = LabRobot(s.broker, s.fleet.site)
    try:
        s.hospital(order("MRN-1", "ORD-2", specimen="SPEC-2"))
        s.step_until("the second pick-up dispatched", lambda: len(robot.dispatched()) >= 1)
        for _ in range(20):
            s.step(5.0)
        dispatched = [c["params"].get("task_id") or c["params"].get("mission_id") for c in robot.dispatched()]
        [second] = [t for t in s.fleet.tasks() if t.kind == "sample_pickup" and t.task_id != pickup.task_id]
        assert all(pickup.task_id not in str(c) for c in robot.dispatched()), dispatched
        assert any(second.task_id in str(c) for c in robot.dispatched())
        assert s.fleet.task(pickup.task_id).state is TaskState.CANCELLED
        assert s.fleet.task(pickup.task_id).robot_id is None
        s.step_until("the cancel confirmed at the HIS link", lambda: _order_state(s.his, pickup.task_id) == "cancelled")
    finally:
        robot.close()


def _fleet_state(his: HisService, task_id: str) -> str | None:
    with his.store.reading() as c:
        row = c.execute("SELECT fleet_state FROM orders WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None or row[0] is None else str(row[0])


def _order_state(his: HisService, task_id: str) -> str | None:
    with his.store.reading() as c:
        row = c.execute("SELECT state FROM orders WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None else str(row[0])
