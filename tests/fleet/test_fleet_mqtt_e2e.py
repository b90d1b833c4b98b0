"""End to end over a real Mosquitto: `medbot fleet run` as a process drives two separately started
robot processes (`medbot robot run`, one logistics, one nursing) through a delivery submitted over
the HTTP API and a nursing round of two beds requested on the MQTT request topic; then the fleet is
killed (-9) in the middle of a delivery and restarted on its store.

Everything runs on a clock 20x wall time shared by the three processes (--time-scale, one
--time-origin), so a simulated delivery takes seconds. Every wait is bounded; on a failure the
processes' logs are printed.

What is checked: both tasks reach `done` (the fleet's tasks topic and GET /api/tasks agree), the
robots' events name the task id, and nothing ran twice — one `mission.started` and one
`mission.succeeded` per task, one clinical record per bed, one executed dispatch per task in each
robot's command audit log (repeats are answered as duplicates, never run).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.mosquitto import free_port
from fleet.http_api import hash_token
from sim.patients import patient_ref_for
from sim.world import load_default_world
from sim.world_export import world_json
from telemetry import TelemetrySubscriber
from telemetry.codec import MessageEncoder
from telemetry.subscriber import Received
from telemetry.topics import FLEET_ID, Channel

pytestmark = pytest.mark.integration

TIME_SCALE = 20.0
TOKEN = "e2e-operator-token"
SEED = 7
#: the wait for one task to finish, wall seconds (a delivery takes ~15 s here, a 2-bed round ~25 s)
TASK_TIMEOUT_S = 75.0


class Proc:
    """A child process with its output in a file (printed when a test fails)."""

    def __init__(self, name: str, args: list[str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen([sys.executable, "-m", "robots.cli", *args], stdout=self._log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it does not end in time; the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()
        return self.popen.returncode

    def kill(self) -> None:
        self.popen.kill()
        self.popen.wait(5)
        self._log.close()

    def text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Rig:
    def __init__(self, broker_url: str, workdir: Path) -> None:
        self.broker_url = broker_url
        self.workdir = workdir
        self.site = f"e2e-{uuid.uuid4().hex[:6]}"
        self.origin_s = time.time()
        self.procs: list[Proc] = []
        self.map_path = workdir / "map.json"
        self.map_path.write_text(json.dumps(world_json(load_default_world())), encoding="utf-8")
        self.users_path = workdir / "users.yaml"
        self.users_path.write_text(f"op-0001:\n  roles: [operator]\n  token_sha256: {hash_token(TOKEN)}\n",
                                   encoding="utf-8")
        self.config_path = workdir / "fleet.yaml"
        self.config_path.write_text("step_period_s: 1.0\nallocation_period_s: 10\n", encoding="utf-8")
        self.store_url = f"sqlite:///{workdir / 'fleet.db'}"
        self.http_port = free_port("127.0.0.1")
        self.api = f"http://127.0.0.1:{self.http_port}/api"
        self.watch = TelemetrySubscriber(broker_url, f"medbot/v1/{self.site}/#")
        self.watch.connect()
        self.fleet: Proc | None = None
        self.fleet_starts = 0

    def clock_args(self) -> list[str]:
        return ["--time-scale", str(TIME_SCALE), "--time-origin", repr(self.origin_s)]

    def start_fleet(self) -> Proc:
        self.fleet_starts += 1
        self.fleet = Proc(f"fleet-{self.fleet_starts}", [
            "fleet", "run", "--broker", self.broker_url, "--site", self.site, "--store", self.store_url,
            "--map", str(self.map_path), "--config", str(self.config_path), "--http", f"127.0.0.1:{self.http_port}",
            "--users", str(self.users_path), *self.clock_args()], self.workdir)
        self.procs.append(self.fleet)
        wait_until(lambda: self._api_up(), 30.0, "the fleet's API to answer", self)
        return self.fleet

    def _api_up(self) -> bool:
        assert self.fleet is not None and self.fleet.popen.poll() is None, "the fleet process ended"
        try:
            return httpx.get(f"{self.api}/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def start_robot(self, robot_id: str, kind: str, dock: str, serves: str) -> Proc:
        proc = Proc(robot_id, [
            "robot", "run", "--id", robot_id, "--kind", kind, "--dock", dock, "--site", self.site,
            "--broker", self.broker_url, "--serves", serves, "--seed", str(SEED),
            "--journal", str(self.workdir / f"journal-{robot_id}"), *self.clock_args()], self.workdir)
        self.procs.append(proc)
        return proc

    # ---- the API and the topics -------------------------------------------------------------

    def get(self, path: str) -> Any:
        response = httpx.get(f"{self.api}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5.0)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.api}{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=5.0)

    def request_over_mqtt(self, task: dict[str, Any]) -> None:
        body = {"action": "submit", "issued_by": {"user": "op-0001", "role": "operator"}, "task": task}
        wire = MessageEncoder(self.site, FLEET_ID).encode(Channel.TASK_REQUESTS, body, time.time())
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"e2e-client-{uuid.uuid4().hex[:6]}")
        host, port = self.broker_url.removeprefix("mqtt://").split(":")
        client.connect(host, int(port))
        client.loop_start()
        try:
            client.publish(wire.topic, wire.payload, qos=1).wait_for_publish(5)
        finally:
            client.disconnect()
            client.loop_stop()

    def unique(self, channel: Channel, robot_id: str | None = None) -> list[Received]:
        """Messages on `channel`, QoS 1 redeliveries counted once. A redelivery is the same envelope
        again (not merely the same seq: a restarted publisher numbers from 0 again)."""
        seen: set[tuple[str, str]] = set()
        out = []
        for m in self.watch.messages:
            parts = m.parts
            if parts is None or parts.channel is not channel or (robot_id and parts.robot_id != robot_id):
                continue
            key = (m.topic, json.dumps(m.envelope, sort_keys=True))
            if key not in seen and not m.retained:
                seen.add(key)
                out.append(m)
        return out

    def task_states(self) -> dict[str, str]:
        """The latest state of each task as the fleet published it on its tasks topic."""
        states: dict[str, str] = {}
        for m in self.unique(Channel.TASKS, FLEET_ID):
            assert m.body is not None
            states[m.body["task_id"]] = m.body["state"]
        return states

    def events_of(self, task_id: str) -> list[dict[str, Any]]:
        return [m.body for m in self.unique(Channel.EVENTS) if m.body and m.body.get("task_id") == task_id]

    def task_reasons(self) -> dict[str, str | None]:
        return {m.body["task_id"]: m.body.get("reason") for m in self.unique(Channel.TASKS, FLEET_ID) if m.body}

    def close(self, *, failed: bool) -> None:
        codes = {p.name: p.stop() for p in self.procs}
        self.watch.close()
        if failed:
            for p in self.procs:
                print(f"----- {p.name} (exit {codes[p.name]}) -----\n{p.text()[-6000:]}")


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, rig: Rig) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; tasks: {rig.task_states()}, "
                                 f"reasons: {rig.task_reasons()}")
        time.sleep(0.2)


@pytest.fixture
def rig(mosquitto: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    rig = Rig(mosquitto.url, tmp_path)
    failures_before = request.session.testsfailed
    try:
        yield rig
    finally:
        # pytest does not raise a test's failure into its fixture: count the session's failures
        rig.close(failed=request.session.testsfailed > failures_before)


def delivery(task_id: str, ward: str, item: str) -> dict[str, Any]:
    return {"task_id": task_id, "kind": "supply_delivery", "place": "central-supply", "zone": ward,
            "robot_kinds": ["logistics"],
            "params": {"delivery_id": task_id, "origin": "central-supply", "destination": f"{ward}-utility",
                       "ward": ward, "items": [{"item": item, "quantity": 4}]}}


def robots_ready(rig: Rig, *robot_ids: str) -> bool:
    robots = {r["robot_id"]: r for r in rig.get("/robots")["robots"]}
    return all(robots.get(r, {}).get("available") for r in robot_ids)


def executed_dispatches(rig: Rig, robot_id: str) -> list[str]:
    """Dispatch commands the robot executed (its audit log; repeats answered as duplicates excluded)."""
    path = rig.workdir / f"journal-{robot_id}" / "audit" / f"{robot_id}.jsonl"
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [e["command_id"] for e in entries
            if e["command"] == "dispatch" and e["status"] == "ack" and not e["ack"]["duplicate"]]


def test_fleet_drives_two_robot_processes_through_a_delivery_and_a_round(rig: Rig) -> None:
    started = time.monotonic()
    rig.start_fleet()
    rig.start_robot("logistics-1", "logistics", "dock-supply", "central-supply")
    rig.start_robot("nurse-a", "nursing", "dock-ward-a", "ward-a")
    wait_until(lambda: robots_ready(rig, "logistics-1", "nurse-a"), 40.0, "both robots to be available", rig)

    # the factsheets told the fleet what each robot is and where it is stationed
    robots = {r["robot_id"]: r for r in rig.get("/robots")["robots"]}
    assert robots["nurse-a"]["serves"] == "ward-a" and "nursing_round" in robots["nurse-a"]["missions"]
    assert robots["logistics-1"]["kind"] == "logistics" and "supply_delivery" in robots["logistics-1"]["missions"]

    # a delivery over the HTTP API, a nursing round on the MQTT request topic
    response = rig.post("/tasks", delivery("del-1", "ward-a", "gloves-m-box"))
    assert response.status_code == 201, response.text
    beds = [{"bed_id": b, "place": f"ward-a-bed-{b[-2:]}", "patient_ref": patient_ref_for(SEED, b),
             "on_oxygen": False} for b in ("A-01", "A-02")]
    rig.request_over_mqtt({"task_id": "round-1", "kind": "nursing_round", "zone": "ward-a",
                           "place": "ward-a-bed-01", "robot_kinds": ["nursing"], "params": {"beds": beds}})

    def both_done() -> bool:
        states = rig.task_states()
        assert not {"failed", "cancelled", "rejected"} & {states.get("del-1"), states.get("round-1")}, \
            rig.task_reasons()
        return states.get("del-1") == "done" and states.get("round-1") == "done"

    wait_until(both_done, TASK_TIMEOUT_S, "the delivery and the round to be done", rig)
    api = {t["task_id"]: t for t in rig.get("/tasks")["tasks"]}
    assert api["del-1"]["state"] == "done" and api["del-1"]["robot_id"] == "logistics-1"
    assert api["round-1"]["state"] == "done" and api["round-1"]["robot_id"] == "nurse-a"
    assert api["round-1"]["done_items"] == 2 and api["round-1"]["requested_by"] == "op-0001"
    assert api["del-1"]["attempts"] == api["round-1"]["attempts"] == 1

    # the robots' events name the task; each started and succeeded exactly once
    for task_id, robot_id in (("del-1", "logistics-1"), ("round-1", "nurse-a")):
        events = rig.events_of(task_id)
        kinds = [e["event"] for e in events]
        assert kinds.count("mission.started") == 1 and kinds.count("mission.succeeded") == 1, kinds
        assert {e["mission_id"] for e in events} == {task_id}
        assert executed_dispatches(rig, robot_id) == [f"{task_id}.dispatch"]
    # one clinical record per bed, none twice
    records = [e["data"]["bed_ref"] for e in rig.events_of("round-1") if e["event"] == "clinical.record"]
    assert sorted(records) == ["A-01", "A-02"]
    # the fleet's commands were the fleet service's, to the right robot
    dispatches = [m for m in rig.unique(Channel.COMMANDS) if m.body and m.body["command"] == "dispatch"]
    assert {(m.body["target"]["robot_id"], m.body["params"]["task_id"]) for m in dispatches if m.body} == {
        ("logistics-1", "del-1"), ("nurse-a", "round-1")}
    assert all(m.body["issued_by"]["user"] == "fleet-service" for m in dispatches if m.body)
    print(f"fleet e2e: both tasks done {time.monotonic() - started:.1f} s after the start")


def test_fleet_killed_mid_delivery_restarts_without_loss_or_repeat(rig: Rig) -> None:
    rig.start_fleet()
    rig.start_robot("logistics-1", "logistics", "dock-supply", "central-supply")
    wait_until(lambda: robots_ready(rig, "logistics-1"), 40.0, "the robot to be available", rig)
    assert rig.post("/tasks", delivery("del-9", "ward-b", "syringe-10ml")).status_code == 201
    wait_until(lambda: rig.task_states().get("del-9") == "running", 30.0, "the delivery to start", rig)
    assert rig.fleet is not None
    rig.fleet.kill()  # kill -9: whatever it had not committed is gone
    time.sleep(2.0)  # the robot works on; its events wait in the fleet's session at the broker
    rig.start_fleet()
    assert rig.get("/tasks/del-9")["state"] in ("running", "done")  # the store kept it
    wait_until(lambda: rig.task_states().get("del-9") == "done", TASK_TIMEOUT_S, "the delivery to be done", rig)
    task = rig.get("/tasks/del-9")
    assert task["attempts"] == 1 and task["reallocations"] == 0
    kinds = [e["event"] for e in rig.events_of("del-9")]
    assert kinds.count("mission.started") == 1 and kinds.count("mission.succeeded") == 1, kinds
    assert executed_dispatches(rig, "logistics-1") == ["del-9.dispatch"]
