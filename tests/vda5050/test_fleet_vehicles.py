"""The fleet drives a VDA 5050 vehicle we did not write (vda5050-sdk 0.2.0's VehicleClient and
reference OrderExecutor, `sdk_vehicle.py`, its own process) over a real Mosquitto, next to medbot
robots: an order driven to completion and extended by order updates as the vehicle nears the end
of its base; a cancel that stops it; a vehicle killed mid-order (the broker publishes its Last Will
CONNECTIONBROKEN) whose task goes to a medbot logistics robot (`medbot robot run`) and is done there.
Every VDA 5050 message either side sent is checked against the official 2.1.0 schemas (`Sniffer`).

The fleet runs in this process (`FleetRuntime` with a `MixedFleetLink`) on a clock 20x wall time
shared with the robot process. Every wait is bounded.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fleet.clock import ScaledClock
from fleet.config import FleetConfig
from fleet.runtime import FleetRuntime
from fleet.site import SiteMap, site_from_json
from fleet.tasks import TaskRequest, TaskState
from fleet.vda5050 import MixedFleetLink, Vda5050Settings, VehicleEntry
from telemetry.vda5050 import Topic
from tests.vda5050.rig import ONE_FLOOR_WORLD, Proc, Sniffer, medbot_cli, one_floor_map, sdk_vehicle, wait_until

pytestmark = pytest.mark.integration

TIME_SCALE = 20.0
MANUFACTURER = "sdkmotors"


@dataclass
class Fleet:
    runtime: FleetRuntime
    link: MixedFleetLink
    clock: ScaledClock
    site: SiteMap
    site_id: str
    broker_url: str
    workdir: Path
    sniffer: Sniffer
    procs: list[Proc]

    def submit(self, task_id: str, kind: str, params: dict[str, object], **kw: object) -> None:
        self.runtime.service.submit(TaskRequest(task_id, kind, params, **kw), self.clock.now_s())  # type: ignore[arg-type]

    def task_state(self, task_id: str) -> TaskState | None:
        task = self.runtime.service.task(task_id)
        return None if task is None else task.state

    def wait_task(self, task_id: str, states: set[TaskState], timeout_s: float, what: str) -> None:
        wait_until(lambda: self.task_state(task_id) in states, timeout_s, f"{task_id} {what}", self.procs)

    def vehicle(self, serial: str, x_place: str, **kw: object) -> Proc:
        place = self.site.place(x_place)
        proc = sdk_vehicle(self.broker_url, MANUFACTURER, serial, place.x_m, place.y_m, self.workdir, **kw)  # type: ignore[arg-type]
        self.procs.append(proc)
        robot_id = f"{MANUFACTURER}-{serial}"
        wait_until(lambda: self._ready(robot_id), 20.0, f"vehicle {serial} known to the fleet", self.procs)
        return proc

    def _ready(self, robot_id: str) -> bool:
        robots = {r.robot_id: r for r in self.runtime.service.robots()}
        r = robots.get(robot_id)
        return r is not None and r.online and r.kind is not None and r.has_state


@pytest.fixture
def fleet(mosquitto, tmp_path: Path) -> Iterator[Fleet]:  # type: ignore[no-untyped-def]
    site_id = f"vda-{uuid.uuid4().hex[:6]}"
    site = site_from_json(one_floor_map())
    clock = ScaledClock(TIME_SCALE)
    config = FleetConfig(step_period_s=0.5, allocation_period_s=5.0, dispatch_retry_s=20.0)
    settings = Vda5050Settings(manufacturer=MANUFACTURER, base_nodes=3, resend_s=20.0,
                               vehicles={f"{MANUFACTURER}/agv-late": VehicleEntry(serves="ward-a")})
    link = MixedFleetLink(mosquitto.url, site_id, settings, site, clock_s=clock.now_s,
                          client_id=f"medbot-fleet-{site_id}")
    runtime = FleetRuntime(config, site, f"sqlite:///{tmp_path / 'fleet.db'}", link, clock, site_id)
    sniffer = Sniffer(mosquitto.url)
    runtime.start()
    thread = threading.Thread(target=runtime.run, name="fleet-loop", daemon=True)
    thread.start()
    rig = Fleet(runtime, link, clock, site, site_id, mosquitto.url, tmp_path, sniffer, [])
    try:
        yield rig
    finally:
        runtime.stop()
        thread.join(15)
        for proc in rig.procs:
            proc.stop()
        sniffer.close()
        assert not sniffer.invalid, f"VDA 5050 messages that break the official schema: {sniffer.invalid[:5]}"
        assert link.vda5050.dropped == 0, "a translation broke the medbot contract (see the log)"


def orders_received(proc: Proc, order_id: str) -> list[dict[str, object]]:
    return [line for line in proc.lines() if line.get("vehicle") == "order" and line.get("orderId") == order_id]


def test_order_to_completion_with_updates(fleet: Fleet) -> None:
    """A supply delivery on a vehicle that picks and drops: the order's base grows by updates
    (orderUpdateId 0, 1, 2, ... each starting at the last released node) until the whole route
    is released; pick at central supply, drop at the ward; the task is done."""
    vehicle = fleet.vehicle("agv-1", "ward-a-utility")
    fleet.submit("vda-del-1", "supply_delivery", {"delivery_id": "vda-del-1", "origin": "central-supply",
                                                   "destination": "ward-a-utility", "ward": "ward-a",
                                                   "items": [{"item": "gloves-m-box", "quantity": 4}]})
    fleet.wait_task("vda-del-1", {TaskState.DONE, TaskState.FAILED}, 45.0, "done")
    task = fleet.runtime.service.task("vda-del-1")
    assert task is not None and task.state is TaskState.DONE, task
    assert task.robot_id == f"{MANUFACTURER}-agv-1"

    updates = orders_received(vehicle, "vda-del-1")
    ids = [u["orderUpdateId"] for u in updates]
    assert ids == list(range(len(ids))) and len(ids) >= 3, ids  # extended by updates, none skipped
    for previous, update in itertools.pairwise(updates):
        assert update["released"][0] == previous["released"][-1]  # stitched at the last released node
    sent = fleet.sniffer.of(Topic.ORDER, "agv-1")
    assert sent[0]["nodes"][0]["released"] and not sent[0]["nodes"][-1]["released"]  # base + horizon
    assert [n["sequenceId"] for n in sent[0]["nodes"]] == list(range(0, 2 * len(sent[0]["nodes"]), 2))
    last_state = fleet.sniffer.of(Topic.STATE, "agv-1")[-1]
    assert last_state["orderId"] == "vda-del-1" and not last_state["nodeStates"]
    finished = {a["actionType"] for a in last_state["actionStates"] if a["actionStatus"] == "FINISHED"}
    assert {"pick", "drop"} <= finished


def test_cancel_stops_the_vehicle(fleet: Fleet) -> None:
    vehicle = fleet.vehicle("agv-2", "ward-a-utility", node_delay=0.4)
    fleet.submit("vda-move-2", "transport", {"origin": "central-supply", "destination": "ward-a-utility"})
    fleet.wait_task("vda-move-2", {TaskState.RUNNING}, 20.0, "running")
    wait_until(lambda: fleet.sniffer.of(Topic.STATE, "agv-2")[-1]["lastNodeSequenceId"] >= 2, 15.0,
               "the vehicle past its first node", fleet.procs)
    fleet.runtime.service.cancel("vda-move-2", fleet.clock.now_s(), by="op-0001", reason="not needed")
    wait_until(lambda: any(line.get("actionType") == "cancelOrder" for line in vehicle.lines()), 10.0,
               "cancelOrder at the vehicle", fleet.procs)
    assert fleet.task_state("vda-move-2") is TaskState.CANCELLED
    wait_until(lambda: not fleet.sniffer.of(Topic.STATE, "agv-2")[-1]["nodeStates"], 10.0, "the route cleared",
               fleet.procs)
    stopped_at = fleet.sniffer.of(Topic.STATE, "agv-2")[-1]["lastNodeSequenceId"]
    time.sleep(1.5)  # the vehicle would pass three more nodes in this time if it had not stopped
    states = fleet.sniffer.of(Topic.STATE, "agv-2")
    assert states[-1]["lastNodeSequenceId"] == stopped_at
    cancel = [a for a in states[-1]["actionStates"] if a["actionType"] == "cancelOrder"]
    assert cancel and cancel[0]["actionStatus"] == "FINISHED"
    robot = {r.robot_id: r for r in fleet.runtime.service.robots()}[f"{MANUFACTURER}-agv-2"]
    assert robot.unavailable_reason() is None  # free for the next task


def test_vehicle_lost_mid_order_goes_to_a_medbot_robot(fleet: Fleet) -> None:
    """The vehicle is killed mid-order: its Last Will (CONNECTIONBROKEN) takes the task back, and
    the medbot logistics robot started afterwards delivers it."""
    vehicle = fleet.vehicle("agv-late", "ward-a-utility", node_delay=0.5)
    fleet.submit("vda-del-3", "supply_delivery", {"delivery_id": "vda-del-3", "origin": "central-supply",
                                                   "destination": "ward-a-utility", "ward": "ward-a",
                                                   "items": [{"item": "gloves-m-box", "quantity": 2}]},
                 zone="ward-a", place="central-supply")
    fleet.wait_task("vda-del-3", {TaskState.RUNNING}, 20.0, "running on the vehicle")
    wait_until(lambda: fleet.sniffer.of(Topic.STATE, "agv-late")[-1]["lastNodeSequenceId"] >= 2, 15.0,
               "the vehicle on its way (before the pick)", fleet.procs)
    vehicle.kill()  # no OFFLINE: the broker publishes the Last Will
    wait_until(lambda: any(c["connectionState"] == "CONNECTIONBROKEN"
                           for c in fleet.sniffer.of(Topic.CONNECTION, "agv-late")), 15.0, "the Last Will", fleet.procs)
    fleet.wait_task("vda-del-3", {TaskState.WAITING}, 10.0, "back in the queue")
    task = fleet.runtime.service.task("vda-del-3")
    assert task is not None and task.reallocations == 1 and not task.result.get("custody_loaded")

    map_path = fleet.workdir / "map.json"
    map_path.write_text(json.dumps(one_floor_map()), encoding="utf-8")
    robot = medbot_cli("logistics-1", [
        "robot", "run", "--id", "logistics-1", "--kind", "logistics", "--dock", "dock-supply", "--site", fleet.site_id,
        "--broker", fleet.broker_url, "--serves", "central-supply", "--world", str(ONE_FLOOR_WORLD),
        "--journal", str(fleet.workdir / "journal-logistics-1"), "--time-scale", str(TIME_SCALE),
        "--time-origin", repr(fleet.clock.origin_s)], fleet.workdir)
    fleet.procs.append(robot)
    fleet.wait_task("vda-del-3", {TaskState.DONE, TaskState.FAILED}, 60.0, "done by the medbot robot")
    task = fleet.runtime.service.task("vda-del-3")
    assert task is not None and task.state is TaskState.DONE and task.robot_id == "logistics-1", task
    assert task.attempts == 2
