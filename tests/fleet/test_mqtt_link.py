"""The fleet's MQTT link against a real Mosquitto, over MQTT 5 and 3.1.1: what it lets through to
the service (validated, bad payloads dropped), how it frames commands, its persistent session
(messages sent while it is down arrive after a restart; one it never acknowledged is redelivered
after a crash) and its own connection status with a Last Will."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fleet.mqtt_link import FleetLink
from telemetry import TelemetryPublisher, TelemetrySubscriber
from telemetry.codec import MessageEncoder
from telemetry.commands import AuditLog, CommandPolicy, CommandProcessor, command_body
from telemetry.examples import example_body
from telemetry.topics import FLEET_ID, Channel, topic_for

pytestmark = pytest.mark.integration

Message = tuple[str, str, dict[str, Any], float]


class Inbox:
    """Stands in for FleetService.on_message: records, and lets a test wait (bounded)."""

    def __init__(self) -> None:
        self.got: list[Message] = []
        self._cond = threading.Condition()

    def __call__(self, robot_id: str, channel: str, body: dict[str, Any], stamp_s: float) -> None:
        with self._cond:
            self.got.append((robot_id, channel, body, stamp_s))
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Message]], bool], timeout_s: float = 10.0) -> list[Message]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self.got):
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; got {[(r, c) for r, c, _, _ in self.got]}"
                self._cond.wait(left)
            return list(self.got)

    def events(self) -> list[dict[str, Any]]:
        with self._cond:
            return [b for _, c, b, _ in self.got if c == "events"]


def raw_publish(host: str, port: int, topic: str, payload: bytes, qos: int = 1) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{uuid.uuid4().hex[:8]}")
    client.connect(host, port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=qos).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def event(mission_id: str) -> dict[str, Any]:
    body = example_body(Channel.EVENTS)
    body["mission_id"] = mission_id
    return body


@pytest.fixture(params=[True, False], ids=["mqtt5", "mqtt311"])
def mqtt5(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def site() -> str:
    return f"link-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def robot(mosquitto: Any, site: str) -> Iterator[TelemetryPublisher]:
    pub = TelemetryPublisher(mosquitto.url, site, "r-1")
    pub.connect()
    yield pub
    pub.close()


def make_link(mosquitto: Any, site: str, mqtt5: bool) -> FleetLink:
    return FleetLink(mosquitto.url, site, mqtt5=mqtt5, connect_timeout_s=5.0, reconnect_max_delay_s=1)


def test_valid_messages_reach_the_service_and_bad_ones_are_dropped(mosquitto: Any, site: str, mqtt5: bool,
                                                                    robot: TelemetryPublisher) -> None:
    inbox = Inbox()
    link = make_link(mosquitto, site, mqtt5)
    link.start(inbox)
    try:
        events_topic = topic_for(site, "r-1", Channel.EVENTS)
        raw_publish(mosquitto.host, mosquitto.port, events_topic, b"{not json")
        raw_publish(mosquitto.host, mosquitto.port, events_topic, json.dumps(
            {"header": {"seq": 0, "timestamp": "2026-01-05T07:00:00.000Z", "schema": "medbot.events/1",
                        "robot_id": "r-1"}, "body": {"event": "mission.exploded"}}).encode())
        impostor = MessageEncoder(site, "r-2").encode(Channel.EVENTS, event("m-evil"), 1767596400.0)
        raw_publish(mosquitto.host, mosquitto.port, events_topic, impostor.payload)  # r-2's envelope, r-1's topic
        # the fleet's own output is not an input (it matches the `+/alerts` subscription)
        alert = MessageEncoder(site, FLEET_ID).encode(Channel.ALERTS, example_body(Channel.ALERTS), 1767596400.0)
        raw_publish(mosquitto.host, mosquitto.port, alert.topic, alert.payload)
        robot.publish(Channel.EVENTS, event("m-1"), 1767596400.25)
        got = inbox.wait_for(lambda got: any(c == "events" for _, c, _, _ in got))
        time.sleep(0.2)  # nothing else is coming
        assert [b["mission_id"] for b in inbox.events()] == ["m-1"]
        [(robot_id, _, _, stamp_s)] = [m for m in got if m[1] == "events"]
        assert (robot_id, stamp_s) == ("r-1", 1767596400.25)
        assert {"connection"} <= {c for r, c, _, _ in inbox.got if r == "r-1"}  # retained, at subscribe
        assert not any(r == FLEET_ID for r, _, _, _ in inbox.got)
        assert link.stats.rejected == 3
        assert dict(link.rejections) == {"json": 1, "schema": 1, "robot_id": 1}
    finally:
        link.close()


def test_task_requests_come_in_on_the_fleets_own_topic(mosquitto: Any, site: str, mqtt5: bool) -> None:
    inbox = Inbox()
    link = make_link(mosquitto, site, mqtt5)
    link.start(inbox)
    try:
        request = {"action": "cancel", "task_id": "t-1", "issued_by": {"user": "op-0001", "role": "operator"},
                   "reason": None}
        wire = MessageEncoder(site, FLEET_ID).encode(Channel.TASK_REQUESTS, request, 1767596400.0)
        raw_publish(mosquitto.host, mosquitto.port, wire.topic, wire.payload)
        got = inbox.wait_for(lambda got: any(c == "tasks/request" for _, c, _, _ in got))
        assert [(r, b["task_id"]) for r, c, b, _ in got if c == "tasks/request"] == [(FLEET_ID, "t-1")]
    finally:
        link.close()


def test_commands_are_framed_for_the_target_robot(mosquitto: Any, site: str, mqtt5: bool, tmp_path: Any) -> None:
    link = make_link(mosquitto, site, mqtt5)
    link.start(Inbox())
    watcher = TelemetrySubscriber(mosquitto.url, f"medbot/v1/{site}/#")
    watcher.connect()
    try:
        for n in range(2):
            link.publish("r-1", Channel.COMMANDS, command_body(f"m-{n}.dispatch", "pause", site, "r-1",
                                                               user="fleet-service"), 1767596400.0 + n)
        link.publish(FLEET_ID, Channel.COMMANDS_ACK, {"not": "valid"}, 1767596400.0)  # a bug: dropped, no raise
        got = watcher.wait_for(lambda ms: len([m for m in ms if m.channel is Channel.COMMANDS]) == 2)
        commands = [m for m in got if m.channel is Channel.COMMANDS]
        assert [m.seq for m in commands] == [0, 1]
        assert all(m.topic == topic_for(site, "r-1", Channel.COMMANDS) and m.qos == 1 for m in commands)
        assert all(m.envelope is not None and m.envelope["header"]["robot_id"] == "r-1" for m in commands)
        # the robot's own command processor accepts what the fleet sent
        processor = CommandProcessor(site, "r-1", CommandPolicy.from_dict({"fleet-service": {"role": "operator"}}),
                                     {"pause": lambda params, user: {}}, AuditLog(tmp_path / "audit.jsonl"))
        payload = json.dumps(commands[0].envelope).encode()
        assert processor.handle(commands[0].topic, payload, 1767596401.0)["status"] == "ack"
        assert link.stats.dropped == 1
    finally:
        watcher.close()
        link.close()


def test_messages_sent_while_the_service_is_down_arrive_after_it_restarts(
        mosquitto: Any, site: str, mqtt5: bool, robot: TelemetryPublisher) -> None:
    first = make_link(mosquitto, site, mqtt5)
    first.start(Inbox())
    first.close()
    for n in range(3):
        robot.publish(Channel.EVENTS, event(f"m-{n}"), 1767596400.0 + n)
    time.sleep(0.3)  # at the broker, waiting in the fleet's session
    inbox = Inbox()
    second = make_link(mosquitto, site, mqtt5)
    second.start(inbox)
    try:
        inbox.wait_for(lambda got: len([m for m in got if m[1] == "events"]) == 3)
        assert [b["mission_id"] for b in inbox.events()] == ["m-0", "m-1", "m-2"]
    finally:
        second.close()


def test_a_message_not_acknowledged_before_a_crash_is_delivered_again(
        mosquitto: Any, site: str, mqtt5: bool, robot: TelemetryPublisher) -> None:
    inbox = Inbox()
    first = make_link(mosquitto, site, mqtt5)
    first.start(inbox)
    robot.publish(Channel.EVENTS, event("m-committed"), 1767596400.0)
    inbox.wait_for(lambda got: len([m for m in got if m[1] == "events"]) == 1)
    first.acknowledge(first.take_received())  # as after a step that committed it
    # paho writes the PUBACK from its network thread: give it the moment a step period would (a
    # kill inside that moment gets the message again - at least once, never lost)
    time.sleep(0.3)

    robot.publish(Channel.EVENTS, event("m-in-flight"), 1767596401.0)
    inbox.wait_for(lambda got: len([m for m in got if m[1] == "events"]) == 2)
    first.abort()  # killed before the step that would have committed it
    again = Inbox()
    second = make_link(mosquitto, site, mqtt5)
    second.start(again)
    try:
        again.wait_for(lambda got: any(m[1] == "events" for m in got))
        time.sleep(0.3)
        assert [b["mission_id"] for b in again.events()] == ["m-in-flight"]
    finally:
        second.close()


def test_own_status_online_last_will_offline(mosquitto: Any, site: str, mqtt5: bool) -> None:
    watcher = TelemetrySubscriber(mosquitto.url, topic_for(site, FLEET_ID, Channel.CONNECTION))
    watcher.connect()

    def states() -> list[tuple[str, int]]:
        return [(m.body["state"], m.body["session"]) for m in watcher.messages if m.body]

    try:
        first = make_link(mosquitto, site, mqtt5)
        first.start(Inbox())
        watcher.wait_for(lambda ms: len(ms) == 1)
        first.abort()
        watcher.wait_for(lambda ms: len(ms) == 2)
        second = make_link(mosquitto, site, mqtt5)
        second.start(Inbox())
        watcher.wait_for(lambda ms: len(ms) == 3)
        second.close()
        watcher.wait_for(lambda ms: len(ms) == 4)
        (s1, n1), (s2, n2), (s3, n3), (s4, n4) = states()
        assert (s1, s2, s3, s4) == ("ONLINE", "CONNECTION_BROKEN", "ONLINE", "OFFLINE")
        assert n1 == n2 < n3 == n4  # a will of an earlier process is recognisably stale
    finally:
        watcher.close()


def test_a_redelivery_after_a_network_blip_is_not_handed_over_twice(
        mosquitto: Any, site: str, mqtt5: bool, robot: TelemetryPublisher) -> None:
    inbox = Inbox()
    link = make_link(mosquitto, site, mqtt5)
    link.start(inbox)
    try:
        robot.publish(Channel.EVENTS, event("m-1"), 1767596400.0)
        inbox.wait_for(lambda got: len([m for m in got if m[1] == "events"]) == 1)
        sock = link._client.socket()  # the link drops before the step that would acknowledge m-1
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 10
        while link.stats.connects < 2 or link.redeliveries < 1:
            assert time.monotonic() < deadline, (link.stats, link.redeliveries)
            time.sleep(0.05)
        assert [b["mission_id"] for b in inbox.events()] == ["m-1"]  # once, though the broker sent it twice
        link.acknowledge(link.take_received())  # the redelivery is acknowledged on its own connection
        robot.publish(Channel.EVENTS, event("m-2"), 1767596401.0)
        inbox.wait_for(lambda got: len([m for m in got if m[1] == "events"]) == 2)
    finally:
        link.close()
