"""Every message our two VDA 5050 sides build validates against the official 2.1.0 schemas, and the
translations say what docs/vda5050.md says (no broker: the translators are plain Python)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleet.site import site_from_json
from fleet.vda5050 import VehicleSettings, VehicleTracker
from robots.vda5050_bridge import BridgeCore, places_from_map
from telemetry.codec import MessageEncoder
from telemetry.topics import Channel
from telemetry.vda5050 import PROTOCOL_VERSION, Topic, Vda5050Error, VehicleId, check, encode
from telemetry.vda5050.protocol import SCHEMA_DIR, load_schema
from tests.vda5050.rig import one_floor_map
from tests.vda5050.sdk_vehicle import factsheet_dict

NOW = 1_780_000_000.0
VEHICLE = VehicleId("acme", "agv-9")


def vda_state(**over: Any) -> dict[str, Any]:
    state = {"headerId": 1, "timestamp": "2026-05-28T20:26:40.000Z", "version": PROTOCOL_VERSION,
             "manufacturer": "acme", "serialNumber": "agv-9", "orderId": "", "orderUpdateId": 0, "lastNodeId": "",
             "lastNodeSequenceId": 0, "nodeStates": [], "edgeStates": [], "driving": False, "actionStates": [],
             "batteryState": {"batteryCharge": 80.0, "charging": False}, "operatingMode": "AUTOMATIC", "errors": [],
             "safetyState": {"eStop": "NONE", "fieldViolation": False}}
    state.update(over)
    check(Topic.STATE, state)
    return state


@pytest.fixture
def tracker() -> VehicleTracker:
    site = site_from_json(one_floor_map())
    t = VehicleTracker(VEHICLE, "acme-agv-9", site, settings=VehicleSettings(), map_ids={})
    t.on_factsheet(factsheet_dict("acme", "agv-9", ["pick", "drop"]))
    t.on_connection({"connectionState": "ONLINE"}, NOW)
    place = site.place("ward-a-utility")
    t.on_state(vda_state(agvPosition={"x": place.x_m, "y": place.y_m, "theta": 0.0, "mapId": "level-0",
                                      "positionInitialized": True}), NOW)
    return t


def medbot_valid(robot_id: str, channel: Channel, body: dict[str, Any]) -> None:
    MessageEncoder("site-1", robot_id).prepare(channel, body, NOW)  # raises PayloadError


def test_shipped_schemas_are_the_official_2_1_set() -> None:
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(
        ["connection.json", "factsheet.json", "instantActions.json", "order.json", "state.json", "visualization.json"])
    assert "Verband der Automobilindustrie" in (SCHEMA_DIR / "LICENSE.txt").read_text(encoding="utf-8")
    assert load_schema(Topic.CONNECTION)["properties"]["connectionState"]["enum"] == ["ONLINE", "OFFLINE",
                                                                                      "CONNECTIONBROKEN"]
    assert "maps" in load_schema(Topic.STATE)["properties"]  # 2.1: the state lists the vehicle's maps


def test_a_broken_message_is_refused_with_its_path() -> None:
    bad = vda_state()
    bad["batteryState"] = {"batteryCharge": "full", "charging": False}
    with pytest.raises(Vda5050Error, match=r"\$\.batteryState\.batteryCharge"):
        encode(Topic.STATE, bad)
    with pytest.raises(Vda5050Error, match="version"):
        check(Topic.STATE, vda_state(version="1.1.0"))


def test_the_fleet_side_sends_only_valid_orders_and_instant_actions(tracker: VehicleTracker) -> None:
    medbot, vda = tracker.on_command({"command_id": "del-1.dispatch", "command": "dispatch", "params": {
        "kind": "supply_delivery", "mission_id": "del-1", "task_id": "del-1",
        "params": {"origin": "central-supply", "destination": "ward-a-utility", "delivery_id": "del-1"}}}, NOW)
    assert medbot == []  # the ack waits for the vehicle's state
    (topic, order), = vda
    assert topic is Topic.ORDER
    encode(Topic.ORDER, order)
    released = [n["released"] for n in order["nodes"]]
    assert released[:4] == [True] * 4 and not released[-1]  # base of 3 beyond the start, then the horizon
    actions = [a["actionType"] for n in order["nodes"] for a in n["actions"]]
    assert actions == ["pick", "drop"]
    for command in ("cancel", "pause", "resume"):
        _, sent = tracker.on_command({"command_id": f"c-{command}", "command": command,
                                      "params": {"mission_id": "del-1"} if command == "cancel" else {}}, NOW)
        (kind, message), = sent
        encode(kind, message)
    assert tracker.on_command({"command_id": "x", "command": "remote_estop", "params": {}}, NOW)[0][0][1][
        "status"] == "nack"


def test_vehicle_state_becomes_task_events(tracker: VehicleTracker) -> None:
    _, vda = tracker.on_command({"command_id": "del-2.dispatch", "command": "dispatch", "params": {
        "kind": "supply_delivery", "mission_id": "del-2", "task_id": "del-2",
        "params": {"origin": "central-supply", "destination": "ward-a-utility"}}}, NOW)
    order = vda[0][1]
    plan = tracker.order
    assert plan is not None
    pick_id = next(a for a, (kind, _) in plan.plan.actions.items() if kind == "pick")
    pick_seq = plan.plan.nodes[plan.plan.actions[pick_id][1]].sequence_id
    out, updates = tracker.on_state(vda_state(orderId="del-2", lastNodeId=order["nodes"][0]["nodeId"],
                                              nodeStates=[{"nodeId": "x", "sequenceId": 2, "released": True}]), NOW)
    kinds = [(ch, b.get("event") or b.get("status")) for ch, b in out]
    assert (Channel.COMMANDS_ACK, "ack") in kinds and (Channel.EVENTS, "mission.started") in kinds
    for channel, body in out:
        medbot_valid("acme-agv-9", channel, body)
    out, updates = tracker.on_state(vda_state(
        orderId="del-2", lastNodeSequenceId=pick_seq, lastNodeId="central-supply",
        nodeStates=[{"nodeId": "x", "sequenceId": pick_seq + 2, "released": True}],
        actionStates=[{"actionId": pick_id, "actionType": "pick", "actionStatus": "FINISHED"}]), NOW)
    steps = [b.get("step") for ch, b in out if ch is Channel.EVENTS]
    assert "custody.loaded" in steps and "node.reached" in steps
    assert updates and updates[0][1]["orderUpdateId"] >= 1  # near the end of the base: the next stretch
    encode(Topic.ORDER, updates[0][1])
    # a manual e-stop latches for the fleet; a FATAL error is out of service
    (_, state), *_ = tracker.on_state(vda_state(orderId="del-2", lastNodeSequenceId=pick_seq,
                                                safetyState={"eStop": "MANUAL", "fieldViolation": False},
                                                errors=[{"errorType": "laserScanner", "errorLevel": "FATAL"}]), NOW)[0]
    assert state["safety"] == {"state": "estop", "estop_latched": True, "reason": "VDA 5050 eStop MANUAL"}
    assert state["errors"][0]["level"] == "FATAL"
    medbot_valid("acme-agv-9", Channel.STATE, state)


def test_a_refused_order_is_a_nack_with_the_vehicles_reason(tracker: VehicleTracker) -> None:
    tracker.on_command({"command_id": "t-3.dispatch", "command": "dispatch", "params": {
        "kind": "transport", "mission_id": "t-3", "params": {"origin": "central-supply",
                                                            "destination": "ward-a-utility"}}}, NOW)
    out, _ = tracker.on_state(vda_state(errors=[{"errorType": "noRouteError", "errorLevel": "WARNING",
                                                 "errorDescription": "blocked",
                                                 "errorReferences": [{"referenceKey": "orderId",
                                                                      "referenceValue": "t-3"}]}]), NOW)
    (channel, ack), *_ = out[1:]
    assert channel is Channel.COMMANDS_ACK and ack["status"] == "nack" and "noRouteError" in ack["reason"]
    assert tracker.order is None


def test_the_bridge_sends_only_valid_messages_and_refuses_what_it_cannot_run() -> None:
    data = one_floor_map()
    core = BridgeCore(VehicleId("medbot", "logistics-1"), "site-1", "logistics-1", places_from_map(data),
                      user="vda5050-bridge")
    core.on_robot("connection", {"state": "ONLINE", "session": 1})
    core.on_robot("state", {"pose": {"x_m": 1.0, "y_m": 2.0, "yaw_rad": 0.0, "level": 0},
                            "velocity": {"linear_mps": 0.0, "angular_radps": 0.0},
                            "battery": {"soc_fraction": 0.9, "charging": False}, "operating_mode": "automatic",
                            "safety": {"state": "protective_stop", "estop_latched": False, "reason": "bumper"},
                            "mission": None, "errors": [], "devices": {}})
    for message, topic in ((core.state_message(NOW), Topic.STATE), (core.factsheet_message(NOW), Topic.FACTSHEET),
                           (core.connection_message("ONLINE", NOW), Topic.CONNECTION)):
        encode(topic, message)
    assert core.state_message(NOW)["safetyState"]["eStop"] == "AUTOACK"
    move_only = {"headerId": 0, "timestamp": "2026-05-28T20:26:40.000Z", "version": PROTOCOL_VERSION,
                 "manufacturer": "medbot", "serialNumber": "logistics-1", "orderId": "m-1", "orderUpdateId": 0,
                 "nodes": [{"nodeId": "central-supply", "sequenceId": 0, "released": True, "actions": []}],
                 "edges": []}
    check(Topic.ORDER, move_only)
    assert core.on_order(move_only) == []
    state = core.state_message(NOW)
    encode(Topic.STATE, state)
    assert state["errors"][0]["errorType"] == "orderError"
    assert {"referenceKey": "orderId", "referenceValue": "m-1"} in state["errors"][0]["errorReferences"]
    assert json.dumps(state)  # plain JSON all through


def test_fleet_run_says_what_is_wrong_with_a_vda5050_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from fleet.cli import fleet_command

    map_path = tmp_path / "map.json"
    map_path.write_text(json.dumps(one_floor_map()), encoding="utf-8")
    bad = tmp_path / "vda5050.yaml"
    bad.write_text("base_nodes: 0\n", encoding="utf-8")
    result = CliRunner().invoke(fleet_command, ["run", "--broker", "mqtt://127.0.0.1:1", "--site", "s1",
                                                "--map", str(map_path), "--vda5050", str(bad),
                                                "--store", f"sqlite:///{tmp_path / 'f.db'}"])
    assert result.exit_code != 0
    assert "vda5050.yaml: base_nodes:" in result.output
