"""Simulated powered-door controller: the world's `auto` doors, opened on request.

A door opens `open_s` after the request unless the logistics world has it stuck at that time;
a stuck door never answers (the mission's deadline names it). Routes come from the world's route
graph; `avoid` plans on the graph without the avoided doors' edges.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection

import networkx as nx

from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth
from hal.door_opener import DoorHandle, DoorOpener, DoorState
from hal.handle import ResolvedHandle
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.logistics_world import logistics_world
from sim.routes import NoRoute


class SimDoorOpenerConfig(DeviceConfig):
    open_s: float = 4.0
    hold_open_s: float = 60.0


class SimDoorOpener(DoorOpener):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimDoorOpenerConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self._open_until: dict[str, float] = {}
        self.requests: list[tuple[float, str]] = []

    def _powered(self) -> dict[str, bool]:
        return {name: door.auto for name, door in self.sim.env.world.doors.items()}

    def doors_on_route(self, place: str, *, avoid: Collection[str] = ()) -> list[str] | None:
        self._require_open()
        world = self.sim.env.world
        if place not in world.places:
            raise DeviceError(self.name, f"unknown place {place!r}")
        pose = self.sim.body.pose
        routes = world.routes
        try:
            start = routes.nearest_node(pose.x_m, pose.y_m, pose.level)
        except NoRoute as exc:
            raise DeviceError(self.name, str(exc)) from None
        avoided = set(avoid)
        graph = nx.subgraph_view(routes.graph, filter_edge=lambda a, b: routes.graph[a][b]["door"] not in avoided)
        try:
            path = nx.shortest_path(graph, start, place, weight="length_m")
        except nx.NetworkXNoPath:
            return None
        powered = self._powered()
        doors: list[str] = []
        for a, b in itertools.pairwise(path):
            door = routes.graph[a][b]["door"]
            if door is not None and powered.get(door, False) and door not in doors:
                doors.append(door)
        return doors

    def start_open(self, door: str) -> DoorHandle:
        self._require_open()
        self.sim.raise_on_fault()
        if door not in self._powered():
            raise DeviceError(self.name, f"unknown door {door!r}")
        if not self._powered()[door]:
            raise DeviceError(self.name, f"door {door} is not powered")
        now_s = self.clock.now_s()
        self.requests.append((now_s, door))
        handle: ResolvedHandle[DoorState, str] = ResolvedHandle(self.clock.now_s)
        if logistics_world(self.sim.env).door_stuck(door, now_s):
            return handle  # never opens: the caller's deadline ends the wait
        due_s = now_s + self.config.open_s
        self._open_until[door] = due_s + self.config.hold_open_s
        handle.succeed_at(due_s, DoorState(door, True, due_s))
        return handle

    def state(self, door: str) -> DoorState:
        self._require_open()
        now_s = self.clock.now_s()
        return DoorState(door, now_s < self._open_until.get(door, float("-inf")), now_s)

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimDoorOpenerConfig, ctx: BuildContext) -> SimDoorOpener:
    env, body = sim_context(ctx)
    return SimDoorOpener(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("door_opener", "sim", SimDoorOpenerConfig, build)
