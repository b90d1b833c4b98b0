"""The HIS link end to end over loopback: python-hl7 as the hospital's integration engine sends
ADT and orders over MLLP to `medbot his`'s server; the census and the task requests are read off a
real Mosquitto like the fleet and the robots read them; the fleet's task states come back the same way."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hospital import POLICY, adt, order, pseudonyms, send
from paho.mqtt.enums import CallbackAPIVersion

from his.link import HisLink
from his.mllp import MllpServer
from his.service import HisService
from his.store import Store
from telemetry.codec import MessageEncoder
from telemetry.topics import FLEET_ID, Channel, topic_for
from telemetry.validate import checker_for

pytestmark = pytest.mark.integration
SITE = "general-hospital"


@dataclass
class Watcher:
    """A paho client reading the census and the task requests, as the fleet and robots would."""

    host: str
    port: int
    census: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watcher-{time.monotonic_ns()}")
        self.client.on_message = self._on_message
        self.client.connect(self.host, self.port)
        self.client.subscribe([(topic_for(SITE, "his", Channel.CENSUS), 1),
                               (topic_for(SITE, FLEET_ID, Channel.TASK_REQUESTS), 1)])
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        envelope = json.loads(message.payload)
        channel = Channel.CENSUS if message.topic.endswith("/census") else Channel.TASK_REQUESTS
        checker_for(channel)(envelope, message.topic)  # the contract, as a consumer checks it
        with self.changed:
            (self.census if channel is Channel.CENSUS else self.requests).append(envelope["body"])
            self.changed.notify_all()

    def wait(self, what: str, predicate: Any, timeout_s: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while True:
                items = getattr(self, what)
                if items and predicate(items[-1]):
                    return items[-1]
                left = deadline - time.monotonic()
                assert left > 0, f"no matching {what} within {timeout_s} s; last: {items[-1:]}"
                self.changed.wait(left)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def his(mosquitto: Any, tmp_path: Path) -> Iterator[tuple[HisService, MllpServer, Watcher]]:
    watcher = Watcher(mosquitto.host, mosquitto.port)
    watcher.start()
    link = HisLink(mosquitto.url, SITE, client_id=f"his-{time.monotonic_ns()}")
    service = HisService(Store(tmp_path / "his.db"), pseudonyms(), POLICY, link)
    link.start(service.on_task)
    server = MllpServer(service.handle, "127.0.0.1", 0)
    server.start()
    yield service, server, watcher
    server.stop()
    link.close()
    watcher.stop()
    # the census and our connection state are retained: leave the broker (shared by the session's
    # tests, some of which count every robot id they see) without them
    mqtt_clear = mqtt.Client(CallbackAPIVersion.VERSION2)
    mqtt_clear.connect(mosquitto.host, mosquitto.port)
    mqtt_clear.loop_start()
    for channel in (Channel.CENSUS, Channel.CONNECTION):
        mqtt_clear.publish(topic_for(SITE, "his", channel), b"", qos=1, retain=True).wait_for_publish(5)
    mqtt_clear.disconnect()
    mqtt_clear.loop_stop()


def _beds(census: dict[str, Any]) -> dict[str, str]:
    return {b["bed_id"]: b["patient_ref"] for b in census["beds"]}


def test_admissions_transfer_and_discharge_reach_the_census_topic(his: tuple[HisService, MllpServer, Watcher]) -> None:
    _service, server, watcher = his
    ref = pseudonyms().ref
    acks = send("127.0.0.1", server.port, adt("A01", "MRN-1", "A-01", "ward-a"), adt("A01", "MRN-2", "A-02", "ward-a"),
                adt("A01", "MRN-3", "B-01", "ward-b"))
    assert [a.code for a in acks] == ["AA", "AA", "AA"]
    census = watcher.wait("census", lambda c: len(c["beds"]) == 3)
    assert _beds(census) == {"A-01": ref("MRN-1"), "A-02": ref("MRN-2"), "B-01": ref("MRN-3")}
    [moved] = send("127.0.0.1", server.port, adt("A02", "MRN-1", "B-04", "ward-b"))
    assert moved.code == "AA"
    census = watcher.wait("census", lambda c: "B-04" in _beds(c))
    assert _beds(census) == {"A-02": ref("MRN-2"), "B-01": ref("MRN-3"), "B-04": ref("MRN-1")}
    [gone, refused] = send("127.0.0.1", server.port, adt("A03", "MRN-2"), adt("A02", "MRN-9", "A-05", "ward-a"))
    assert gone.code == "AA" and (refused.code, refused.error_code) == ("AE", "204")
    census = watcher.wait("census", lambda c: "A-02" not in _beds(c))
    assert _beds(census) == {"B-01": ref("MRN-3"), "B-04": ref("MRN-1")}
    assert "MRN" not in json.dumps(watcher.census)
    # a late subscriber (a robot starting up) gets the current census, retained
    late = Watcher(watcher.host, watcher.port)
    late.start()
    try:
        assert _beds(late.wait("census", lambda c: True)) == _beds(census)
    finally:
        late.stop()


def test_a_cancelled_order_is_withdrawn_before_it_starts(his: tuple[HisService, MllpServer, Watcher],
                                                        mosquitto: Any) -> None:
    service, server, watcher = his
    acks = send("127.0.0.1", server.port, adt("A01", "MRN-1", "A-01", "ward-a"),
                order("MRN-1", "ORD-1", specimen="SPEC-1"), order("MRN-1", "ORD-2", kind="ORM"))
    assert [a.code for a in acks] == ["AA", "AA", "AA"]
    submit = watcher.wait("requests", lambda r: r["action"] == "submit" and r["task"]["params"]["expected_samples"]
                          == ["ORD-2"])
    first = watcher.requests[0]
    assert first["task"]["params"] == {"station": "ward-a-nurse-station", "expected_samples": ["SPEC-1"],
                                       "lab_place": "clinical-lab"}
    # the fleet answers on its tasks topic: the first is waiting, the second already running
    fleet = MessageEncoder(SITE, FLEET_ID)
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        for task_id, state in ((first["task"]["task_id"], "waiting"), (submit["task"]["task_id"], "running")):
            wire = fleet.encode(Channel.TASKS, {"task_id": task_id, "kind": "sample_pickup", "state": state,
                                                "priority": 60, "robot_id": None, "attempts": 0, "reason": None,
                                                "updated": "2026-01-05T09:31:00.000Z"}, time.time())
            client.publish(wire.topic, wire.payload, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with service.store.reading() as c:
                seen = c.execute("SELECT COUNT(*) FROM orders WHERE fleet_state IS NOT NULL").fetchone()[0]
            if seen == 2:
                break
            time.sleep(0.05)
        assert seen == 2
        cancel, too_late = send("127.0.0.1", server.port, order("MRN-1", "ORD-1", control="CA"),
                                order("MRN-1", "ORD-2", kind="ORM", control="CA"))
        assert cancel.code == "AA"
        assert (too_late.code, too_late.error_code) == ("AE", "206") and "running" in too_late.text
        withdrawn = watcher.wait("requests", lambda r: r["action"] == "cancel")
        assert withdrawn["task_id"] == first["task"]["task_id"]
        assert [r["action"] for r in watcher.requests].count("cancel") == 1
    finally:
        client.loop_stop()
        client.disconnect()
