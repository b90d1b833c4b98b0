"""End to end through a real broker: the embedded amqtt one and a real Mosquitto (same tests)."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from telemetry.broker import EmbeddedBroker
from telemetry.envelope import GapDetector
from telemetry.examples import example_body
from telemetry.publisher import TelemetryPublisher
from telemetry.subscriber import Received, TelemetrySubscriber
from telemetry.topics import Channel, subscription_filter
from telemetry.validate import PayloadError, validate

pytestmark = pytest.mark.integration

SITE = "ward-3"
WAIT_S = 10.0


@pytest.fixture(scope="module")
def amqtt_broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as broker:
        yield broker


@pytest.fixture(params=["amqtt", "mosquitto"])
def broker_url(request: pytest.FixtureRequest) -> str:
    broker = request.getfixturevalue("amqtt_broker" if request.param == "amqtt" else "mosquitto")
    url: str = broker.url
    return url


def fresh_robot_id() -> str:
    return f"r-{uuid.uuid4().hex[:10]}"  # retained messages outlive a test on a shared broker


def connection_states(messages: list[Received], *, retained: bool | None = None) -> list[tuple[str, int, int]]:
    out = []
    for m in messages:
        if m.channel is Channel.CONNECTION and (retained is None or m.retained == retained):
            assert m.envelope is not None and m.body is not None and m.seq is not None
            out.append((m.body["state"], m.body["session"], m.seq))
    return out


def has_connection_state(state: str, *, retained: bool | None = None) -> Any:
    return lambda ms: any(s == state for s, _, _ in connection_states(ms, retained=retained))


def late_connection_state(url: str, robot_id: str) -> tuple[str, int, int]:
    """What a subscriber joining now learns from the retained connection topic."""
    with TelemetrySubscriber(url, subscription_filter(SITE, robot_id, Channel.CONNECTION)) as late:
        msgs = late.wait_for(lambda ms: len(ms) >= 1, WAIT_S)
    assert all(m.retained for m in msgs)
    return connection_states(msgs)[0]


def test_state_and_events_arrive_in_order_with_seq_from_zero(broker_url: str) -> None:
    robot_id = fresh_robot_id()
    with TelemetrySubscriber(broker_url, subscription_filter(SITE, robot_id)) as sub:
        with TelemetryPublisher(broker_url, SITE, robot_id) as pub:
            for i in range(30):
                pub.publish(Channel.STATE, example_body(Channel.STATE), 1_700_000_000.0 + i)
                if i % 3 == 0:
                    pub.publish(Channel.EVENTS, example_body(Channel.EVENTS), 1_700_000_000.0 + i)
        msgs = sub.wait_for(has_connection_state("OFFLINE"), WAIT_S)
    for m in msgs:
        assert m.envelope is not None and m.channel is not None
        validate(m.channel, m.envelope, topic=m.topic)  # what arrives is what the contract says
    assert [m.seq for m in msgs if m.channel is Channel.STATE] == list(range(30))
    assert [m.seq for m in msgs if m.channel is Channel.EVENTS] == list(range(10))
    assert connection_states(msgs) == [("ONLINE", 0, 0), ("OFFLINE", 0, 1)]
    detector = GapDetector()
    for m in msgs:
        assert m.envelope is not None
        detector.observe_envelope(m.topic, m.envelope)
    assert detector.gaps == [] and detector.duplicates == []


def test_late_subscriber_sees_online_then_offline_after_clean_close(broker_url: str) -> None:
    robot_id = fresh_robot_id()
    pub = TelemetryPublisher(broker_url, SITE, robot_id)
    pub.connect()
    try:
        assert late_connection_state(broker_url, robot_id)[:2] == ("ONLINE", 0)
        pub.publish(Channel.FACTSHEET, example_body(Channel.FACTSHEET), 1_700_000_000.0)
    finally:
        pub.close()
    assert late_connection_state(broker_url, robot_id)[:2] == ("OFFLINE", 0)
    with TelemetrySubscriber(broker_url, subscription_filter(SITE, robot_id, Channel.FACTSHEET)) as late:
        facts = late.wait_for(lambda ms: len(ms) >= 1, WAIT_S)
    assert facts[0].retained and facts[0].body == example_body(Channel.FACTSHEET)


def test_invalid_body_raises_and_nothing_is_sent(broker_url: str) -> None:
    robot_id = fresh_robot_id()
    with TelemetrySubscriber(broker_url, subscription_filter(SITE, robot_id, Channel.EVENTS)) as sub:
        with TelemetryPublisher(broker_url, SITE, robot_id) as pub:
            bad = example_body(Channel.EVENTS)
            del bad["mission_id"]
            with pytest.raises(PayloadError, match=r"events at \$\.body: 'mission_id' is a required"):
                pub.publish(Channel.EVENTS, bad, 1_700_000_000.0)
            pub.publish(Channel.EVENTS, example_body(Channel.EVENTS), 1_700_000_000.0)
        msgs = sub.wait_for(lambda ms: len(ms) >= 1, WAIT_S)
    assert [m.seq for m in msgs] == [0], [(m.topic, m.seq, m.retained) for m in msgs]


def test_dropped_link_leaves_will_then_reconnects_online_with_a_new_session(broker_url: str) -> None:
    robot_id = fresh_robot_id()
    conn_filter = subscription_filter(SITE, robot_id, Channel.CONNECTION)
    with TelemetrySubscriber(broker_url, conn_filter) as sub:
        pub = TelemetryPublisher(broker_url, SITE, robot_id, reconnect_min_delay_s=1, reconnect_max_delay_s=2)
        pub.connect()
        try:
            sub.wait_for(has_connection_state("ONLINE", retained=False), WAIT_S)
            sock = pub._client.socket()  # cut the TCP link under paho, as a Wi-Fi drop would
            assert isinstance(sock, socket.socket)
            sock.shutdown(socket.SHUT_RDWR)
            msgs = sub.wait_for(
                lambda ms: (
                    [s for s, _, _ in connection_states(ms, retained=False)]
                    == ["ONLINE", "CONNECTION_BROKEN", "ONLINE"]
                ),
                WAIT_S,
            )
            assert pub.session == 1 and pub.stats.connects == 2
            pub.publish(Channel.EVENTS, example_body(Channel.EVENTS), 1_700_000_000.0)
        finally:
            pub.close()
        msgs = sub.wait_for(has_connection_state("OFFLINE", retained=False), WAIT_S)
    # seq on the connection topic keeps rising across sessions; the will carries its own session
    assert connection_states(msgs, retained=False) == [
        ("ONLINE", 0, 0), ("CONNECTION_BROKEN", 0, 1), ("ONLINE", 1, 2), ("OFFLINE", 1, 3),
    ]  # fmt: skip


PUBLISHER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from telemetry.publisher import TelemetryPublisher
    pub = TelemetryPublisher(sys.argv[1], sys.argv[2], sys.argv[3])
    pub.connect()
    print("ready", flush=True)
    time.sleep(60)
    """
)


def read_line(proc: subprocess.Popen[bytes], timeout_s: float) -> bytes:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            raise TimeoutError(f"publisher subprocess said nothing within {timeout_s} s")
    return proc.stdout.readline()


def test_killed_publisher_leaves_connection_broken_retained(broker_url: str) -> None:
    robot_id = fresh_robot_id()
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER_SCRIPT, broker_url, SITE, robot_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = read_line(proc, WAIT_S)
        assert line.strip() == b"ready", (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else b"")
        assert late_connection_state(broker_url, robot_id)[:2] == ("ONLINE", 0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=WAIT_S)
        deadline = time.monotonic() + WAIT_S
        while (state := late_connection_state(broker_url, robot_id))[0] != "CONNECTION_BROKEN":
            assert time.monotonic() < deadline, f"retained connection state still {state}"
            time.sleep(0.1)
        assert state == ("CONNECTION_BROKEN", 0, 1)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=WAIT_S)
