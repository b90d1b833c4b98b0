"""A medbot logistics robot as a VDA 5050 vehicle: the translation, with no I/O.

`BridgeCore` takes a VDA 5050 master's ``order`` and ``instantActions`` for one vehicle and answers
with medbot commands for the robot (the same `commands` a fleet sends: ``dispatch`` of a
``supply_delivery``, ``cancel``, ``pause``, ``resume``); it reads the robot's medbot contract
messages (factsheet, connection, state, events, command acks) and composes the vehicle's VDA 5050
``state``, ``connection`` and ``factsheet``. Mapping (docs/vda5050.md, "medbot robot as a vehicle"):

* an order needs one ``pick`` and one ``drop`` node action, both in its released base: the pick's
  node is the delivery's origin, the drop's its destination (node ids are the site's place names);
  ``items`` (or ``loadType``/``loadId``) on the pick and ``ward`` on the drop fill in the delivery,
  the site map gives the ward otherwise. It becomes a ``supply_delivery`` with ``return_to_dock``
  false (the master decides where the vehicle goes next). Anything else is refused with an
  ``orderError`` naming the order (§6.6.4): the robot's own navigator drives, so a move-only order
  has no medbot mission here.
* progress: a node counts as traversed when the robot comes within its ``allowedDeviationXY``
  (1 m without one) in order, and every node up to the pick (drop) node once the robot works there;
  ``pick`` RUNNING while the sender authenticates and loads, FINISHED at ``custody.loaded``;
  ``drop`` likewise up to ``custody.handed_over``; the mission's success ends the order.
* an update (same orderId, orderUpdateId + 1, starting at the last released node) is taken when the
  pick and drop stay where they were; ``cancelOrder`` cancels the mission; ``startPause`` /
  ``stopPause`` pause and resume it.
* safety: the robot's latched e-stop is ``eStop`` MANUAL, a protective stop AUTOACK; its errors are
  WARNINGs (FATAL stays FATAL); battery, pose (floor → ``mapId``), velocity as they are.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from telemetry.commands import command_body
from telemetry.topics import Channel
from telemetry.vda5050 import HeaderFactory, Topic, VehicleId

MISSION_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,120}$")
ITEM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
PICK_STEPS = frozenset({"auth_sender", "load"})
DROP_STEPS = frozenset({"auth_recipient", "hand_over"})


@dataclass(frozen=True)
class Place:
    name: str
    ward: str | None
    x_m: float
    y_m: float
    level: int


def places_from_map(data: dict[str, Any]) -> dict[str, Place]:
    """The places of a ``medbot.map/1`` file (the one the fleet and the dashboard read)."""
    return {str(p["name"]): Place(str(p["name"]), p.get("ward") or p.get("zone"), float(p["x_m"]), float(p["y_m"]),
                                  int(p.get("level", 0))) for p in data.get("places", [])}


class OrderRejected(ValueError):
    def __init__(self, error_type: str, description: str) -> None:
        super().__init__(description)
        self.error_type = error_type


@dataclass
class VdaOrder:
    order_id: str
    update_id: int
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    pick: dict[str, Any]
    drop: dict[str, Any]
    pick_index: int
    drop_index: int
    traversed: int = -1  # index of the last node traversed
    actions: dict[str, str] = field(default_factory=dict)  # actionId -> status
    ended: bool = False


class BridgeCore:
    def __init__(self, vehicle: VehicleId, site: str, robot_id: str, places: dict[str, Place], *, user: str,
                 map_ids: dict[int, str] | None = None) -> None:
        self.vehicle = vehicle
        self.site = site
        self.robot_id = robot_id
        self.places = places
        self.user = user
        self.map_ids = dict(map_ids or {})
        self.headers = HeaderFactory(vehicle)
        self.order: VdaOrder | None = None
        self.robot_state: dict[str, Any] | None = None
        self.robot_factsheet: dict[str, Any] | None = None
        self.robot_online = False
        self.errors: list[dict[str, Any]] = []  # order refusals (WARNING), until the next accepted order
        self.instant: dict[str, tuple[str, str]] = {}  # actionId -> (actionType, status)
        self._commands = 0

    # ---- the master's messages ----------------------------------------------------------------

    def on_order(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        """Medbot commands for the robot (none if the order is refused or a repeat)."""
        current = self.order
        order_id, update_id = str(msg["orderId"]), int(msg["orderUpdateId"])
        try:
            if current is not None and current.order_id == order_id:
                return self._update(current, msg, update_id)
            if current is not None and not current.ended:
                raise OrderRejected("orderError", f"busy with order {current.order_id}")
            order = self._parse(msg)
        except OrderRejected as exc:
            self._refuse(exc, order_id, update_id)
            return []
        self.errors = []
        self.order = order
        params = self._delivery(order)
        return [self._command("dispatch", {"kind": "supply_delivery", "mission_id": order_id, "params": params},
                              command_id=f"{order_id}.dispatch")]

    def _update(self, order: VdaOrder, msg: dict[str, Any], update_id: int) -> list[dict[str, Any]]:
        if update_id == order.update_id:
            return []  # the same update again (§6.6.2: discarded)
        if update_id < order.update_id:
            raise OrderRejected("orderUpdateError", f"orderUpdateId {update_id} is older than {order.update_id}")
        stitch = order.nodes[max(i for i, n in enumerate(order.nodes) if n["released"])]
        first = msg["nodes"][0]
        if (first["nodeId"], first["sequenceId"]) != (stitch["nodeId"], stitch["sequenceId"]):
            raise OrderRejected("orderUpdateError", f"update does not start at the last released node "
                                f"{stitch['nodeId']} (sequenceId {stitch['sequenceId']})")
        kept = [n for n in order.nodes if n["sequenceId"] < first["sequenceId"]]
        nodes = kept + list(msg["nodes"])
        new_actions = {a["actionType"] for n in msg["nodes"][1:] for a in n.get("actions") or []}
        if new_actions & {"pick", "drop"}:
            raise OrderRejected("orderUpdateError", "an update may not move the pick or the drop of a running delivery")
        order.nodes = nodes
        order.edges = [e for e in order.edges if e["sequenceId"] < first["sequenceId"]] + list(msg["edges"])
        order.update_id = update_id
        return []

    def _parse(self, msg: dict[str, Any]) -> VdaOrder:
        order_id = str(msg["orderId"])
        if not MISSION_ID_RE.fullmatch(order_id):
            raise OrderRejected("validationError", f"orderId {order_id!r} must be 1-120 of A-Z a-z 0-9 . _ : -")
        found: dict[str, tuple[int, dict[str, Any]]] = {}
        for i, node in enumerate(msg["nodes"]):
            for action in node.get("actions") or []:
                kind = action["actionType"]
                if kind not in ("pick", "drop"):
                    raise OrderRejected("orderError", f"action {kind!r} at node {node['nodeId']}: this vehicle runs "
                                        "pick and drop only")
                if kind in found:
                    raise OrderRejected("orderError", f"more than one {kind} action")
                if not node["released"]:
                    raise OrderRejected("orderError", f"the {kind} at node {node['nodeId']} is in the horizon: a "
                                        "delivery starts only with both pick and drop released")
                if node["nodeId"] not in self.places:
                    raise OrderRejected("noRouteError", f"node {node['nodeId']!r} is no place of this site")
                found[kind] = (i, action)
        if set(found) != {"pick", "drop"} or found["pick"][0] >= found["drop"][0]:
            raise OrderRejected("orderError", "an order for this vehicle needs a pick action and then a drop action "
                                "(it becomes a supply_delivery)")
        order = VdaOrder(order_id, int(msg["orderUpdateId"]), list(msg["nodes"]), list(msg["edges"]),
                         found["pick"][1], found["drop"][1], found["pick"][0], found["drop"][0])
        order.actions = {a["actionId"]: "WAITING" for a in (order.pick, order.drop)}
        return order

    def _delivery(self, order: VdaOrder) -> dict[str, Any]:
        pick, drop = _parameters(order.pick), _parameters(order.drop)
        origin, destination = order.nodes[order.pick_index]["nodeId"], order.nodes[order.drop_index]["nodeId"]
        items = pick.get("items")
        if not isinstance(items, list) or not items:
            load = str(pick.get("loadType") or pick.get("loadId") or "load")
            items = [{"item": load if ITEM_RE.fullmatch(load) else "load", "quantity": 1}]
        ward = drop.get("ward") or self.places[destination].ward or destination
        return {"delivery_id": order.order_id[:64], "origin": origin, "destination": destination, "ward": str(ward),
                "items": items, "return_to_dock": False}

    def on_instant_actions(self, msg: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for action in msg["actions"]:
            kind, action_id = action["actionType"], action["actionId"]
            order = self.order
            if kind == "cancelOrder":
                if order is None or order.ended:
                    self.instant[action_id] = (kind, "FAILED")
                    self.errors.append(_error("noOrderToCancel", "no order to cancel", "WARNING",
                                              [("actionId", action_id)]))
                    continue
                self.instant[action_id] = (kind, "RUNNING")
                out.append(self._command("cancel", {"mission_id": order.order_id},
                                         command_id=f"{order.order_id}.cancel"))
            elif kind in ("startPause", "stopPause"):
                self.instant[action_id] = (kind, "FINISHED")
                out.append(self._command("pause" if kind == "startPause" else "resume", {}))
            elif kind in ("stateRequest", "factsheetRequest"):
                self.instant[action_id] = (kind, "FINISHED")
            else:
                self.instant[action_id] = (kind, "FAILED")
                self.errors.append(_error("unsupportedActionType", f"{kind} is not supported", "WARNING",
                                          [("actionId", action_id)]))
        return out

    # ---- the robot's messages -----------------------------------------------------------------

    def on_robot(self, channel: str, body: dict[str, Any]) -> None:
        if channel == Channel.FACTSHEET.value:
            self.robot_factsheet = body
        elif channel == Channel.CONNECTION.value:
            self.robot_online = body["state"] == "ONLINE"
        elif channel == Channel.STATE.value:
            self.robot_state = body
            self._follow_pose(body)
        elif channel == Channel.EVENTS.value:
            self._on_event(body)
        elif channel == Channel.COMMANDS_ACK.value and body.get("status") == "nack":
            self._on_nack(body)

    def _follow_pose(self, state: dict[str, Any]) -> None:
        order = self.order
        if order is None or order.ended:
            return
        mission = state.get("mission") or {}
        if mission.get("id") == order.order_id:
            step = mission.get("step")
            if step in PICK_STEPS:
                self._reach(order, order.pick_index)
                order.actions[order.pick["actionId"]] = "RUNNING"
            elif step in DROP_STEPS:
                self._reach(order, order.drop_index)
                order.actions[order.drop["actionId"]] = "RUNNING"
        pose = state["pose"]
        while order.traversed + 1 < len(order.nodes):
            node = order.nodes[order.traversed + 1]
            pos = node.get("nodePosition")
            limit = float((pos or {}).get("allowedDeviationXY") or 1.0)
            far = pos is None or math.hypot(pos["x"] - pose["x_m"], pos["y"] - pose["y_m"]) > limit
            if far or not node["released"]:
                break
            order.traversed += 1
            if order.traversed in (order.pick_index, order.drop_index):
                break  # a work node is done when its action is

    def _reach(self, order: VdaOrder, index: int) -> None:
        order.traversed = max(order.traversed, index)

    def _on_event(self, body: dict[str, Any]) -> None:
        order = self.order
        if order is None or body.get("mission_id") != order.order_id or order.ended:
            return
        event, step = body.get("event"), body.get("step")
        if event == "mission.step" and step == "custody.loaded":
            self._reach(order, order.pick_index)
            order.actions[order.pick["actionId"]] = "FINISHED"
        elif event == "mission.step" and step == "custody.handed_over":
            self._reach(order, order.drop_index)
            order.actions[order.drop["actionId"]] = "FINISHED"
        elif event == "mission.succeeded":
            order.traversed = len(order.nodes) - 1
            order.ended = True
        elif event in ("mission.failed", "mission.cancelled"):
            for action_id, status in order.actions.items():
                if status != "FINISHED":
                    order.actions[action_id] = "FAILED"
            order.ended = True
            for action_id, (kind, status) in list(self.instant.items()):
                if kind == "cancelOrder" and status == "RUNNING":
                    self.instant[action_id] = (kind, "FINISHED")
            if event == "mission.failed":
                self.errors.append(_error("orderActionError", str(body.get("reason") or "mission failed"), "WARNING",
                                          [("orderId", order.order_id)]))

    def _on_nack(self, body: dict[str, Any]) -> None:
        order = self.order
        if order is None or body.get("command_id") != f"{order.order_id}.dispatch":
            return
        order.ended = True
        for action_id in order.actions:
            order.actions[action_id] = "FAILED"
        self.errors.append(_error("orderError", f"the robot refused the delivery: {body.get('reason')}", "WARNING",
                                  [("orderId", order.order_id)]))

    # ---- VDA 5050 out -------------------------------------------------------------------------

    def state_message(self, now_s: float) -> dict[str, Any]:
        robot = self.robot_state or {}
        pose, velocity = robot.get("pose") or {}, robot.get("velocity") or {}
        battery, safety = robot.get("battery") or {}, robot.get("safety") or {}
        order = self.order
        node_states: list[dict[str, Any]] = []
        edge_states: list[dict[str, Any]] = []
        action_states = [{"actionId": i, "actionType": k, "actionStatus": s}
                         for i, (k, s) in sorted(self.instant.items())]
        last_id, last_seq = "", 0
        if order is not None:
            if order.traversed >= 0:
                last_id, last_seq = order.nodes[order.traversed]["nodeId"], order.nodes[order.traversed]["sequenceId"]
            if not order.ended:
                node_states = [{"nodeId": n["nodeId"], "sequenceId": n["sequenceId"], "released": n["released"],
                                **({"nodePosition": n["nodePosition"]} if n.get("nodePosition") else {})}
                               for n in order.nodes[order.traversed + 1:]]
                edge_states = [{"edgeId": e["edgeId"], "sequenceId": e["sequenceId"], "released": e["released"]}
                               for e in order.edges if e["sequenceId"] > last_seq]
            action_states += [{"actionId": a["actionId"], "actionType": a["actionType"],
                               "actionStatus": order.actions[a["actionId"]]} for a in (order.pick, order.drop)]
        errors = list(self.errors) + [
            _error(str(e["device"]) or "robot", str(e["reason"]), "FATAL" if e["level"] == "FATAL" else "WARNING", [])
            for e in robot.get("errors") or []]
        if robot and not self.robot_online:
            errors.append(_error("robotOffline", "the medbot robot behind this vehicle is offline", "FATAL", []))
        estop = "MANUAL" if safety.get("estop_latched") or safety.get("state") == "estop" else (
            "AUTOACK" if safety.get("state") in ("protective_stop", "watchdog_stop") else "NONE")
        mode = str(robot.get("operating_mode") or "automatic")
        message: dict[str, Any] = {
            **self.headers.header(Topic.STATE, now_s),
            "orderId": order.order_id if order else "", "orderUpdateId": order.update_id if order else 0,
            "lastNodeId": last_id, "lastNodeSequenceId": last_seq, "nodeStates": node_states,
            "edgeStates": edge_states, "driving": abs(float(velocity.get("linear_mps", 0.0))) > 0.05,
            "paused": mode == "paused", "newBaseRequest": False,
            "operatingMode": "AUTOMATIC" if mode == "paused" else mode.upper(),
            "actionStates": action_states,
            "batteryState": {"batteryCharge": round(100.0 * float(battery.get("soc_fraction", 0.0)), 1),
                             "charging": bool(battery.get("charging", False))},
            "errors": errors, "safetyState": {"eStop": estop, "fieldViolation": False},
        }
        if pose:
            level = int(pose.get("level", 0))
            message["agvPosition"] = {"x": float(pose["x_m"]), "y": float(pose["y_m"]), "theta": float(pose["yaw_rad"]),
                                      "mapId": self.map_ids.get(level, f"level-{level}"), "positionInitialized": True}
            message["velocity"] = {"vx": float(velocity.get("linear_mps", 0.0)),
                                   "omega": float(velocity.get("angular_radps", 0.0))}
        return message

    def connection_message(self, state: str, now_s: float) -> dict[str, Any]:
        return {**self.headers.header(Topic.CONNECTION, now_s), "connectionState": state}

    def factsheet_message(self, now_s: float) -> dict[str, Any]:
        robot = self.robot_factsheet or {}
        speed = float(robot.get("max_speed_mps") or 1.0)
        node = [{"actionType": a, "actionScopes": ["NODE"], "actionDescription": d} for a, d in
                (("pick", "the sender loads the locked compartment (supply_delivery)"),
                 ("drop", "handed over to an authenticated recipient"))]
        instant = [{"actionType": a, "actionScopes": ["INSTANT"]}
                   for a in ("cancelOrder", "startPause", "stopPause", "stateRequest", "factsheetRequest")]
        return {
            **self.headers.header(Topic.FACTSHEET, now_s),
            "typeSpecification": {"seriesName": f"medbot-{robot.get('kind', 'logistics')}",
                                  "seriesDescription": "medbot hospital logistics robot (VDA 5050 bridge)",
                                  "agvKinematic": "DIFF", "agvClass": "CARRIER", "maxLoadMass": 20.0,
                                  "localizationTypes": ["NATURAL"], "navigationTypes": ["AUTONOMOUS"]},
            "physicalParameters": {"speedMin": 0.05, "speedMax": speed, "accelerationMax": 0.5, "decelerationMax": 1.0,
                                   "heightMax": 1.3, "width": 0.6, "length": 0.8},
            "protocolLimits": {"maxStringLens": {}, "maxArrayLens": {},
                               "timing": {"minOrderInterval": 1.0, "minStateInterval": 0.5}},
            "protocolFeatures": {"optionalParameters": [], "agvActions": node + instant},
            "agvGeometry": {}, "loadSpecification": {},
        }

    # ---- helpers ------------------------------------------------------------------------------

    def _command(self, command: str, params: dict[str, Any], *, command_id: str | None = None) -> dict[str, Any]:
        if command_id is None:
            self._commands += 1
            command_id = f"vda-{command}-{self._commands:05d}"
        return command_body(command_id, command, self.site, self.robot_id, user=self.user, params=params)

    def _refuse(self, exc: OrderRejected, order_id: str, update_id: int) -> None:
        self.errors = [e for e in self.errors if e["errorType"] != exc.error_type]
        self.errors.append(_error(exc.error_type, str(exc), "WARNING",
                                  [("orderId", order_id), ("orderUpdateId", str(update_id))]))


def _parameters(action: dict[str, Any]) -> dict[str, Any]:
    return {p["key"]: p["value"] for p in action.get("actionParameters") or []}


def _error(error_type: str, description: str, level: str, refs: list[tuple[str, str]]) -> dict[str, Any]:
    return {"errorType": error_type, "errorDescription": description[:500], "errorLevel": level,
            "errorReferences": [{"referenceKey": k, "referenceValue": v} for k, v in refs]}
