"""A few robots (navigator + drive base + bumper) in hand-made worlds, ticked by hand, no supervisor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hal.clock import SimClock
from hal.geometry import Twist2D
from hal.handle import HandleStatus
from hal.navigator import NavigationGoal, NavigationHandle
from hal.registry import BuildContext
from sim.body import SimBody
from sim.devices.navigator import SimNavigator
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.people import PeopleConfig, PeopleModel
from sim.world import World, load_world
from tests.device_registry import sim_and_driver_registry

START_S = 1767596400.0
DT = 0.2  # the scenarios' tick


def set_walking(model: PeopleModel, node: str, ahead: list[str], x_m: float, y_m: float) -> None:
    """Person 0 of `model` stands at (x_m, y_m), last at `node`, and sets off now along `ahead`."""
    walker = model._walkers[0]
    walker.node, walker.ahead, walker.via = node, list(ahead), []
    model.x_m[0], model.y_m[0] = x_m, y_m
    model._ax[0], model._ay[0], model._s[0], model._len[0] = x_m, y_m, 0.0, 0.0
    model._walk_on(0)
    model._pause[0] = 0.0


def corridor_world(tmp_path: Path, *, width_m: float = 2.6, length_m: float = 30.0, cross: bool = False,
                   main_tag: str = "supply") -> World:
    """A straight corridor along x (centre line y = width/2), parking places at both ends; with
    `cross`, a second corridor crosses it at x = 15 with waypoints at its north and south ends.
    `main_tag` "corridor" lets people walk the main corridor too (by default they only cross it)."""
    c = width_m / 2
    walls: list[dict[str, Any]] = [{"points": [[0, 0], [length_m, 0], [length_m, width_m], [0, width_m]],
                                    "closed": True}]
    waypoints = [{"name": f"w-{x:02d}", "x": x, "y": c} for x in (5, 10, 15, 20, 25)]
    edges = [["west", "w-05"], ["w-05", "w-10"], ["w-10", "w-15"], ["w-15", "w-20"], ["w-20", "w-25"],
             ["w-25", "east"]]
    zones: list[dict[str, Any]] = [{"name": "main", "tag": main_tag, "rect": [0.1, 0.1, length_m - 0.1, width_m - 0.1],
                                    "speed_limit_mps": 1.0}]
    if cross:
        # open the main corridor's walls at x = 14..16 and run a corridor from y = -8 to y = width + 8
        walls = [
            {"points": [[14, 0], [0, 0], [0, width_m], [14, width_m]]},
            {"points": [[16, 0], [length_m, 0], [length_m, width_m], [16, width_m]]},
            {"points": [[14, 0], [14, -8], [16, -8], [16, 0]]},
            {"points": [[14, width_m], [14, width_m + 8], [16, width_m + 8], [16, width_m]]},
        ]
        waypoints += [{"name": "south", "x": 15, "y": -7}, {"name": "north", "x": 15, "y": width_m + 7}]
        edges += [["south", "w-15"], ["w-15", "north"]]
        zones += [{"name": "cross-s", "tag": "corridor", "rect": [14.1, -7.9, 15.9, -5], "speed_limit_mps": 1.0},
                  {"name": "cross-n", "tag": "corridor", "rect": [14.1, width_m + 5, 15.9, width_m + 7.9],
                   "speed_limit_mps": 1.0}]
    data = {
        "name": "Perception test corridor",
        "walls": walls,
        "zones": zones,
        "places": [
            {"name": "west", "x": 1.5, "y": c, "yaw_deg": 0, "kind": "parking"},
            {"name": "east", "x": length_m - 1.5, "y": c, "yaw_deg": 180, "kind": "parking"},
        ],
        "routes": {"waypoints": waypoints, "edges": edges},
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "corridor.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_world(path)


class Rig:
    """Robots in one environment; `tick` runs each robot's loop (navigator → drive base), then the world."""

    def __init__(self, world: World, *, seed: int = 1, people: PeopleConfig | None = None, dt_s: float = DT) -> None:
        self.world = world
        self.dt_s = dt_s  # the control period (hospital-day ticks at 0.5 s)
        self.clock = SimClock(START_S)
        self.census = PatientCensus(seed, world.beds(), START_S)
        self.env = SimEnvironment(world, self.census, self.clock, seed, people=people)
        self.registry = sim_and_driver_registry()
        self.robots: dict[str, tuple[SimBody, SimNavigator, Any]] = {}

    def add(self, robot_id: str, place: str, *, body_kwargs: dict[str, Any] | None = None,
            **navigator: Any) -> SimNavigator:
        body = self.env.add_robot(robot_id, place, **(body_kwargs or {}))
        ctx = BuildContext(self.clock, robot_id, extras={"sim_env": self.env, "sim_body": body})
        nav: Any = self.registry.build("navigator", {"kind": "navigator", "model": "sim", **navigator}, ctx,
                                  source="robot.yaml", field_path="devices.navigator")
        base: Any = self.registry.build("drive_base", {"kind": "drive_base", "model": "sim"}, ctx,
                                   source="robot.yaml", field_path="devices.drive_base")
        nav.setup()
        base.setup()
        self.robots[robot_id] = (body, nav, base)
        return nav

    def body(self, robot_id: str) -> SimBody:
        return self.robots[robot_id][0]

    def tick(self) -> None:
        now_s = self.clock.now_s()
        for _, nav, base in self.robots.values():
            nav.step(now_s)
            base.command_velocity(nav.velocity_request() or Twist2D.zero())
        self.clock.advance(self.dt_s)
        self.env.step(self.dt_s)

    def go(self, goals: dict[str, str], max_s: float = 300.0) -> dict[str, NavigationHandle]:
        handles = {rid: self.robots[rid][1].start_go_to(NavigationGoal(place=place)) for rid, place in goals.items()}
        self.run_while(lambda: any(h.poll() is HandleStatus.RUNNING for h in handles.values()), max_s)
        return handles

    def run_while(self, condition: Any, max_s: float) -> None:
        t = 0.0
        while condition() and t < max_s:
            self.tick()
            t += self.dt_s


def ring_world(tmp_path: Path) -> World:
    """Two ways from west to east round a block: a narrow southern corridor (1 m free, no room to
    pass) with the waypoint `south-mid`, and a longer northern one with `north-mid`."""
    data = {
        "name": "Perception test ring",
        "walls": [
            {"points": [[0, 0], [20, 0], [20, 10], [0, 10]], "closed": True},
            {"points": [[3, 1.2], [17, 1.2], [17, 8], [3, 8]], "closed": True},
        ],
        "zones": [],
        "places": [
            {"name": "west", "x": 1.5, "y": 2.0, "yaw_deg": 0, "kind": "parking"},
            {"name": "east", "x": 18.5, "y": 2.0, "yaw_deg": 0, "kind": "parking"},
        ],
        "routes": {
            "waypoints": [{"name": "sw", "x": 1.5, "y": 0.6}, {"name": "south-mid", "x": 10, "y": 0.6},
                          {"name": "se", "x": 18.5, "y": 0.6}, {"name": "nw", "x": 1.5, "y": 9},
                          {"name": "north-mid", "x": 10, "y": 9}, {"name": "ne", "x": 18.5, "y": 9}],
            "edges": [["west", "sw"], ["sw", "south-mid"], ["south-mid", "se"], ["se", "east"],
                      ["west", "nw"], ["nw", "north-mid"], ["north-mid", "ne"], ["ne", "east"]],
        },
    }
    path = tmp_path / "ring.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_world(path)
