"""Dashboard fixtures: a Mosquitto that can be restarted on its port, a paced simulated run in a
thread, and headless Debian chromium driven by Playwright (never `playwright install`)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import mosquitto as mosquitto_process

CHROMIUM = "/usr/bin/chromium"
# as root chromium needs --no-sandbox; the rest keeps it off the network and quiet
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


class RestartableMosquitto:
    """A Mosquitto of this test module's own (the session broker must not be restarted under other
    tests), stopped and started again on the same port."""

    def __init__(self, workdir: Path) -> None:
        binary = mosquitto_process.find_mosquitto()
        if binary is None:
            pytest.fail("mosquitto is not installed: apt-get install -y mosquitto", pytrace=False)
        self.binary = binary
        self.port = mosquitto_process.free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                               "max_queued_messages 10000\n", encoding="utf-8")
        self.log = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        with self.log.open("ab") as log:
            self._proc = mosquitto_process.launch(self.binary, self.config, log)
        try:
            mosquitto_process.wait_until_listening(self._proc, "127.0.0.1", self.port, timeout_s=timeout_s,
                                                   poll_s=0.05)
        except mosquitto_process.MosquittoDidNotStart as exc:
            pytest.fail(f"{exc}: {self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        mosquitto_process.stop(proc)


@pytest.fixture(scope="module")
def restartable_mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableMosquitto]:
    broker = RestartableMosquitto(tmp_path_factory.mktemp("mosquitto-restartable"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


class _Stop(BaseException):
    """Raised inside the simulator's tick to end a paced run early (unwinds through its finally)."""


class PacedRun:
    """A `SimulationRun` in a thread at ``speedup`` x real time, so that a browser can watch it and
    commands reach robots while they still tick. `stop()` ends it at the next tick."""

    def __init__(self, run: Any, speedup: float) -> None:
        self.run = run
        self.speedup = speedup
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self.summary: dict[str, Any] | None = None
        step_site: Callable[..., float] = run.step_site
        start_wall = time.monotonic()

        def paced_step_site(tick: int, **kwargs: Any) -> float:
            # the run's public per-tick entry point (`SimulationRun.step_site`): a tick-boundary hook
            # that does not depend on which parts of the site the runner steps inside it
            if self._stop.is_set():
                raise _Stop()
            now_s = step_site(tick, **kwargs)
            ahead_s = (now_s - run.start_s) / self.speedup - (time.monotonic() - start_wall)
            if ahead_s > 0:
                time.sleep(ahead_s)
            return now_s

        run.step_site = paced_step_site
        self.thread = threading.Thread(target=self._main, name="paced-sim", daemon=True)

    def _main(self) -> None:
        try:
            self.summary = self.run.run()
        except _Stop:
            pass
        except BaseException as exc:
            self.error = exc

    def start(self) -> PacedRun:
        self.thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self.thread.join(timeout_s)


def publish_as_fleet(broker_url: str, site: str, channel: Any, body: dict[str, Any], stamp_s: float) -> None:
    """One message framed as the fleet service frames it (envelope under robot id ``fleet``), on a bare
    client: no ONLINE/OFFLINE of its own to mix with a real fleet's connection on the same broker."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from telemetry.codec import MessageEncoder
    from telemetry.topics import FLEET_ID
    from telemetry.url import parse_broker_url

    wire = MessageEncoder(site, FLEET_ID).encode(channel, body, stamp_s)
    address = parse_broker_url(broker_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        client.publish(wire.topic, wire.payload, qos=wire.qos).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test does it)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
