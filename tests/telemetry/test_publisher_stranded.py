"""Spooled messages paho does not deliver by itself still reach the broker, in order: one it refuses
(out of message ids) and one it strands across a reconnect (handed over, never re-sent, never
acknowledged) while no other backlog is waiting."""

from __future__ import annotations

import getpass
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import MQTTErrorCode

from telemetry import Channel, TelemetryPublisher
from telemetry.examples import example_body
from tests.seq_watch import SeqWatch

SITE = "strand-site"
WAIT_S = 20.0


def _wait(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _swallow_one(pub: TelemetryPublisher, *, nth: int, refuse: bool) -> None:
    """Make paho lose the `nth` events message handed to it: refused outright, or taken with a
    message id whose PUBACK never comes (nothing goes on the wire)."""
    client = pub._client
    real_publish = client.publish
    count = {"events": 0}

    def publish(topic: str, payload: Any = None, qos: int = 0, retain: bool = False, properties: Any = None) -> Any:
        if topic.endswith("/events"):
            count["events"] += 1
            if count["events"] == nth:
                info = mqtt.MQTTMessageInfo(65_000)
                info.rc = MQTTErrorCode.MQTT_ERR_QUEUE_SIZE if refuse else MQTTErrorCode.MQTT_ERR_SUCCESS
                return info
        return real_publish(topic, payload, qos=qos, retain=retain, properties=properties)

    client.publish = publish  # type: ignore[method-assign]


@pytest.mark.integration
def test_a_message_paho_refuses_is_sent_again_in_order(mosquitto: Any, tmp_path: Path) -> None:
    robot = "refused-robot"
    watch = SeqWatch(mosquitto.host, mosquitto.port, f"medbot/v1/{SITE}/{robot}/events", "refused-watch",
                     persistent=True)
    pub = TelemetryPublisher(mosquitto.url, SITE, robot, spool=tmp_path / "spool.db")
    try:
        pub.connect()
        _swallow_one(pub, nth=3, refuse=True)
        for i in range(12):
            pub.publish(Channel.EVENTS, example_body(Channel.EVENTS), 1767571200.0 + i)
        _wait(lambda: len(watch.first_seen()) >= 12, "all twelve")
        assert watch.first_seen() == list(range(12)), "the refused one went again, before what followed it"
        assert pub.stats.dropped == 1
        _wait(lambda: pub.spool is not None and len(pub.spool) == 0, "every row acknowledged")
    finally:
        pub.close()
        watch.close()


@pytest.mark.integration
def test_a_message_paho_strands_across_a_reconnect_is_sent_again_without_a_backlog(
        broker_factory: Any, tmp_path: Path) -> None:
    # sessions on disk (run as this user, who may write pytest's 0700 dirs) so the watcher misses nothing
    broker = broker_factory(lambda port, wd: f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                                             f"persistence_location {wd}/\nuser {getpass.getuser()}\n")
    robot = "stranded-robot"
    watch = SeqWatch(broker.host, broker.port, f"medbot/v1/{SITE}/{robot}/events", "stranded-watch",
                     persistent=True)
    pub = TelemetryPublisher(broker.url, SITE, robot, spool=tmp_path / "spool.db",
                             reconnect_min_delay_s=1, reconnect_max_delay_s=1)
    try:
        pub.connect()
        _swallow_one(pub, nth=4, refuse=False)
        for i in range(5):
            pub.publish(Channel.EVENTS, example_body(Channel.EVENTS), 1767571200.0 + i)
        _wait(lambda: watch.first_seen() == [0, 1, 2, 4], "all but the stranded one")
        time.sleep(1.5)  # the broker's autosave keeps the watcher's session
        broker.stop()
        _wait(lambda: not pub.connected, "the publisher to see the link drop")
        broker.start()
        _wait(lambda: pub.connected, "the reconnect")
        # nothing new is published: only the stranded row itself is waiting
        _wait(lambda: 3 in watch.first_seen(), "the stranded message, after the reconnect's grace")
        _wait(lambda: pub.spool is not None and len(pub.spool) == 0, "every row acknowledged")
    finally:
        pub.close()
        watch.close()
