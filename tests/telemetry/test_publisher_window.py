"""With a spool the publisher, not paho, bounds what is in flight: no spooled message is handed over
while ``max_inflight`` QoS 1 messages are unacknowledged; it waits in the spool and follows in order."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from telemetry import Channel, TelemetryPublisher
from telemetry.examples import example_body
from tests.seq_watch import SeqWatch

SITE = "ward-3"


class _Outstanding:
    """Counts events messages handed to paho and not yet acknowledged, and the most at once."""

    def __init__(self, pub: TelemetryPublisher) -> None:
        self.now = self.most = 0
        self._lock = threading.Lock()
        self._event_mids: set[int] = set()
        self._early: set[int] = set()  # PUBACKs that came before publish() returned their mid
        client: Any = pub._client
        publish, on_publish = client.publish, client.on_publish

        def counting_publish(topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> Any:
            is_event = topic.endswith("/events")
            if is_event:
                with self._lock:
                    self.now += 1
                    self.most = max(self.most, self.now)
            info = publish(topic, payload, qos=qos, retain=retain)
            if is_event:
                with self._lock:
                    if info.mid in self._early:
                        self._early.discard(info.mid)
                        self.now -= 1
                    else:
                        self._event_mids.add(info.mid)
            return info

        def counting_ack(c: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
            with self._lock:
                if mid in self._event_mids:
                    self._event_mids.discard(mid)
                    self.now -= 1
                else:
                    self._early.add(mid)
            on_publish(c, userdata, mid, rc, props)

        client.publish = counting_publish
        client.on_publish = counting_ack


def test_a_burst_beyond_the_window_waits_in_the_spool_and_arrives_whole_and_in_order(
        broker_factory: Any, tmp_path: Path) -> None:
    broker = broker_factory(lambda port, wd: f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    robot, n, window = "window-robot", 3000, 8
    watch = SeqWatch(broker.host, broker.port, f"medbot/v1/{SITE}/{robot}/events", "window-watch")
    pub = TelemetryPublisher(broker.url, SITE, robot, spool=tmp_path / "spool.db", max_inflight=window)
    outstanding = _Outstanding(pub)
    pub.connect()
    try:
        assert pub._client.max_inflight_messages == 0  # paho's own limit is off: the window is the bound
        deadline = time.monotonic() + 10
        while len(pub._inflight) and time.monotonic() < deadline:  # ONLINE acknowledged: the window is empty
            time.sleep(0.01)
        broker.freeze()  # no PUBACK until thawed: the window fills, the rest must wait in the spool
        try:
            body = example_body(Channel.EVENTS)
            for i in range(n):
                pub.publish(Channel.EVENTS, body, 1_767_571_200.0 + i * 0.001)
            assert outstanding.most == window
            assert pub.spool is not None and len(pub.spool) == n  # nothing acknowledged yet, nothing lost
        finally:
            broker.thaw()
        deadline = time.monotonic() + 30
        while len(watch.snapshot()) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        assert watch.snapshot() == list(range(n))
        assert outstanding.most == window  # never more, also while the replay caught up
        assert pub.replayed == n - window  # everything beyond the first window went through the spool
        pub.close()
        assert len(pub.spool) == 0  # every row acknowledged and deleted
    finally:
        pub.close()
        watch.close()


def test_without_a_spool_the_in_flight_limit_is_left_to_paho_as_before() -> None:
    pub = TelemetryPublisher("mqtt://127.0.0.1:1", SITE, "no-spool-robot", max_inflight=7)
    assert pub._client.max_inflight_messages == 7


@pytest.mark.parametrize("bad", [0, -1, 65_536])
def test_a_window_outside_paho_message_ids_is_refused(bad: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"max_inflight must be 1..65535, got {bad}"):
        TelemetryPublisher("mqtt://127.0.0.1:1", SITE, "r1", spool=tmp_path / "s.db", max_inflight=bad)
