"""The reverse: a VDA 5050 master control we did not write (vda5050-sdk 0.2.0's MasterClient and
OrderBuilder) drives a medbot logistics robot in the simulator (`medbot robot run`, one-floor
hospital, 20x) through the bridge (`robots.vda5050_bridge`) on a real Mosquitto: a pick at central
supply and a drop at ward A's utility room become a supply_delivery; the master sees the order
accepted, the pick and drop FINISHED and the route traversed. A second order while the first runs
is held back by the master, which reads the vehicle as busy. Every VDA 5050 message either side sent is checked
against the official schemas."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from vda5050 import Action, MasterClient, MasterConfig, OrderBuilder

from fleet.site import site_from_json
from robots.vda5050_bridge import BridgeCore, Vda5050Bridge, places_from_map
from telemetry.vda5050 import Topic, VehicleId
from tests.vda5050.rig import ONE_FLOOR_WORLD, Sniffer, medbot_cli, one_floor_map, wait_until

pytestmark = pytest.mark.integration

TIME_SCALE = 20.0
SERIAL = "logistics-7"


def delivery_order(order_id: str, path: list[str], positions: dict[str, tuple[float, float]]) -> Any:
    builder = OrderBuilder(order_id=order_id, manufacturer="medbot", serial_number=SERIAL)
    for name in path:
        actions = []
        if name == "central-supply":
            actions = [Action(action_id=f"{order_id}-pick", action_type="pick", blocking_type="HARD",
                              action_parameters=[{"key": "items", "value": [{"item": "gloves-m-box", "quantity": 2}]}])]
        elif name == "ward-a-utility":
            actions = [Action(action_id=f"{order_id}-drop", action_type="drop", blocking_type="HARD",
                              action_parameters=[{"key": "ward", "value": "ward-a"}])]
        x, y = positions[name]
        builder.add_node(name, x=x, y=y, theta=0.0, map_id="level-0", allowed_deviation_xy=1.5, actions=actions)
    for a, b in itertools.pairwise(path):
        builder.add_edge(a, b)
    return builder.build()


def test_master_drives_a_medbot_robot_through_an_order(mosquitto, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site_id = f"vdab-{uuid.uuid4().hex[:6]}"
    data = one_floor_map()
    site = site_from_json(data)
    positions = {n: (d["x_m"], d["y_m"]) for n, d in site.graph.nodes(data=True)}
    path = nx.shortest_path(site.graph, "dock-supply", "central-supply", weight="length_m") + \
        nx.shortest_path(site.graph, "central-supply", "ward-a-utility", weight="length_m")[1:]
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"vda5050-bridge": {"role": "operator", "targets": [f"{site_id}/{SERIAL}"]}}))
    robot = medbot_cli(SERIAL, [
        "robot", "run", "--id", SERIAL, "--kind", "logistics", "--dock", "dock-supply", "--site", site_id,
        "--broker", mosquitto.url, "--serves", "central-supply", "--world", str(ONE_FLOOR_WORLD),
        "--journal", str(tmp_path / "journal"), "--operators", str(policy), "--time-scale", str(TIME_SCALE),
        "--time-origin", repr(time.time())], tmp_path)
    sniffer = Sniffer(mosquitto.url)
    bridge = Vda5050Bridge(BridgeCore(VehicleId("medbot", SERIAL), site_id, SERIAL, places_from_map(data),
                                      user="vda5050-bridge"), mosquitto.url, state_period_s=2.0)
    bridge.start()
    try:
        wait_until(lambda: any(s.get("agvPosition") for s in sniffer.of(Topic.STATE, SERIAL)), 30.0,
                   "the robot's pose in the vehicle's state", [robot])
        asyncio.run(_drive(mosquitto.url, path, positions, sniffer, robot))
    finally:
        bridge.stop()
        robot.stop()
        sniffer.close()
    assert not sniffer.invalid, sniffer.invalid[:5]
    connections = [c["connectionState"] for c in sniffer.of(Topic.CONNECTION, SERIAL)]
    assert connections[0] == "ONLINE" and connections[-1] == "OFFLINE"
    assert sniffer.of(Topic.FACTSHEET, SERIAL), "the bridge published its factsheet"
    audit = (tmp_path / "journal").rglob("*")
    assert any(p.is_file() for p in audit)  # the robot's command audit log: the bridge went through it


async def _drive(broker_url: str, path: list[str], positions: dict[str, tuple[float, float]], sniffer: Sniffer,
                 robot: Any) -> None:
    async with MasterClient(MasterConfig(broker_url=broker_url, client_id=f"sdk-master-{uuid.uuid4().hex[:6]}",
                                         validate_messages=True)) as master:
        result = await master.dispatch(delivery_order("sup-1", path, positions), target=f"medbot/{SERIAL}")
        assert result.accepted, result

        def state() -> dict[str, Any]:
            return sniffer.of(Topic.STATE, SERIAL)[-1]

        await _wait(lambda: state()["orderId"] == "sup-1" and state()["nodeStates"], 15.0, "the order accepted", robot)
        # a second order while the first runs: the master itself sees the vehicle busy in our state
        # (nodeStates left, §6.6.2) and does not send it
        second = await master.dispatch(delivery_order("sup-2", path, positions), target=f"medbot/{SERIAL}")
        assert not second.accepted and second.error_type == "orderError", second
        await _wait(lambda: _status(state(), "sup-1-pick") == "FINISHED", 40.0, "the pick done", robot)
        await _wait(lambda: _status(state(), "sup-1-drop") == "FINISHED" and not state()["nodeStates"], 40.0,
                    "the drop done", robot)
        final = state()
        assert final["lastNodeId"] == "ward-a-utility" and final["orderId"] == "sup-1"
        assert final["lastNodeSequenceId"] == 2 * (len(path) - 1)
        assert final["safetyState"]["eStop"] == "NONE"
        session = await master.session(f"medbot/{SERIAL}")
        assert session.state is not None and session.state.order_id == "sup-1"  # the master read it too


def _status(state: dict[str, Any], action_id: str) -> str | None:
    return next((a["actionStatus"] for a in state["actionStates"] if a["actionId"] == action_id), None)


async def _wait(cond: Any, timeout_s: float, what: str, robot: Any) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n--- robot\n{robot.text()[-3000:]}")
