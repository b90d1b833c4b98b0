"""The broker is killed (SIGKILL) in the middle of two robots' ward rounds and comes back after a
60 s outage (the robots tick flat out meanwhile: about half an hour of simulated work to spool).
Every at-least-once message (events, alerts, clinical, factsheet) reaches a subscriber, in seq
order per topic, none missing; the robots keep working through the outage and finish their rounds."""

from __future__ import annotations

import getpass
import os
import signal
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from rig import RobotRig

from telemetry.publisher import TelemetryPublisher
from telemetry.topics import Channel, parse_topic

OUTAGE_S = 60.0
AT_LEAST_ONCE = {"events", "alerts", "clinical", "factsheet"}
SITE = "test-site"


class Counting:
    """A sink counting what the robot handed over per channel, in front of the real publisher."""

    def __init__(self, inner: TelemetryPublisher) -> None:
        self.inner = inner
        self.counts: Counter[str] = Counter()

    def publish(self, channel: Any, body: dict[str, Any], stamp_s: float) -> None:
        self.counts[str(channel.value if isinstance(channel, Channel) else channel)] += 1
        self.inner.publish(channel, body, stamp_s)

    def close(self) -> None:
        self.inner.close()


class Subscriber:
    def __init__(self, host: str, port: int) -> None:
        self.seqs: dict[str, list[int]] = defaultdict(list)
        self.lock = threading.Lock()
        # a persistent session, like the data center's: the broker keeps the subscription and queues
        # what arrives while this consumer is away (the robots may reconnect and replay before it does)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="rel-sub", protocol=mqtt.MQTTv311,
                                  clean_session=False)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("medbot/v1/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect_async(host, port)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        import json

        seq = json.loads(message.payload)["header"]["seq"]
        with self.lock:
            self.seqs[message.topic].append(int(seq))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.integration
def test_broker_killed_mid_run_loses_no_at_least_once_message(tmp_path: Path, broker_factory: Any) -> None:
    # a production broker keeps sessions on disk; saved every second, so a SIGKILL loses at most the
    # last second's changes (here: nothing the test depends on — the subscription is older). `user`:
    # started as root, Mosquitto would drop to its own user, which may not write in pytest's 0700 dirs
    broker = broker_factory(lambda port, workdir: f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                                                  f"persistence true\npersistence_location {workdir}/\n"
                                                  f"user {getpass.getuser()}\n"
                                                  "autosave_interval 1\nmax_queued_messages 0\n")
    sub = Subscriber(broker.host, broker.port)
    time.sleep(0.5)
    rigs, sinks = [], []
    for i, dock in enumerate(("dock-ward-a", "dock-ward-b")):
        pub = TelemetryPublisher(broker.url, SITE, f"rel-{i}", spool=tmp_path / f"rel-{i}.spool.db",
                                 reconnect_min_delay_s=2, reconnect_max_delay_s=2)
        pub.connect()
        sink = Counting(pub)
        rig = RobotRig(tmp_path / f"journal-{i}", robot_id=f"rel-{i}", dock=dock, telemetry=sink, seed=5 + i)
        rig.robot.dispatch("nursing_round", rig.nursing_round(4, "ward-a" if i == 0 else "ward-b"),
                           mission_id=f"rel-{i}-round")
        rigs.append(rig)
        sinks.append(sink)

    def tick_all(wall_s: float) -> None:
        end = time.monotonic() + wall_s
        while time.monotonic() < end:
            for rig in rigs:
                rig.tick(0.2)
            time.sleep(0.004)

    tick_all(4.0)
    proc = broker._proc
    assert proc is not None
    os.kill(proc.pid, signal.SIGKILL)  # killed, not stopped: no clean goodbye to anyone
    proc.wait(5)
    broker._proc = None
    outage_from = [rig.clock.now_s() for rig in rigs]
    tick_all(OUTAGE_S)
    outage_to = [rig.clock.now_s() for rig in rigs]
    assert not any(s.inner.connected for s in sinks)
    broker.start()
    for rig in rigs:
        assert rig.run_until(lambda r=rig: r.idle(), max_s=4 * 3600.0)
    tick_all(3.0)
    for sink in sinks:
        sink.close()  # waits for the replay and the acks
    deadline = time.monotonic() + 20
    want = {f"rel-{i}": dict(s.counts) for i, s in enumerate(sinks)}

    def complete() -> bool:
        with sub.lock:
            for robot_id, counts in want.items():
                for channel in AT_LEAST_ONCE & set(counts):
                    topic = f"medbot/v1/{SITE}/{robot_id}/{channel}"
                    if len(set(sub.seqs.get(topic, []))) < counts[channel]:
                        return False
        return True

    while not complete() and time.monotonic() < deadline:
        time.sleep(0.1)
    sub.close()

    tried = lost = 0
    for topic, seqs in sub.seqs.items():
        parts = parse_topic(topic)
        if parts.channel.value not in AT_LEAST_ONCE:
            continue
        n = want[parts.robot_id][parts.channel.value]
        tried += n
        lost += len(set(range(n)) - set(seqs))
        first_seen = list(dict.fromkeys(seqs))  # QoS 1 may repeat a message; its first arrival counts
        assert first_seen == sorted(first_seen), f"{topic}: out of order {first_seen[:20]}"
    assert tried > 0 and lost == 0, f"{lost} of {tried} lost"
    for rig, t0, t1 in zip(rigs, outage_from, outage_to, strict=True):
        worked = [e for e in rig.events if t0 < e.stamp_s < t1 and e.kind == "mission.step"]
        assert worked, "the robot kept working while the broker was down"
        assert rig.robot.runner.history[-1].outcome == "succeeded", rig.robot.runner.history[-1].reason
    spooled_during_outage = sum(int(s.counts.get(c, 0)) for s in sinks for c in AT_LEAST_ONCE)
    print(f"broker outage: {tried} at-least-once messages tried, {tried - lost} delivered, {lost} lost "
          f"({spooled_during_outage} handed over in all)")
