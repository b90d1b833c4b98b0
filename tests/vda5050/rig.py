"""What the VDA 5050 integration tests share: processes with their logs, bounded waits, a sniffer
that records every VDA 5050 message on the broker (each is checked against the official schema),
and the one-floor hospital as the site (a VDA 5050 vehicle here rides no lifts)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sim.world import load_world
from sim.world_export import world_json
from telemetry.url import parse_broker_url
from telemetry.vda5050 import Topic, check, parse_topic

REPO = Path(__file__).resolve().parents[2]
ONE_FLOOR_WORLD = REPO / "sim" / "worlds" / "one_floor_hospital.yaml"
SDK_VEHICLE = Path(__file__).resolve().parent / "sdk_vehicle.py"


def one_floor_map() -> dict[str, Any]:
    return world_json(load_world(ONE_FLOOR_WORLD))


class Proc:
    """A child process with its output in a file (shown when a test fails)."""

    def __init__(self, name: str, argv: list[str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=REPO)

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out

    def text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(5)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def sdk_vehicle(broker_url: str, manufacturer: str, serial: str, x: float, y: float, log_dir: Path, *,
                node_delay: float = 0.05, actions: str = "pick,drop", battery: float = 90.0) -> Proc:
    return Proc(f"vehicle-{serial}", [sys.executable, str(SDK_VEHICLE), "--broker", broker_url,
                                      "--manufacturer", manufacturer, "--serial", serial,
                                      "--x", repr(x), "--y", repr(y),
                                      "--node-delay", repr(node_delay), "--actions", actions,
                                      "--battery", repr(battery)], log_dir)


def medbot_cli(name: str, args: list[str], log_dir: Path) -> Proc:
    return Proc(name, [sys.executable, "-m", "robots.cli", *args], log_dir)


def wait_until(cond: Callable[[], Any], timeout_s: float, what: str, procs: Sequence[Proc] = ()) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    logs = "\n".join(f"--- {p.name}\n{p.text()[-3000:]}" for p in procs)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{logs}")


class Sniffer:
    """Every message under ``<interface>/v2/#``, in arrival order, each checked against its official schema."""

    def __init__(self, broker_url: str, interface: str = "uagv") -> None:
        address = parse_broker_url(broker_url)
        self.messages: list[tuple[str, Topic, dict[str, Any]]] = []
        self.invalid: list[str] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"vda-sniffer-{time.monotonic_ns()}")
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{interface}/v2/#", qos=1)
        self._client.on_subscribe = lambda *a: self._ready.set()
        self._client.on_message = self._on_message
        self._client.connect(address.host, address.port)
        self._client.loop_start()
        if not self._ready.wait(10):
            raise AssertionError("sniffer did not subscribe within 10 s")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            parts = parse_topic(message.topic)
            body = json.loads(message.payload)
            check(parts.topic, body, where=message.topic)
        except Exception as exc:
            with self._lock:
                self.invalid.append(f"{message.topic}: {exc}")
            return
        with self._lock:
            self.messages.append((message.topic, parts.topic, body))

    def of(self, topic: Topic, serial: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [b for t, k, b in self.messages if k is topic and (serial is None or b["serialNumber"] == serial)]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
