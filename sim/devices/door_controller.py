"""Simulated networked doors of the isolation anterooms, derived from the world's doors.

Anterooms are the world's places of kind `anteroom`; the door between an anteroom and a `room`
is its inner door, the other one its outer door. A door takes `travel_s` to open or close. The
interlock refuses to open a door while its partner is not CLOSED. Faults: one by the device's
name (or kind) jams every door; `"<device name>:<door id>"` jams one door. A jammed door's move
fails and leaves it UNKNOWN (half-way), which the interlock counts as not closed.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth
from hal.door_controller import Anteroom, AnteroomInterlock, DoorController, DoorState, DoorStatus, partner_door
from hal.handle import Handle, HandleStatus, ResolvedHandle
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.world import World


class SimDoorControllerConfig(DeviceConfig):
    travel_s: float = 4.0


@dataclass
class _Door:
    state: DoorState = DoorState.CLOSED
    target: DoorState | None = None  # OPEN or CLOSED while moving
    due_s: float = 0.0


def anterooms_of(world: World) -> list[Anteroom]:
    rooms: list[Anteroom] = []
    for place in sorted(world.places.values(), key=lambda p: p.name):
        if place.kind != "anteroom":
            continue
        inner = outer = None
        for door in sorted(world.doors.values(), key=lambda d: d.name):
            if place.name not in (door.node_a, door.node_b):
                continue
            other = door.node_b if door.node_a == place.name else door.node_a
            other_place = world.places.get(other)
            if other_place is not None and other_place.kind == "room":
                inner = door.name
            else:
                outer = door.name
        if inner is not None and outer is not None:
            rooms.append(Anteroom(place.name, outer, inner))
    return rooms


class _DoorHandle(ResolvedHandle[DoorStatus, DoorState]):
    def __init__(self, controller: SimDoorController, door_id: str) -> None:
        super().__init__(controller.clock.now_s)
        self._controller = controller
        self._door_id = door_id

    def poll(self) -> HandleStatus:
        if self._status is HandleStatus.RUNNING:
            self._controller.state(self._door_id)  # brings the door up to date
            self.set_feedback(self._controller.state(self._door_id).state)
        return super().poll()


class SimDoorController(DoorController):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody,
                 config: SimDoorControllerConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self._anterooms = anterooms_of(env.world)
        self._doors = {d: _Door() for room in self._anterooms for d in (room.outer_door, room.inner_door)}
        self.commands: list[tuple[str, str]] = []  # (open|close, door id), for tests

    def anterooms(self) -> list[Anteroom]:
        return list(self._anterooms)

    def door_ids(self) -> list[str]:
        return sorted(self._doors)

    def state(self, door_id: str) -> DoorStatus:
        door = self._door(door_id)
        now_s = self.clock.now_s()
        if door.target is not None and now_s >= door.due_s:
            door.state, door.target = door.target, None
        return DoorStatus(door_id, door.state, now_s)

    def start_open(self, door_id: str) -> Handle[DoorStatus, DoorState]:
        self._require_open()
        partner = partner_door(self._anterooms, door_id)
        if partner is not None and not self.state(partner).closed:
            raise AnteroomInterlock(self.name, f"{door_id} not opened: {partner} is {self.state(partner).state.value}")
        return self._move(door_id, DoorState.OPEN)

    def start_close(self, door_id: str) -> Handle[DoorStatus, DoorState]:
        self._require_open()
        return self._move(door_id, DoorState.CLOSED)

    def _move(self, door_id: str, target: DoorState) -> Handle[DoorStatus, DoorState]:
        current = self.state(door_id)
        door = self._doors[door_id]
        now_s = self.clock.now_s()
        self.commands.append(("open" if target is DoorState.OPEN else "close", door_id))
        handle = _DoorHandle(self, door_id)
        if current.state is target:
            handle.succeed_at(now_s, current)
            return handle
        due_s = now_s + self.config.travel_s
        jam = self.sim.fault() or self._door_fault(door_id)
        # the door leaves its end position at once (and is then "not closed" for the interlock)
        door.state = DoorState.OPENING if target is DoorState.OPEN else DoorState.CLOSING
        if jam is not None:
            door.state, door.target = DoorState.UNKNOWN, None
            handle.fail_at(due_s, f"door {door_id} jammed: {jam}")
        else:
            door.target, door.due_s = target, due_s
            handle.succeed_at(due_s, DoorStatus(door_id, target, due_s))
        return handle

    def _door_fault(self, door_id: str) -> str | None:
        if not self.sim.env.has_faults(self.sim.robot_id):
            return None
        return self.sim.env.fault_for(self.sim.robot_id, f"{self.name}:{door_id}", self.clock.now_s())

    def _door(self, door_id: str) -> _Door:
        if door_id not in self._doors:
            raise DeviceError(self.name, f"unknown door {door_id!r} (doors: {', '.join(sorted(self._doors))})")
        return self._doors[door_id]

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimDoorControllerConfig, ctx: BuildContext) -> SimDoorController:
    env, body = sim_context(ctx)
    return SimDoorController(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("door_controller", "sim", SimDoorControllerConfig, build)
