"""Simulated lifts: named lifts with a lobby place on each floor they serve.

The world format has levels but no lifts, so the lifts are this device's config
(`lifts: {lift-1: [lift-1-ground, lift-1-first]}`); the default world is single-floor and has
none. A ride takes the call wait, boarding and `travel_s_per_level` per floor; on arrival the
robot's body stands at the lobby place of the target floor.
"""

from __future__ import annotations

import pydantic

from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth
from hal.handle import HandleStatus, ResolvedHandle
from hal.lift_caller import LiftCaller, LiftRoute
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment


from dataclasses import dataclass  # noqa: E402
from hal.handle import Handle  # noqa: E402


@dataclass(frozen=True, slots=True)
class LiftRide:  # transitional: replaced by the building-model session device
    lift: str
    level: int
    duration_s: float
    stamp_s: float


LiftHandle = Handle[LiftRide, str]


class SimLiftCallerConfig(DeviceConfig):
    lifts: dict[str, list[str]] = pydantic.Field(default_factory=dict)
    call_wait_s: float = 30.0
    board_s: float = 10.0
    travel_s_per_level: float = 8.0
    board_radius_m: float = 1.5


class _RideHandle(ResolvedHandle[LiftRide, str]):
    def __init__(self, owner: SimLiftCaller, route: LiftRoute) -> None:
        super().__init__(owner.clock.now_s)
        self._owner = owner
        self._route = route

    def poll(self) -> HandleStatus:
        before = self._status
        status = super().poll()
        if before is HandleStatus.RUNNING and status is HandleStatus.SUCCEEDED:
            world = self._owner.sim.env.world
            self._owner.sim.body.pose = world.place(self._route.leave_at).pose  # off the lift, upstairs
        return status


class SimLiftCaller(LiftCaller):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimLiftCallerConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        world = env.world
        for lift, lobbies in config.lifts.items():
            for lobby in lobbies:
                if lobby not in world.places:
                    raise KeyError(f"lift {lift}: lobby {lobby!r} is not a place of the world")
        self.rides: list[LiftRoute] = []

    def place_level(self, place: str) -> int:
        self._require_open()
        places = self.sim.env.world.places
        if place not in places:
            raise DeviceError(self.name, f"unknown place {place!r}")
        return places[place].level

    def route(self, from_level: int, to_level: int) -> LiftRoute:
        self._require_open()
        places = self.sim.env.world.places
        for lift in sorted(self.config.lifts):
            by_level = {places[p].level: p for p in self.config.lifts[lift]}
            if from_level in by_level and to_level in by_level:
                return LiftRoute(lift, from_level, to_level, by_level[from_level], by_level[to_level])
        raise DeviceError(self.name, f"no lift serves levels {from_level} and {to_level}")

    def start_ride(self, route: LiftRoute) -> LiftHandle:
        self._require_open()
        self.sim.raise_on_fault()
        board = self.sim.env.world.place(route.board_at)
        if self.sim.body.pose.distance_to_m(board.pose) > self.config.board_radius_m:
            raise DeviceError(self.name, f"robot is not at the lift lobby {route.board_at}")
        cfg = self.config
        duration_s = cfg.call_wait_s + cfg.board_s + cfg.travel_s_per_level * abs(route.to_level - route.from_level)
        now_s = self.clock.now_s()
        handle = _RideHandle(self, route)
        handle.succeed_at(now_s + duration_s, LiftRide(route.lift, route.to_level, duration_s, now_s + duration_s))
        self.rides.append(route)
        return handle

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimLiftCallerConfig, ctx: BuildContext) -> SimLiftCaller:
    env, body = sim_context(ctx)
    return SimLiftCaller(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("lift_caller", "sim", SimLiftCallerConfig, build)
