"""Traffic through shared resources with real navigators, bodies and perception: each robot's
reservation client (robots/traffic.py) and the fleet's arbiter (fleet/traffic.py), messages
passed in process every tick as the simulator's loopback does.

- two robots meeting head-on at a single-lane corridor: one yields outside, both arrive, and a
  higher-priority robot is the one that goes first;
- four robots converging on one doorway from both sides: one at a time through it, all arrive;
- a robot heading for (or past) the spot right behind a door where another robot works waits
  outside the door (not in it), the other leaves through the door first, then it goes in;
- no contact anywhere, and the arbiter never sees two robots in one resource.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.traffic import TrafficArbiter
from hal.geometry import Twist2D
from hal.handle import HandleStatus
from hal.navigator import NavigationGoal
from robots.traffic import TrafficClient
from sim.traffic_link import traffic_map_of
from sim.world import World, load_world
from tests.sim.perception_rig import DT, Rig


def lane_world(tmp_path: Path) -> World:
    """Two 6 m halls joined by a 12 m corridor one robot wide (1.1 m free); the corridor's three
    nodes are a lane; the halls' nodes outside it are where a robot waits."""
    data: dict[str, Any] = {
        "name": "Traffic test lane",
        "walls": [
            {"points": [[8, 2.45], [8, 0], [0, 0], [0, 6], [8, 6], [8, 3.55]]},
            {"points": [[8, 2.45], [20, 2.45]]},
            {"points": [[8, 3.55], [20, 3.55]]},
            {"points": [[20, 2.45], [20, 0], [28, 0], [28, 6], [20, 6], [20, 3.55]]},
        ],
        "zones": [{"name": "halls", "tag": "supply", "rect": [0.1, 0.1, 27.9, 5.9], "speed_limit_mps": 0.8}],
        "places": [
            {"name": "west", "x": 2, "y": 3, "yaw_deg": 0, "kind": "parking"},
            {"name": "west-2", "x": 2, "y": 1.2, "yaw_deg": 0, "kind": "parking"},
            {"name": "east", "x": 26, "y": 3, "yaw_deg": 180, "kind": "parking"},
            {"name": "east-2", "x": 26, "y": 4.8, "yaw_deg": 180, "kind": "parking"},
        ],
        "routes": {
            "waypoints": [{"name": n, "x": x, "y": 3} for n, x in
                          (("w-hall", 5.5), ("lane-w", 9), ("lane-mid", 14), ("lane-e", 19), ("e-hall", 22.5))],
            "edges": [["west", "w-hall", "lane-w", "lane-mid", "lane-e", "e-hall", "east"],
                      ["west-2", "w-hall"], ["east-2", "e-hall"]],
        },
        "traffic": {"lanes": [{"name": "spine", "path": ["lane-w", "lane-mid", "lane-e"]}]},
    }
    path = tmp_path / "lane.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_world(path)


def door_world(tmp_path: Path, *, desk: bool = False) -> World:
    """Two halls with a wall between them and one powered door (a door group of its own); with
    `desk`, a workplace right behind the door on the east side (the door's end node) instead of
    a waypoint."""
    data: dict[str, Any] = {
        "name": "Traffic test doorway",
        "walls": [
            {"points": [[0, 0], [24, 0], [24, 10], [0, 10]], "closed": True},
            {"points": [[12, 0], [12, 10]]},
        ],
        "zones": [{"name": "halls", "tag": "supply", "rect": [0.1, 0.1, 23.9, 9.9], "speed_limit_mps": 0.8}],
        "places": [
            {"name": "w-a", "x": 2, "y": 2, "yaw_deg": 0, "kind": "parking"},
            {"name": "w-b", "x": 2, "y": 8, "yaw_deg": 0, "kind": "parking"},
            {"name": "e-a", "x": 22, "y": 2, "yaw_deg": 180, "kind": "parking"},
            {"name": "e-b", "x": 22, "y": 8, "yaw_deg": 180, "kind": "parking"},
        ],
        "doors": [{"name": "hall-door", "at": [12, 5], "between": ["w-door", "e-door"], "auto": True,
                   "width_m": 1.4}],
        "routes": {
            "waypoints": [{"name": "w-door", "x": 9, "y": 5}, {"name": "e-door", "x": 15, "y": 5},
                          {"name": "w-mid", "x": 5, "y": 5}, {"name": "e-mid", "x": 19, "y": 5}],
            "edges": [["w-a", "w-mid", "w-door"], ["w-b", "w-mid"], ["e-a", "e-mid", "e-door"], ["e-b", "e-mid"]],
        },
        "traffic": {},
    }
    if desk:
        data["places"].append({"name": "e-desk", "x": 15, "y": 5, "yaw_deg": 180, "kind": "storage"})
        data["doors"][0]["between"] = ["w-door", "e-desk"]
        data["routes"]["waypoints"] = [w for w in data["routes"]["waypoints"] if w["name"] != "e-door"]
        data["routes"]["edges"][2] = ["e-a", "e-mid", "e-desk"]
    path = tmp_path / "door.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_world(path)


class TrafficRig(Rig):
    """The perception rig with a traffic client per robot and the fleet's arbiter between them."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.map = traffic_map_of(world)
        self.arbiter = TrafficArbiter({g.name: g.kind for g in world.mutex_groups.values()})
        self.clients: dict[str, TrafficClient] = {}
        self.priority: dict[str, int] = {}

    def add_robot(self, robot_id: str, place: str, priority: int = 50) -> None:
        self.add(robot_id, place)
        self.priority[robot_id] = priority

        def publish(body: dict[str, Any], now_s: float) -> None:
            self.arbiter.on_report(robot_id, body, now_s)

        self.clients[robot_id] = TrafficClient(robot_id, self.map, publish)

    def tick(self) -> None:
        now_s = self.clock.now_s()
        table = self.arbiter.step(now_s)
        for robot_id in sorted(self.robots):
            body, nav, base = self.robots[robot_id]
            client = self.clients[robot_id]
            if table is not None:
                client.on_table(table, now_s)
            stop = client.step(now_s, body.pose, nav, priority=self.priority[robot_id], task_id=None)
            nav.step(now_s)
            base.command_velocity(Twist2D.zero() if stop else (nav.velocity_request() or Twist2D.zero()))
        inside: dict[str, list[str]] = {}
        for robot_id in sorted(self.robots):
            for group in self.clients[robot_id].occupied(self.body(robot_id).pose):
                inside.setdefault(group, []).append(robot_id)
        crowded = {group: robots for group, robots in inside.items() if len(robots) > 1}
        assert not crowded, f"two robots in one resource at once: {crowded}"
        self.clock.advance(DT)
        self.env.step(DT)

    def drive(self, goals: dict[str, str], max_s: float = 600.0) -> dict[str, Any]:
        handles = {rid: self.robots[rid][1].start_go_to(NavigationGoal(place=place)) for rid, place in goals.items()}
        arrived: dict[str, float] = {}
        t = 0.0
        while t < max_s and any(h.poll() is HandleStatus.RUNNING for h in handles.values()):
            self.tick()
            t += DT
            for rid, h in handles.items():
                if h.poll() is HandleStatus.SUCCEEDED and rid not in arrived:
                    arrived[rid] = t
        return {"handles": handles, "arrived": arrived}


def contacts(rig: Rig) -> int:
    return int(rig.env.contact_summary()["total"])


@pytest.mark.parametrize("first", ["a", "b"])
def test_two_robots_head_on_at_a_single_lane_corridor_one_yields_and_both_arrive(tmp_path: Path, first: str) -> None:
    rig = TrafficRig(lane_world(tmp_path))
    rig.add_robot("a", "west", priority=80 if first == "a" else 20)
    rig.add_robot("b", "east", priority=80 if first == "b" else 20)
    result = rig.drive({"a": "east", "b": "west"})
    handles, arrived = result["handles"], result["arrived"]
    assert all(h.poll() is HandleStatus.SUCCEEDED for h in handles.values()), \
        {rid: h.poll() for rid, h in handles.items()}
    second = "b" if first == "a" else "a"
    assert arrived[first] < arrived[second]  # the higher priority passed first, the other waited outside
    assert rig.clients[second].waits >= 1
    lane = rig.arbiter.figures.summary()["wait_s"]["lane"]
    assert lane["grants"] == 2 and lane["max"] > 5.0 and lane["longest"]["robot"] == second
    assert contacts(rig) == 0
    assert rig.arbiter.figures.conflicts == 0 and rig.arbiter.figures.deadlocks == 0
    assert rig.arbiter.owners == {}  # everything released once both were through


def test_four_robots_converging_on_one_doorway_pass_one_at_a_time(tmp_path: Path) -> None:
    rig = TrafficRig(door_world(tmp_path))
    for robot_id, place in (("r1", "w-a"), ("r2", "w-b"), ("r3", "e-a"), ("r4", "e-b")):
        rig.add_robot(robot_id, place)
    result = rig.drive({"r1": "e-a", "r2": "e-b", "r3": "w-a", "r4": "w-b"}, max_s=900.0)
    handles = result["handles"]
    assert all(h.poll() is HandleStatus.SUCCEEDED for h in handles.values()), \
        {rid: h.poll() for rid, h in handles.items()}
    assert contacts(rig) == 0
    figures = rig.arbiter.figures.summary()
    assert figures["wait_s"]["door"]["grants"] == 4 and figures["conflicts"] == 0 and figures["deadlocks"] == 0
    assert rig.arbiter.owners == {}


@pytest.mark.parametrize("goal", ["e-desk", "e-a"])  # the spot itself, or past it
def test_a_robot_whose_spot_behind_the_door_is_taken_waits_outside_until_the_other_has_left(
        tmp_path: Path, goal: str) -> None:
    rig = TrafficRig(door_world(tmp_path, desk=True))
    rig.add_robot("there", "e-a")
    rig.add_robot("coming", "w-a")
    first = rig.drive({"there": "e-desk"})  # the spot right behind the door, where it stays a while
    assert first["handles"]["there"].poll() is HandleStatus.SUCCEEDED
    coming = rig.robots["coming"][1].start_go_to(NavigationGoal(place=goal))
    in_door_while_taken = 0
    for _ in range(int(60 / DT)):  # a minute at work: the other robot waits at the door's near side
        rig.tick()
        in_door_while_taken += "door:hall-door" in rig.clients["coming"].occupied(rig.body("coming").pose)
    assert coming.poll() is HandleStatus.RUNNING and rig.clients["coming"].wanted == {"door:hall-door"}
    leaving = rig.robots["there"][1].start_go_to(NavigationGoal(place="w-b"))  # out through the door
    t = 0.0
    while t < 600.0 and HandleStatus.RUNNING in (coming.poll(), leaving.poll()):
        rig.tick()
        t += DT
        in_door_while_taken += ("door:hall-door" in rig.clients["coming"].occupied(rig.body("coming").pose)
                                and rig.clients["there"].parked_at == "e-desk")
    assert leaving.poll() is HandleStatus.SUCCEEDED and coming.poll() is HandleStatus.SUCCEEDED
    assert in_door_while_taken == 0 and contacts(rig) == 0
    figures = rig.arbiter.flush_figures().summary()
    assert figures["wait_s"]["workplace"]["max"] >= 60.0 and figures["deadlocks"] == 0
    assert figures["wait_s"]["workplace"]["longest"] == {"group": "e-desk", "robot": "coming"}
