"""Results out end to end: `medbot his run` as a child process, python-hl7 as the hospital (ADT in)
and as the record system (ORU in, AA/AE out), the robots' records on a real Mosquitto.

The service is killed (SIGKILL) while an ORU waits for its ACK and records are still queued; more
records are published while it is down. Restarted, it sends the rest in order: the one in flight
again with the same control id, every other once, the refused one never again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hospital import KEY, adt, pseudonyms, send
from paho.mqtt.enums import CallbackAPIVersion
from record_system import RecordSystem, obx_rows
from records import VITALS_PAIRS, vitals

from bench.mosquitto import free_port
from his import oru
from telemetry.codec import MessageEncoder
from telemetry.topics import Channel, topic_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


class Watcher:
    """The HIS link's alerts and connection state, read off the broker as an operator would."""

    def __init__(self, host: str, port: int, site: str) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.online = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.subscribe([(topic_for(site, "his", Channel.ALERTS), 1),
                               (topic_for(site, "his", Channel.CONNECTION), 1)])
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if not message.payload:
            return
        body = json.loads(message.payload)["body"]
        if message.topic.endswith("/alerts"):
            self.alerts.append(body)
        elif body["state"] == "ONLINE":
            self.online.set()
        else:
            self.online.clear()

    def publish(self, encoder: MessageEncoder, body: dict[str, Any]) -> None:
        wire = encoder.encode(Channel.CLINICAL, body, time.time())
        self.client.publish(wire.topic, wire.payload, qos=1).wait_for_publish(5)

    def close(self, site: str) -> None:
        for channel in (Channel.CENSUS, Channel.CONNECTION):  # leave the session's broker without our retained
            self.client.publish(topic_for(site, "his", channel), b"", qos=1, retain=True).wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()


class His:
    """`medbot his run` in a child process, its output in a file."""

    def __init__(self, workdir: Path, args: list[str], n: int) -> None:
        self.log_path = workdir / f"his-{n}.log"
        self._log = self.log_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)}
        self.popen = subprocess.Popen([sys.executable, "-m", "robots.cli", "his", "run", *args], stdout=self._log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def end(self, sig: int) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()
        return self.popen.returncode


def _wait_listening(port: int, his: His, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert his.popen.poll() is None, his.text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"medbot his not listening on {port}:\n{his.text()}")


@pytest.fixture
def rig(mosquitto: Any, tmp_path: Path) -> Iterator[tuple[str, Watcher, RecordSystem]]:
    site = f"results-{uuid.uuid4().hex[:6]}"
    watcher = Watcher(mosquitto.host, mosquitto.port, site)
    system = RecordSystem().start()
    yield site, watcher, system
    system.close()
    watcher.close(site)


def test_results_reach_the_record_system_once_in_order_across_a_kill(
        rig: tuple[str, Watcher, RecordSystem], mosquitto: Any, tmp_path: Path) -> None:
    site, watcher, system = rig
    key_file = tmp_path / "his.key"
    key_file.write_text(KEY.hex())
    config = tmp_path / "his.yaml"
    config.write_text("results:\n  receiving_application: EHR\n  connect_timeout_s: 1\n  reply_timeout_s: 10\n"
                      "  backoff_base_s: 0.05\n  backoff_cap_s: 0.5\n  session_expiry_s: 120\n")
    listen = free_port("127.0.0.1")
    args = ["--listen", f"127.0.0.1:{listen}", "--record-system", f"127.0.0.1:{system.port}", "--broker",
            mosquitto.url, "--site", site, "--key-file", str(key_file), "--store", str(tmp_path / "his.db"),
            "--config", str(config), "--client-id", f"his-{site}"]
    # the first three are answered (the third AE: unknown in the record), the fourth is held unanswered
    system.policy = lambda msg, n: "hold" if n == 3 else ("AE" if str(msg["PID.F3.R1.C1"]) == "MRN-2" else "AA")
    first = His(tmp_path, args, 1)
    try:
        _wait_listening(listen, first)
        assert watcher.online.wait(15), first.text()
        acks = send("127.0.0.1", listen, *[adt("A01", f"MRN-{n}", f"A-{n:02d}", "ward-a") for n in range(8)])
        assert [a.code for a in acks] == ["AA"] * 8
        refs = [pseudonyms().ref(f"MRN-{n}") for n in range(8)]
        nurse = MessageEncoder(site, "nurse-1")
        for n in range(6):
            watcher.publish(nurse, vitals(refs[n], f"m-1.A-{n:02d}", bed=f"A-{n:02d}"))
        system.wait_for(4)
        time.sleep(0.3)  # the last records reach the outbox (or stay unacknowledged at the broker)
    finally:
        first.end(signal.SIGKILL)
    # while the service is down, the round goes on: the broker keeps these for its session
    for n in (6, 7):
        watcher.publish(nurse, vitals(refs[n], f"m-1.A-{n:02d}", bed=f"A-{n:02d}"))
    system.release()
    system.policy = lambda msg, n: "AA"
    second = His(tmp_path, args, 2)
    try:
        _wait_listening(listen, second)
        ids = [oru.control_id(site, "nurse-1", f"m-1.A-{n:02d}") for n in range(8)]
        expected = ids[:4] + ids[3:]  # the held fourth again: the same control id, then the rest
        received = system.wait_for(len(expected), timeout_s=30.0)
        time.sleep(0.5)
        assert system.control_ids() == expected, second.text()
        assert str(received[3]) == str(received[4])  # the same message, byte for byte
        for msg in received:
            n = int(str(msg["PID.F3.R1.C1"]).split("-")[1])
            assert str(msg["OBR.F3.R1.C1"]) == f"m-1.A-{n:02d}"
            assert {code: unit for code, (_v, unit, _d) in obx_rows(msg).items()} == VITALS_PAIRS
            assert {d for _v, _u, d in obx_rows(msg).values()} == {"nurse-1"}
        # the refused one was alerted (by the first run) and never sent again
        refused = [a for a in watcher.alerts if a["category"] == "his.result"]
        assert [a["data"]["control_id"] for a in refused] == [ids[2]]
        assert "MRN" not in json.dumps(watcher.alerts)
    finally:
        code = second.end(signal.SIGTERM)
    assert code == 0, second.text()
    logs = first.text() + second.text()
    assert "MRN-" not in logs and "refused by the record system" in logs
