"""Simulated powered-door controller: the world's `auto` and fire doors, opened on request through
the building model (`sim/building_model.py`), which times them on the sim clock.

A request opens a closed door after the model's open time (4 s) and holds it open; the handle
succeeds when the model reports the door open. A door the logistics world has stuck, or the model
has jammed (`jam_door`), never answers: the mission's deadline names it. A fire door closed by the
alarm refuses at once ("fire door X closed by the alarm") until the alarm clears. A lift's landing
doors are not listed: they open with their car (the lift caller's session). Routes come from the
world's route graph; `avoid` plans on the graph without the avoided doors' edges.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection

import networkx as nx

from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth
from hal.door_opener import DoorHandle, DoorOpener, DoorState
from hal.handle import DrivenHandle, HandleStatus
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.building_controllers import DoorPosition
from sim.building_model import BuildingModel, building_model
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.logistics_world import logistics_world
from sim.routes import NoRoute


class SimDoorOpenerConfig(DeviceConfig):
    pass


class _OpenHandle(DrivenHandle[DoorState, str]):
    """Succeeds on the first poll that finds the door open (a stuck door: never)."""

    def __init__(self, owner: SimDoorOpener, door: str, stuck: bool) -> None:
        super().__init__()
        self._owner, self._door, self._stuck = owner, door, stuck

    def poll(self) -> HandleStatus:
        if self.status is HandleStatus.RUNNING and not self._stuck:
            state = self._owner.state(self._door)
            if state.open:
                self.succeed(state)
        return self.status


class SimDoorOpener(DoorOpener):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimDoorOpenerConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.requests: list[tuple[float, str]] = []

    @property
    def model(self) -> BuildingModel:
        return building_model(self.sim.env)

    def _powered(self) -> dict[str, bool]:
        """Doors the controller opens (powered or fire doors; a lift's landing doors are its car's)."""
        model = self.model
        return {name: door.auto or door.fire for name, door in self.sim.env.world.doors.items()
                if model.landing_door(name) is None}

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
        model = self.model
        if model.door_status(door).fire_closed:
            raise DeviceError(self.name, f"fire door {door} closed by the alarm")
        stuck = logistics_world(self.sim.env).door_stuck(door, now_s) or model.door_status(door).fault
        if not stuck:
            model.request_open(door, model.session_for(self.sim.robot_id))
        return _OpenHandle(self, door, stuck)  # a stuck door never opens: the caller's deadline ends the wait

    def state(self, door: str) -> DoorState:
        self._require_open()
        if door not in self._powered():
            raise DeviceError(self.name, f"unknown door {door!r}")
        status = self.model.door_status(door)
        return DoorState(door, status.position is DoorPosition.OPEN, status.stamp_s)

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimDoorOpenerConfig, ctx: BuildContext) -> SimDoorOpener:
    env, body = sim_context(ctx)
    return SimDoorOpener(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("door_opener", "sim", SimDoorOpenerConfig, build)
