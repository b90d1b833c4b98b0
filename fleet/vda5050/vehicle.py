"""One VDA 5050 vehicle as the fleet sees a medbot robot: its messages in, the fleet's commands out.

`VehicleTracker` is plain Python with no I/O (the adapter in `fleet/vda5050/adapter.py` does the
MQTT). It reads the vehicle's VDA 5050 messages and answers with the medbot contract bodies the
fleet service reads from a robot (factsheet, connection, state, events, command acks); it takes the
service's commands to the vehicle and answers with VDA 5050 orders and instant actions.

The mapping, both ways, is tabled in docs/vda5050.md ("state → task events", "commands →
instant actions"). In short: the order in the vehicle's state (``orderId`` = the mission id) acks
the dispatch and starts the mission; a refusal error naming the order nacks it; nodes reached are
progress and release the next stretch of the base; ``pick``/``drop`` FINISHED are the load aboard and
handed over; the last node with every action done is success; an action FAILED is the task's
failure; ``cancelOrder`` done is cancelled; an eStop MANUAL/REMOTE is an e-stop and a FATAL error
takes the vehicle out of service (the fleet takes the task back either way).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from fleet.site import SiteMap
from fleet.vda5050.orders import (
    KIND_SCHEMAS,
    OrderPlan,
    OrderRefused,
    map_id_for,
    node_actions,
    offered_kinds,
    plan_order,
    stops_for,
)
from telemetry.topics import Channel
from telemetry.vda5050 import HeaderFactory, Topic, VehicleId

#: errors a vehicle reports when it refuses an order (§6.6.4)
REFUSAL_ERRORS = frozenset({"validationError", "orderError", "orderUpdateError", "noRouteError", "mapError"})

Medbot = tuple[Channel, dict[str, Any]]
Vda = tuple[Topic, dict[str, Any]]


def robot_id_for(vehicle: VehicleId) -> str:
    """A medbot robot id (a-z 0-9 -) for a vehicle: ``<manufacturer>-<serialNumber>``, lower case."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{vehicle.manufacturer}-{vehicle.serial_number}".lower()).strip("-")
    return slug[:64] or "vehicle"


@dataclass(frozen=True)
class VehicleSettings:
    kind: str = "agv"  # the robot kind the fleet sees (tasks may ask for it in robot_kinds)
    serves: str | None = None
    home_dock: str | None = None
    capacity_wh: float = 1000.0
    energy_per_m_wh: float = 0.05
    reserve_floor_soc: float = 0.15


@dataclass
class ActiveOrder:
    mission_id: str
    task_id: str | None
    kind: str
    command_id: str
    plan: OrderPlan
    resume_soc: float | None
    sent_s: float
    started: bool = False
    ended: bool = False
    cancelling: bool = False
    reported: set[str] = field(default_factory=set)  # action ids whose FINISHED was told
    last_sequence_id: int = -1


class VehicleTracker:
    def __init__(self, vehicle: VehicleId, robot_id: str, site: SiteMap, *, settings: VehicleSettings,
                 map_ids: dict[int, str], base_nodes: int = 3, resend_s: float = 5.0) -> None:
        self.vehicle = vehicle
        self.robot_id = robot_id
        self.site = site
        self.settings = settings
        levels = sorted({int(d["level"]) for _, d in site.graph.nodes(data=True)})
        self.map_ids = {level: map_id_for(level, map_ids) for level in levels}
        self._levels = {v: k for k, v in self.map_ids.items()}
        self.base_nodes = base_nodes
        self.resend_s = resend_s
        self.headers = HeaderFactory(vehicle)
        self.factsheet: dict[str, Any] | None = None
        self.state: dict[str, Any] | None = None
        self.online = False
        self.session = 0
        self.order: ActiveOrder | None = None
        self._instant_seq = 0

    # ---- VDA 5050 in --------------------------------------------------------------------------

    def on_factsheet(self, msg: dict[str, Any]) -> list[Medbot]:
        self.factsheet = msg
        return [(Channel.FACTSHEET, self.medbot_factsheet())]

    def medbot_factsheet(self) -> dict[str, Any]:
        fs = self.factsheet or {}
        kinds = offered_kinds(fs)
        series = (fs.get("typeSpecification") or {}).get("seriesName", "vehicle")
        speed = float((fs.get("physicalParameters") or {}).get("speedMax") or 1.0)
        s = self.settings
        return {"kind": s.kind, "capabilities": kinds, "software_version": f"vda5050 {fs.get('version')} {series}",
                "missions": {k: KIND_SCHEMAS[k] for k in kinds}, "home_dock": s.home_dock, "serves": s.serves,
                "confined": False, "max_speed_mps": max(speed, 0.01),
                "battery": {"capacity_wh": s.capacity_wh, "energy_per_m_wh": s.energy_per_m_wh,
                            "reserve_floor_soc_fraction": s.reserve_floor_soc}}

    def on_connection(self, msg: dict[str, Any], now_s: float) -> tuple[list[Medbot], list[Vda]]:
        state = msg["connectionState"]
        out: list[Vda] = []
        if state == "ONLINE":
            self.session += 1
            self.online = True
            if self.factsheet is None:  # vehicles publish it on request (§6.15): ask
                out.append(self._instant("factsheetRequest", now_s))
        else:
            self.online = False
        medbot_state = {"ONLINE": "ONLINE", "OFFLINE": "OFFLINE"}.get(state, "CONNECTION_BROKEN")
        return [(Channel.CONNECTION, {"state": medbot_state, "session": self.session})], out

    def on_state(self, msg: dict[str, Any], now_s: float) -> tuple[list[Medbot], list[Vda]]:
        self.state = msg
        events: list[Medbot] = []
        out: list[Vda] = []
        order = self.order
        if order is not None and not order.ended:
            self._follow(order, msg, now_s, events, out)
        return [(Channel.STATE, self.medbot_state(msg)), *events], out

    def _follow(self, order: ActiveOrder, msg: dict[str, Any], now_s: float, events: list[Medbot],
                out: list[Vda]) -> None:
        ours = msg["orderId"] == order.mission_id
        actions = {a["actionId"]: a for a in msg.get("actionStates") or []}
        if order.cancelling:
            cancel = actions.get(f"{order.mission_id}-cancel")
            if cancel is not None and cancel["actionStatus"] in ("FINISHED", "FAILED"):
                self._end(order, "mission.cancelled", "cancelled on the vehicle (cancelOrder)", events)
            return
        if not order.started:
            refusal = self._refusal(order, msg)
            if refusal is not None:
                events.append(self._ack(order.command_id, "dispatch", refusal))
                self.order = None
                return
            if not ours:
                if now_s - order.sent_s >= self.resend_s:  # QoS 0: lost, or not yet read — again
                    out.append(self._order_message(order, now_s))
                return
            order.started = True
            events.append(self._ack(order.command_id, "dispatch", None))
            events.append(self._event(order, "mission.started", None, None, {"order_id": order.mission_id}))
        if not ours:
            # the vehicle dropped our order (it restarted, another master, a manual mode change): not the
            # task's fault — the fleet's word for that is a restart, which re-queues the task
            order.ended = True
            events.append(self._event(order, "mission.failed", None, "interrupted by restart",
                                      {"order_id": order.mission_id, "vehicle_order_id": str(msg["orderId"])}))
            return
        last_seq = int(msg["lastNodeSequenceId"])
        if last_seq != order.last_sequence_id and order.plan.node_index(last_seq) is not None:
            order.last_sequence_id = last_seq
            events.append(self._event(order, "mission.step", "node.reached", None,
                                      {"node_id": msg["lastNodeId"], "sequence_id": last_seq}))
        for action_id, (action_type, _index) in sorted(order.plan.actions.items()):
            st = actions.get(action_id)
            if st is None or action_id in order.reported:
                continue
            if st["actionStatus"] == "FAILED":
                why = st.get("resultDescription") or "no reason given"
                self._end(order, "mission.failed", f"{action_type} failed on the vehicle: {why}", events)
                out.append(self._cancel(order, now_s, end_after=False))
                return
            if st["actionStatus"] == "FINISHED":
                order.reported.add(action_id)
                step = {"pick": "custody.loaded", "drop": "custody.handed_over"}.get(action_type,
                                                                                      f"{action_type}.done")
                events.append(self._event(order, "mission.step", step, None, {"action_id": action_id}))
        if self._finished(order, msg):
            self._end(order, "mission.succeeded", None, events)
            return
        plan = order.plan
        if int(msg["orderUpdateId"]) < plan.update_id:
            if now_s - order.sent_s >= self.resend_s:
                out.append(self._order_message(order, now_s))
        elif not plan.complete and (msg.get("newBaseRequest") or last_seq >= self._extend_at(plan)):
            plan.extend()
            out.append(self._order_message(order, now_s))

    @staticmethod
    def _extend_at(plan: OrderPlan) -> int:
        """Release more once the vehicle is a node short of its base end (it never waits at it)."""
        return plan.nodes[max(0, plan.released_to - 1)].sequence_id

    def _finished(self, order: ActiveOrder, msg: dict[str, Any]) -> bool:
        plan = order.plan
        if not plan.complete or int(msg["lastNodeSequenceId"]) != plan.last_sequence_id or msg.get("nodeStates"):
            return False
        if set(plan.actions) - order.reported:
            return False
        if order.resume_soc is not None:
            charge = float((msg.get("batteryState") or {}).get("batteryCharge", 0.0)) / 100.0
            return charge >= order.resume_soc
        return True

    @staticmethod
    def _refusal(order: ActiveOrder, msg: dict[str, Any]) -> str | None:
        """The vehicle's reason if it refused this order (an error of a refusal type naming its orderId)."""
        for error in msg.get("errors") or []:
            refs = {r.get("referenceKey"): r.get("referenceValue") for r in error.get("errorReferences") or []}
            if error.get("errorType") in REFUSAL_ERRORS and refs.get("orderId") == order.mission_id:
                return f"vehicle refused the order: {error.get('errorType')}: {error.get('errorDescription') or ''}"
        return None

    # ---- the fleet's commands -----------------------------------------------------------------

    def on_command(self, body: dict[str, Any], now_s: float) -> tuple[list[Medbot], list[Vda]]:
        command, command_id = body["command"], body["command_id"]
        params = body.get("params") or {}
        if command == "dispatch":
            return self._dispatch(command_id, params, now_s)
        if command == "cancel":
            order = self.order
            if order is not None and not order.ended and order.mission_id == params.get("mission_id"):
                return [self._ack(command_id, command, None)], [self._cancel(order, now_s, end_after=True)]
            state = self.state or {}
            if state.get("orderId") == params.get("mission_id") and state.get("nodeStates"):
                # a withdrawn mission the vehicle still holds (it came back after the fleet gave it away)
                return [self._ack(command_id, command, None)], [self._instant("cancelOrder", now_s)]
            return [self._ack(command_id, command, None, result={"cancelled": False})], []
        pause = {"pause": True, "resume": False}.get(command)
        if command == "building_alarm":
            pause = bool(params.get("active"))
        if pause is not None:
            action = "startPause" if pause else "stopPause"
            return [self._ack(command_id, command, None)], [self._instant(action, now_s)]
        return [self._ack(command_id, command, f"{command}: VDA 5050 2.x has no instant action for it")], []

    def _dispatch(self, command_id: str, params: dict[str, Any], now_s: float) -> tuple[list[Medbot], list[Vda]]:
        mission_id = str(params.get("mission_id") or command_id.removesuffix(".dispatch"))
        order = self.order
        if order is not None and order.mission_id == mission_id:
            # the same dispatch again (the fleet restarted, or our answer was slow): the same order
            acks = [self._ack(command_id, "dispatch", None, duplicate=True)] if order.started else []
            return acks, [] if order.started else [self._order_message(order, now_s)]
        if order is not None and not order.ended:
            return [self._ack(command_id, "dispatch", f"busy with mission {order.mission_id}")], []
        kind, task_params = str(params.get("kind")), dict(params.get("params") or {})
        try:
            start = self._start_node()
            stops = stops_for(kind, task_params, node_actions(self.factsheet or {}))
            load_id = task_params.get("load_id") or task_params.get("delivery_id")
            plan = plan_order(self.site, mission_id, start, stops, base_nodes=self.base_nodes, map_ids=self.map_ids,
                              load_id=str(load_id) if load_id else None)
        except OrderRefused as exc:
            return [self._ack(command_id, "dispatch", str(exc))], []
        resume = task_params.get("resume_soc_fraction") if kind == "return_to_dock" else None
        self.order = ActiveOrder(mission_id, params.get("task_id"), kind, command_id, plan,
                                 None if resume is None else float(resume), now_s)
        return [], [self._order_message(self.order, now_s)]

    def _start_node(self) -> str:
        """The route node the vehicle stands on: its lastNodeId when that is one of ours and it is
        within a metre of it, else the node nearest its position on its floor."""
        state = self.state or {}
        pos = state.get("agvPosition")
        if not pos:
            raise OrderRefused("the vehicle has not reported its position (agvPosition) yet")
        level = self._levels.get(str(pos.get("mapId")))
        if level is None:
            raise OrderRefused(f"the vehicle is on map {pos.get('mapId')!r}, which is no floor of the site "
                               f"(known: {sorted(self._levels)})")
        last = state.get("lastNodeId")
        if last in self.site.graph:
            n = self.site.graph.nodes[last]
            if int(n["level"]) == level and math.hypot(n["x_m"] - pos["x"], n["y_m"] - pos["y"]) <= 1.0:
                return str(last)
        return self.site.nearest_node(float(pos["x"]), float(pos["y"]), level)

    def resend_due(self, now_s: float) -> list[Vda]:
        """What must go again though no state came (the vehicle is silent: QoS 0 lost our order)."""
        order = self.order
        if order is None or order.ended or order.started or not self.online or now_s - order.sent_s < self.resend_s:
            return []
        return [self._order_message(order, now_s)]

    # ---- building messages --------------------------------------------------------------------

    def _order_message(self, order: ActiveOrder, now_s: float) -> Vda:
        order.sent_s = now_s
        return Topic.ORDER, order.plan.message(self.headers.header(Topic.ORDER, now_s))

    def _instant(self, action_type: str, now_s: float, action_id: str | None = None) -> Vda:
        self._instant_seq += 1
        action = {"actionId": action_id or f"{self.robot_id}-{action_type}-{self._instant_seq}",
                  "actionType": action_type, "blockingType": "HARD", "actionParameters": []}
        return Topic.INSTANT_ACTIONS, {**self.headers.header(Topic.INSTANT_ACTIONS, now_s), "actions": [action]}

    def _cancel(self, order: ActiveOrder, now_s: float, *, end_after: bool) -> Vda:
        order.cancelling = order.cancelling or end_after
        return self._instant("cancelOrder", now_s, action_id=f"{order.mission_id}-cancel")

    def _end(self, order: ActiveOrder, event: str, reason: str | None, events: list[Medbot]) -> None:
        order.ended = True
        events.append(self._event(order, event, None, reason, {"order_id": order.mission_id}))

    def _event(self, order: ActiveOrder, event: str, step: str | None, reason: str | None,
               data: dict[str, Any]) -> Medbot:
        return Channel.EVENTS, {"event": event, "mission_id": order.mission_id, "mission_kind": order.kind,
                                "step": step, "reason": reason, "data": data, "task_id": order.task_id}

    def _ack(self, command_id: str, command: str, refusal: str | None, *, duplicate: bool = False,
             result: dict[str, Any] | None = None) -> Medbot:
        return Channel.COMMANDS_ACK, {"command_id": command_id, "command": command,
                                      "status": "nack" if refusal else "ack",
                                      "reason": refusal[:500] if refusal else None,
                                      "duplicate": duplicate, "result": result or {}}

    def medbot_state(self, msg: dict[str, Any]) -> dict[str, Any]:
        pos = msg.get("agvPosition") or {}
        vel = msg.get("velocity") or {}
        battery = msg.get("batteryState") or {}
        safety = msg.get("safetyState") or {}
        estop = safety.get("eStop", "NONE")
        if estop in ("MANUAL", "REMOTE"):
            safety_body = {"state": "estop", "estop_latched": True, "reason": f"VDA 5050 eStop {estop}"}
        elif estop == "AUTOACK" or safety.get("fieldViolation"):
            safety_body = {"state": "protective_stop", "estop_latched": False,
                           "reason": "protective field violated" if safety.get("fieldViolation") else "eStop AUTOACK"}
        else:
            safety_body = {"state": "normal", "estop_latched": False, "reason": ""}
        order = self.order
        mission = None
        if order is not None and not order.ended:
            done = max(0, order.last_sequence_id) / max(1, order.plan.last_sequence_id)
            mission = {"id": order.mission_id, "kind": order.kind, "state": "running" if order.started else "pending",
                       "step": msg.get("lastNodeId") or None, "progress_fraction": round(min(1.0, done), 3)}
        elif msg.get("nodeStates"):  # an order of another master: busy all the same
            mission = {"id": str(msg["orderId"]) or "unknown", "kind": "vda5050_order", "state": "running",
                       "step": msg.get("lastNodeId") or None, "progress_fraction": 0.0}
        errors = [{"level": "FATAL" if e.get("errorLevel") == "FATAL" else "WARNING",
                   "device": str(e.get("errorType"))[:128], "reason": str(e.get("errorDescription") or "")[:500]}
                  for e in msg.get("errors") or []]
        return {
            "pose": {"x_m": float(pos.get("x", 0.0)), "y_m": float(pos.get("y", 0.0)),
                     "yaw_rad": float(pos.get("theta", 0.0)), "level": self._levels.get(str(pos.get("mapId")), 0)},
            "velocity": {"linear_mps": math.hypot(float(vel.get("vx") or 0.0), float(vel.get("vy") or 0.0)),
                         "angular_radps": float(vel.get("omega") or 0.0)},
            "battery": {"soc_fraction": min(1.0, max(0.0, float(battery.get("batteryCharge", 0.0)) / 100.0)),
                        "charging": bool(battery.get("charging", False))},
            "operating_mode": "paused" if msg.get("paused") else str(msg.get("operatingMode", "AUTOMATIC")).lower(),
            "safety": safety_body, "mission": mission, "errors": errors, "devices": {},
        }
