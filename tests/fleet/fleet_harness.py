"""A message-level harness for the fleet service: a tiny site, robots that speak the contract by
hand (factsheet, connection, state, events, acks), and an outbox that records what the fleet sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet.config import FleetConfig
from fleet.service import FleetService
from fleet.site import MAP_FORMAT, SiteMap, site_from_json
from fleet.store import TaskStore
from fleet.tasks import TaskRequest
from telemetry.topics import Channel

ROUND_SCHEMA = {"type": "object", "required": ["beds"], "properties": {"beds": {"type": "array"}}}


def tiny_site() -> SiteMap:
    """Two wards and an isolation ward on a corridor, a dock in each, a store room."""
    places = [
        ("dock-a", "dock", 0, 10, None), ("bed-a1", "bed", 5, 12, "ward-a"), ("bed-a2", "bed", 8, 12, "ward-a"),
        ("dock-b", "dock", 40, 10, None), ("bed-b1", "bed", 45, 12, "ward-b"),
        ("dock-iso", "dock", 20, 0, None), ("bed-iso1", "bed", 22, 2, "isolation"),
        ("store", "storage", 20, 20, None),
    ]
    nodes = [{"name": n, "x_m": x, "y_m": y, "level": 0} for n, _, x, y, _ in places] + [
        {"name": "hall", "x_m": 20, "y_m": 10, "level": 0}]
    edges = []
    for name, _, x, y, _ in places:
        length = ((x - 20) ** 2 + (y - 10) ** 2) ** 0.5
        edges.append({"from": name, "to": "hall", "length_m": length, "door": None})
    data = {"format": MAP_FORMAT, "name": "tiny",
            "places": [{"name": n, "kind": k, "x_m": x, "y_m": y, "level": 0, "zone": w, "ward": w,
                        "bed_id": n.removeprefix("bed-").upper() if k == "bed" else None}
                       for n, k, x, y, w in places],
            "routes": {"nodes": nodes, "edges": edges}}
    return site_from_json(data, "tiny")


class RecordingOutbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Channel, dict[str, Any], float]] = []

    def publish(self, robot_id: str, channel: Channel, body: dict[str, Any], stamp_s: float) -> None:
        self.sent.append((robot_id, channel, body, stamp_s))

    def commands(self, robot_id: str | None = None, command: str | None = None) -> list[dict[str, Any]]:
        return [b for r, c, b, _ in self.sent if c is Channel.COMMANDS and (robot_id is None or r == robot_id)
                and (command is None or b["command"] == command)]

    def on(self, channel: Channel) -> list[dict[str, Any]]:
        return [b for _, c, b, _ in self.sent if c is channel]

    def clear(self) -> None:
        self.sent.clear()


class Fleet:
    """The service under test, with helpers to play robots."""

    def __init__(self, tmp: Path, config: FleetConfig | None = None, store_name: str = "fleet.db",
                 site: SiteMap | None = None) -> None:
        self.tmp = tmp
        self.site = site or tiny_site()
        self.config = config or FleetConfig()
        self.outbox = RecordingOutbox()
        self.store_path = tmp / store_name
        self.service = FleetService(self.config, self.site, TaskStore(self.store_path), self.outbox,
                                    site_id="test-site")
        self.now_s = 1000.0

    def restart(self) -> None:
        """kill -9 and start again on the same store (nothing committed is lost)."""
        self.service.store.close()
        self.outbox = RecordingOutbox()
        self.service = FleetService(self.config, self.site, TaskStore(self.store_path), self.outbox,
                                    site_id="test-site")

    def step(self, seconds: float = 1.0) -> None:
        self.now_s += seconds
        self.service.step(self.now_s)

    def robot(self, robot_id: str, kind: str, missions: dict[str, dict[str, Any]], *, at: str,
              serves: str | None = None, confined: bool = False, soc: float = 0.9,
              home_dock: str | None = None) -> None:
        """A robot comes online at place `at` and says what it is."""
        self.service.on_message(robot_id, "factsheet", {
            "kind": kind, "capabilities": sorted(missions), "software_version": "test", "missions": missions,
            "home_dock": home_dock or (at if at.startswith("dock") else None), "serves": serves, "confined": confined,
            "max_speed_mps": 1.0, "battery": {"capacity_wh": 600, "energy_per_m_wh": 0.05,
                                              "reserve_floor_soc_fraction": 0.15}}, self.now_s)
        self.service.on_message(robot_id, "connection", {"state": "ONLINE", "session": 1}, self.now_s)
        self.state(robot_id, at=at, soc=soc)

    def state(self, robot_id: str, *, at: str | None = None, soc: float = 0.9, estop: bool = False,
              mission: dict[str, Any] | None = None) -> None:
        place = self.site.place(at) if at else None
        self.service.on_message(robot_id, "state", {
            "pose": {"x_m": place.x_m if place else 20.0, "y_m": place.y_m if place else 10.0, "yaw_rad": 0.0,
                     "level": place.level if place else 0},
            "velocity": {"linear_mps": 0.0, "angular_radps": 0.0},
            "battery": {"soc_fraction": soc, "charging": False}, "operating_mode": "automatic",
            "safety": {"state": "estop" if estop else "normal", "estop_latched": estop, "reason": ""},
            "mission": mission, "errors": [], "devices": {}}, self.now_s)

    def event(self, robot_id: str, event: str, mission_id: str, kind: str, *, task_id: str | None = None,
              step: str | None = None, reason: str | None = None, data: dict[str, Any] | None = None) -> None:
        self.service.on_message(robot_id, "events", {
            "event": event, "mission_id": mission_id, "mission_kind": kind, "step": step, "reason": reason,
            "data": data or {}, "task_id": task_id}, self.now_s)

    def ack(self, robot_id: str, command: dict[str, Any], status: str = "ack", reason: str | None = None) -> None:
        self.service.on_message(robot_id, "commands/ack", {
            "command_id": command["command_id"], "command": command["command"], "status": status, "reason": reason,
            "duplicate": False, "result": {}}, self.now_s)

    def submit(self, task_id: str, kind: str, params: dict[str, Any], **kw: Any) -> None:
        self.service.submit(TaskRequest(task_id=task_id, kind=kind, params=params,
                                        earliest_start_s=kw.pop("earliest_start_s", self.now_s), **kw), self.now_s)


def round_params(*beds: str) -> dict[str, Any]:
    return {"beds": [{"bed_id": b, "place": f"bed-{b.lower()}"} for b in beds]}
