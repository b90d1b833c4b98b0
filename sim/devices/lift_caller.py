"""Simulated lift caller: the session protocol of `hal.lift_caller` over the building model.

In-process, the device talks to the simulation's `BuildingModel` (`sim/building_model.py`) the
way a real integration talks to the lift controllers: a hall call claims the car for this robot's
session, a car call sends it, the handles watch the car's status. The world's `lifts` say which
lifts there are and their lobby and car places; a single-floor world has none.

A call to a car another robot holds waits (the call is placed again on every poll until the car is
free); a call or ride fails with a `LiftFailure` when the car leaves normal service (out of
service, fire alarm), naming the floor where it stands open and that floor's lobby.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth
from hal.handle import HandleStatus
from hal.lift_caller import (
    RESERVED_WAIT_S,
    LiftCaller,
    LiftDoor,
    LiftFailure,
    LiftFailureKind,
    LiftHandle,
    LiftMode,
    LiftMotion,
    LiftRoute,
    LiftState,
    LiftStop,
    LiftUnavailable,
    NoLiftRoute,
)
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.building_controllers import LiftMode as CtlMode
from sim.building_controllers import LiftRefused, LiftStatus, Motion
from sim.building_model import CAR_RADIUS_M, BuildingModel, building_model
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment

_MODES = {CtlMode.NORMAL: LiftMode.NORMAL, CtlMode.OUT_OF_SERVICE: LiftMode.OUT_OF_SERVICE,
          CtlMode.FIRE_SERVICE: LiftMode.FIRE_SERVICE}
_MOTIONS = {Motion.IDLE: LiftMotion.IDLE, Motion.UP: LiftMotion.UP, Motion.DOWN: LiftMotion.DOWN}
_FAILURES = {CtlMode.OUT_OF_SERVICE: (LiftFailureKind.OUT_OF_SERVICE, "out of service"),
             CtlMode.FIRE_SERVICE: (LiftFailureKind.FIRE_SERVICE, "fire alarm: recalled by the fire service")}


class SimLiftCallerConfig(DeviceConfig):
    pass


class _SessionHandle(LiftHandle):
    """A call (`to_level` None) or a ride, updated from the car's status on every poll."""

    def __init__(self, owner: SimLiftCaller, route: LiftRoute, *, ride: bool, claimed: bool) -> None:
        super().__init__()
        self._owner = owner
        self.route = route
        self.ride = ride
        self.claimed = claimed  # the hall call was accepted (a call to a held car waits)

    def poll(self) -> HandleStatus:
        if self.status is HandleStatus.RUNNING:
            self._owner.update(self)
        return self.status


class SimLiftCaller(LiftCaller):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody,
                 config: SimLiftCallerConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.calls: list[LiftRoute] = []

    @property
    def model(self) -> BuildingModel:
        return building_model(self.sim.env)

    @property
    def session(self) -> int:
        return self.model.session_for(self.sim.robot_id)

    def place_level(self, place: str) -> int:
        self._require_open()
        places = self.sim.env.world.places
        if place not in places:
            raise DeviceError(self.name, f"unknown place {place!r}")
        return places[place].level

    def route(self, from_level: int, to_level: int, *, avoid: Collection[str] = ()) -> LiftRoute:
        self._require_open()
        lifts = self.sim.env.world.lifts
        serving = [n for n in sorted(lifts) if {from_level, to_level} <= set(lifts[n].levels)]
        candidates = [n for n in serving if n not in avoid]
        if not candidates:
            avoided = f" (avoiding {', '.join(sorted(avoid))})" if serving else ""
            raise NoLiftRoute(self.name, f"no lift serves levels {from_level} and {to_level}{avoided}")
        reserved = self.reserved_elsewhere()
        waits = {n: self.model.expected_wait_s(n, from_level, self.session)
                 + (RESERVED_WAIT_S if n in reserved else 0.0) for n in candidates}
        usable = [n for n in candidates if math.isfinite(waits[n])]
        if not usable:
            if self.model.fire_alarm:
                raise LiftUnavailable(self.name, "fire alarm: no lift rides", kind=LiftFailureKind.FIRE_SERVICE)
            raise LiftUnavailable(self.name, f"every lift serving levels {from_level} and {to_level} is out of "
                                  f"service: {', '.join(candidates)}", kind=LiftFailureKind.OUT_OF_SERVICE)
        best = min(usable, key=lambda n: (waits[n], n))
        lift = lifts[best]
        return LiftRoute(best, from_level, to_level, lift.lobbies[from_level], lift.cars[from_level],
                         lift.cars[to_level], lift.lobbies[to_level], waits[best],
                         tuple(sorted(lift.lobbies.items())))

    def start_call(self, route: LiftRoute) -> LiftHandle:
        self._require_open()
        self.sim.raise_on_fault()
        self.calls.append(route)
        handle = _SessionHandle(self, route, ride=False, claimed=self._hall_call(route))
        self.update(handle)
        return handle

    def start_travel(self, route: LiftRoute) -> LiftHandle:
        self._require_open()
        self.sim.raise_on_fault()
        car = self.sim.env.world.places[route.car_from]
        pose = self.sim.body.pose
        if pose.level != car.level or math.hypot(pose.x_m - car.x_m, pose.y_m - car.y_m) > CAR_RADIUS_M:
            raise DeviceError(self.name, f"the robot is not in the car of lift {route.lift} ({route.car_from})")
        try:
            self.model.car_call(route.lift, route.to_level, self.session)
        except LiftRefused as exc:
            raise self._unavailable(route.lift, exc.reason) from None
        handle = _SessionHandle(self, route, ride=True, claimed=True)
        self.update(handle)
        return handle

    def hold_door(self, lift: str) -> None:
        self._require_open()
        self._known(lift)
        self.model.hold_door(lift, self.session)

    def release(self, lift: str) -> None:
        self._require_open()
        self._known(lift)
        self.model.release(lift, self.session)

    def status(self, lift: str) -> LiftState:
        self._require_open()
        self._known(lift)
        return self._state(self.model.lift_status(lift))

    def health(self) -> DeviceHealth:
        return self.sim.health()

    # ---- the handles' view of the car ----------------------------------------------------------

    def update(self, handle: _SessionHandle) -> None:
        route = handle.route
        status = self.model.lift_status(route.lift)
        handle.set_feedback(self._state(status))
        if status.mode is not CtlMode.NORMAL:
            stands_open = status.motion is Motion.IDLE and status.door.name == "OPEN"
            if handle.ride and not stands_open:
                return  # stopping at the next floor: the failure names it once the doors are open
            kind, reason = _FAILURES[status.mode]
            lobby = self.sim.env.world.lifts[route.lift].lobbies.get(status.car_level)
            level = status.car_level if stands_open and handle.ride else None  # where a rider gets off
            handle.fail_with(LiftFailure(route.lift, kind, reason, level, lobby if level is not None else None))
            return
        if not handle.claimed:
            handle.claimed = self._hall_call(route)
            if not handle.claimed:
                return
            status = self.model.lift_status(route.lift)
        if status.session != self.session:
            handle.fail_with(LiftFailure(route.lift, LiftFailureKind.SESSION_LOST,
                                         "the lift controller ended this robot's session"))
            return
        level = route.to_level if handle.ride else route.from_level
        if status.motion is Motion.IDLE and status.car_level == level and status.door.name == "OPEN":
            handle.succeed(LiftStop(route.lift, level, status.stamp_s))

    def _hall_call(self, route: LiftRoute) -> bool:
        try:
            self.model.hall_call(route.lift, route.from_level, self.session)
        except LiftRefused as exc:
            if "held by another" in exc.reason:
                return False  # capacity one: wait for the car to be free
            raise self._unavailable(route.lift, exc.reason) from None
        return True

    def _unavailable(self, lift: str, reason: str) -> LiftUnavailable:
        if "fire" in reason:
            kind = LiftFailureKind.FIRE_SERVICE
        elif "out of service" in reason:
            kind = LiftFailureKind.OUT_OF_SERVICE
        else:
            kind = LiftFailureKind.REFUSED
        return LiftUnavailable(self.name, f"lift {lift}: {reason}", lift=lift, kind=kind)

    def _state(self, status: LiftStatus) -> LiftState:
        return LiftState(status.lift, status.car_level, LiftDoor(status.door.name.lower()),
                         _MOTIONS[status.motion], _MODES[status.mode], status.session == self.session,
                         status.session == 0, status.target_level, status.stamp_s)

    def _known(self, lift: str) -> None:
        if lift not in self.sim.env.world.lifts:
            raise DeviceError(self.name, f"unknown lift {lift!r}")


def build(name: str, config: SimLiftCallerConfig, ctx: BuildContext) -> SimLiftCaller:
    env, body = sim_context(ctx)
    return SimLiftCaller(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("lift_caller", "sim", SimLiftCallerConfig, build)
