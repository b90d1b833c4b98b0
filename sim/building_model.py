"""The simulated building's lift bank and doors, stepped on the sim clock.

`BuildingModel` implements `LiftControllers` and `DoorControllers` (sim/building_controllers.py)
for a `World`. Each lift car has a level, doors (opening → open → closing → closed, `door_s` each
way), travels `travel_s_per_level` per floor, and carries one robot (one session); cars start at
their lowest floor with their doors closed. A free car
with its doors open closes them `dwell_s` after opening; a held car keeps them open until its
session sends it somewhere or releases it (or `session_timeout_s` passes idle, so no robot holds a
car forever).

Modes: a car taken out of service (`take_out_of_service`) stops at the next floor in its direction,
opens and stays; during a fire alarm (`set_fire_alarm(True)`) every car does the same and no call
is taken. A robot body standing in a car place (within `CAR_RADIUS_M` of `Lift.cars[level]`) when
the car leaves rides along: on every floor the car reaches, the body stands at that floor's car
place.

Events are processed at their own times, not at the tick's, so the outcome does not depend on who
steps the model or how often: the runner calls `step(now_s)` each tick, and every controller call
first steps to the clock's now. `building_model(env)` is the simulation's one model (created on
first use); `set_building_model(env, model)` installs a hand-made one. Every ride is recorded
(`rides()`, `summary()`).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Any

from hal.clock import Clock
from hal.geometry import Pose2D
from sim.building_controllers import DoorPosition, DoorStatus, LiftMode, LiftRefused, LiftStatus, Motion
from sim.building_doors import BuildingDoors
from sim.building_records import RideRecord, WaitRecord, stats
from sim.environment import SimEnvironment
from sim.world import Lift, World

CAR_RADIUS_M = 0.5  # a body this close to a car place is inside the car
INF = float("inf")
#: why a session ended when the robot released it (before boarding: a cancelled call)
RELEASED = "released before the ride ended"


@dataclass
class _Car:
    lift: Lift
    index: int  # into lift.levels
    door: DoorPosition = DoorPosition.CLOSED
    door_done_s: float = 0.0  # when OPENING / CLOSING ends
    close_at_s: float = INF  # when an OPEN door starts closing
    hold_until_s: float = -INF
    motion: Motion = Motion.IDLE
    next_at_s: float = INF  # when a moving car reaches the next floor
    target: int | None = None  # index of the floor it goes to
    out_of_service: bool = False
    session: int = 0
    active_s: float = 0.0  # the session's last request (for the idle timeout)
    riders: list[str] = field(default_factory=list)
    ride: RideRecord | None = None

    @property
    def level(self) -> int:
        return self.lift.levels[self.index]


class BuildingModel:
    """Lift cars and doors of one simulated building (see the module docstring)."""

    def __init__(self, world: World, clock: Clock, env: SimEnvironment | None = None, *,
                 door_open_s: float = 4.0, door_hold_open_s: float = 60.0, lift_door_hold_s: float = 10.0,
                 session_timeout_s: float = 900.0) -> None:
        self.world = world
        self._clock = clock
        self._env = env
        self.lift_door_hold_s = lift_door_hold_s
        self.session_timeout_s = session_timeout_s
        self._cars = {name: _Car(lift, 0) for name, lift in sorted(world.lifts.items())}
        self._landing = {door: (name, level) for name, lift in self._cars.items()
                         for level, door in lift.lift.doors.items()}
        self.doors = BuildingDoors({n: d for n, d in world.doors.items() if n not in self._landing},
                                   open_s=door_open_s, hold_s=door_hold_open_s)
        self._fire = False
        self._now_s = -INF
        self._sessions: dict[str, int] = {}
        self._owners: dict[int, str] = {}
        self._rides: list[RideRecord] = []
        self.refusals: list[tuple[float, str, int, str]] = []  # (stamp, lift, session, reason)
        self._waits: dict[tuple[str, int], list[float]] = {}  # (lift, session) → [since, last, level]
        self._held_waits: list[WaitRecord] = []

    # ---- stepping ------------------------------------------------------------------------------

    def step(self, now_s: float) -> None:
        """Advance every car and door to `now_s` (earlier times are ignored)."""
        if now_s <= self._now_s:
            return
        self._now_s = now_s
        for car in self._cars.values():
            self._advance(car, now_s)
        self.doors.step(now_s)

    def _sync(self) -> float:
        now_s = self._clock.now_s()
        self.step(now_s)
        return max(now_s, self._now_s)

    # ---- sessions ------------------------------------------------------------------------------

    def session_for(self, owner: str) -> int:
        """A stable session number for a robot (allocated in first-asked order: deterministic)."""
        if owner not in self._sessions:
            session = len(self._sessions) + 1
            self._sessions[owner], self._owners[session] = session, owner
        return self._sessions[owner]

    def lift_serving(self, level: int) -> list[str]:
        return [name for name, car in self._cars.items() if level in car.lift.levels]

    def landing_door(self, door: str) -> tuple[str, int] | None:
        """(lift, level) when `door` is a lift's landing door."""
        return self._landing.get(door)

    # ---- LiftControllers -----------------------------------------------------------------------

    def lift_names(self) -> list[str]:
        return list(self._cars)

    def lift_status(self, lift: str) -> LiftStatus:
        now_s = self._sync()
        car = self._car(lift)
        target = None if car.target is None else car.lift.levels[car.target]
        return LiftStatus(lift, car.level, car.door, car.motion, self._mode(car), car.session, target, now_s)

    def hall_call(self, lift: str, level: int, session: int) -> None:
        now_s = self._sync()
        car = self._car(lift)
        self._refuse_unless_normal(car, session, now_s)
        if car.session not in (0, session):
            self._waits.setdefault((lift, session), [now_s, now_s, level])[1] = now_s
            raise LiftRefused(lift, "the car is held by another robot")
        index = self._index(car, level, session, now_s)
        wait = self._waits.pop((lift, session), None)
        if wait is not None:  # it waited for another robot's ride: record how long
            self._held_waits.append(WaitRecord(self._owner(session), lift, level, wait[0], now_s))
        if car.session == 0 or car.ride is None:
            car.ride = RideRecord(self._owner(session), lift, level, now_s)
            self._rides.append(car.ride)
        car.session, car.active_s = session, now_s
        car.target = index
        if car.motion is Motion.IDLE and car.index == index:
            car.target = None
            self._reopen(car, now_s)
            if car.door is DoorPosition.OPEN:
                self._answered(car, now_s)
        self._reschedule_close(car, now_s)

    def car_call(self, lift: str, level: int, session: int) -> None:
        now_s = self._sync()
        car = self._car(lift)
        self._refuse_unless_normal(car, session, now_s)
        if car.session != session:
            self._refuse(car, session, now_s, "the car is not held by this robot")
        index = self._index(car, level, session, now_s)
        car.active_s = now_s
        if car.ride is not None and car.ride.boarded_s is None:
            car.ride.boarded_s, car.ride.to_level = now_s, level
        if car.motion is Motion.IDLE and car.index == index:
            car.target = None
            self._reopen(car, now_s)
            if car.door is DoorPosition.OPEN:
                self._arrived(car, now_s)
            return
        car.target = index
        self._reschedule_close(car, now_s)

    def hold_door(self, lift: str, session: int) -> None:
        now_s = self._sync()
        car = self._car(lift)
        if car.session != session or car.motion is not Motion.IDLE:
            return
        car.active_s, car.hold_until_s = now_s, now_s + self.lift_door_hold_s
        self._reopen(car, now_s)
        self._reschedule_close(car, now_s)

    def release(self, lift: str, session: int) -> None:
        now_s = self._sync()
        car = self._car(lift)
        if car.session != session or session == 0:
            return
        self._end_session(car, now_s, RELEASED)

    # ---- DoorControllers -----------------------------------------------------------------------

    def door_names(self) -> list[str]:
        return self.doors.names() + sorted(self._landing)

    def door_status(self, door: str) -> DoorStatus:
        now_s = self._sync()
        if door in self._landing:
            lift, level = self._landing[door]
            car = self._cars[lift]
            position = car.door if car.level == level and car.motion is Motion.IDLE else DoorPosition.CLOSED
            return DoorStatus(door, position, False, False, now_s)
        return self.doors.status(door, now_s)

    def request_open(self, door: str, session: int) -> None:
        now_s = self._sync()
        if door in self._landing:  # a landing door opens with its car: hold it for the session
            lift, level = self._landing[door]
            if self._cars[lift].level == level:
                self.hold_door(lift, session)
            return
        self.doors.request_open(door, session, now_s)

    # ---- the building's operators (scenario wiring) --------------------------------------------

    def take_out_of_service(self, lift: str, now_s: float) -> None:
        self.step(now_s)
        car = self._car(lift)
        car.out_of_service = True
        self._stop_at_next_floor(car, max(now_s, self._now_s))

    def return_to_service(self, lift: str) -> None:
        now_s = self._sync()
        car = self._car(lift)
        car.out_of_service = False
        self._reschedule_close(car, now_s)

    def set_fire_alarm(self, active: bool) -> None:
        now_s = self._sync()
        if active == self._fire:
            return
        self._fire = active
        self.doors.set_fire_alarm(active, now_s)
        for car in self._cars.values():
            if active:
                self._stop_at_next_floor(car, now_s)
            else:
                self._reschedule_close(car, now_s)

    @property
    def fire_alarm(self) -> bool:
        return self._fire

    def jam_door(self, door: str, until_s: float) -> None:
        self.doors.jam(door, until_s)

    # ---- estimates and records -----------------------------------------------------------------

    def expected_wait_s(self, lift: str, level: int, session: int) -> float:
        """How long a call from `level` would wait for this car (inf when it takes no calls)."""
        self._sync()
        car = self._car(lift)
        if self._mode(car) is not LiftMode.NORMAL or level not in car.lift.levels:
            return INF
        lift_def, index = car.lift, car.lift.levels.index(level)
        busy_s = 0.0
        start = car.index
        if car.session not in (0, session):  # another robot's ride first: to its target and back
            start = car.target if car.target is not None else car.index
            busy_s = lift_def.travel_s_per_level * abs(start - car.index) + 4 * lift_def.door_s + 30.0
        if start == index and busy_s == 0.0 and car.door in (DoorPosition.OPEN, DoorPosition.OPENING):
            return 0.0
        return busy_s + lift_def.door_s * 2 + lift_def.travel_s_per_level * abs(start - index)

    def rides(self) -> list[RideRecord]:
        return list(self._rides)

    def waits(self) -> list[WaitRecord]:
        """Calls that waited for another robot's ride (the call wait itself is in each ride)."""
        return list(self._held_waits)

    def summary(self) -> dict[str, Any]:
        done = [r for r in self._rides if r.outcome == "done"]
        failed = [r for r in self._rides if r.outcome == "failed"]
        cancelled = [r for r in self._rides if r.outcome == "cancelled"]
        waits = [r.answered_s - r.requested_s for r in self._rides if r.answered_s is not None]
        trips = [r.arrived_s - r.boarded_s for r in done if r.arrived_s is not None and r.boarded_s is not None]
        reasons: dict[str, int] = {}
        for ride in failed:
            reasons[ride.reason or "?"] = reasons.get(ride.reason or "?", 0) + 1
        return {
            "rides": len(self._rides), "done": len(done), "failed": len(failed), "failures": reasons,
            "cancelled_calls": len(cancelled),
            "by_lift": {name: sum(1 for r in self._rides if r.lift == name) for name in self._cars},
            "call_wait_s": stats(waits), "ride_s": stats(trips), "refused_calls": len(self.refusals),
            "held_wait_s": stats([w.wait_s for w in self._held_waits]),
        }

    # ---- internals -----------------------------------------------------------------------------

    def _car(self, lift: str) -> _Car:
        if lift not in self._cars:
            raise KeyError(f"no lift {lift!r} (lifts: {', '.join(self._cars) or 'none'})")
        return self._cars[lift]

    def _owner(self, session: int) -> str:
        return self._owners.get(session, f"session {session}")

    def _mode(self, car: _Car) -> LiftMode:
        if car.out_of_service:
            return LiftMode.OUT_OF_SERVICE
        return LiftMode.FIRE_SERVICE if self._fire else LiftMode.NORMAL

    def _refuse(self, car: _Car, session: int, now_s: float, reason: str) -> None:
        self.refusals.append((now_s, car.lift.name, session, reason))
        raise LiftRefused(car.lift.name, reason)

    def _refuse_unless_normal(self, car: _Car, session: int, now_s: float) -> None:
        mode = self._mode(car)
        if mode is LiftMode.OUT_OF_SERVICE:
            self._refuse(car, session, now_s, "out of service")
        if mode is LiftMode.FIRE_SERVICE:
            self._refuse(car, session, now_s, "fire service: no rides during the fire alarm")

    def _index(self, car: _Car, level: int, session: int, now_s: float) -> int:
        if level not in car.lift.levels:
            self._refuse(car, session, now_s, f"does not serve level {level}")
        return car.lift.levels.index(level)

    def _stop_reason(self, car: _Car) -> str:
        return "taken out of service" if car.out_of_service else "fire alarm: recalled by the fire service"

    def _stop_at_next_floor(self, car: _Car, now_s: float) -> None:
        if car.motion is Motion.IDLE:
            car.target = None
            if car.session or car.door is not DoorPosition.CLOSED or self._bodies_in(car):  # let them out
                self._reopen(car, now_s)
                if car.door is DoorPosition.OPEN:
                    self._stopped(car, now_s)
        else:
            step = 1 if car.motion is Motion.UP else -1
            car.target = car.index + step
        car.close_at_s = INF if car.door is DoorPosition.OPEN else car.close_at_s

    def _reopen(self, car: _Car, now_s: float) -> None:
        if car.door is DoorPosition.CLOSED:
            car.door, car.door_done_s = DoorPosition.OPENING, now_s + car.lift.door_s
        elif car.door is DoorPosition.CLOSING:  # back the way it came
            elapsed_s = car.lift.door_s - (car.door_done_s - now_s)
            car.door, car.door_done_s = DoorPosition.OPENING, now_s + max(0.0, elapsed_s)

    def _close_time(self, car: _Car, opened_s: float) -> float:
        if self._mode(car) is not LiftMode.NORMAL:
            return INF
        if car.target is not None and car.target != car.index:
            return max(opened_s, car.hold_until_s)
        return INF if car.session else opened_s + car.lift.dwell_s

    def _reschedule_close(self, car: _Car, now_s: float) -> None:
        if car.door is DoorPosition.OPEN:
            car.close_at_s = self._close_time(car, now_s)
            self._advance(car, now_s)
        elif car.door is DoorPosition.CLOSED and car.motion is Motion.IDLE and car.target is not None:
            self._depart(car, now_s)

    def _advance(self, car: _Car, now_s: float) -> None:
        for _ in range(10_000):  # each pass handles one event at its own time
            if car.motion is not Motion.IDLE:
                if car.next_at_s > now_s:
                    return
                self._pass_floor(car, car.next_at_s)
            elif car.door is DoorPosition.OPENING:
                if car.door_done_s > now_s:
                    return
                self._opened(car, car.door_done_s)
            elif car.door is DoorPosition.OPEN:
                timeout_s = car.active_s + self.session_timeout_s if car.session and car.target is None else INF
                t = min(car.close_at_s, timeout_s)
                if t > now_s:
                    return
                if t == timeout_s:
                    self._end_session(car, t, "session timed out: the robot held the car too long")
                else:
                    car.door, car.door_done_s, car.close_at_s = DoorPosition.CLOSING, t + car.lift.door_s, INF
            elif car.door is DoorPosition.CLOSING:
                if car.door_done_s > now_s:
                    return
                car.door = DoorPosition.CLOSED
                self._depart(car, car.door_done_s)
            else:
                return

    def _opened(self, car: _Car, t: float) -> None:
        car.door, car.active_s = DoorPosition.OPEN, t
        car.close_at_s = self._close_time(car, t)
        if self._mode(car) is not LiftMode.NORMAL:
            self._stopped(car, t)
        elif car.ride is not None and car.ride.boarded_s is not None:
            self._arrived(car, t)
        elif car.ride is not None and car.ride.from_level == car.level:
            self._answered(car, t)

    def _depart(self, car: _Car, t: float) -> None:
        if car.target is None or car.target == car.index or self._mode(car) is not LiftMode.NORMAL:
            if car.target == car.index:
                car.target = None
                self._reopen(car, t)
            return
        car.motion = Motion.UP if car.target > car.index else Motion.DOWN
        car.next_at_s = t + car.lift.travel_s_per_level
        car.riders = self._bodies_in(car)

    def _pass_floor(self, car: _Car, t: float) -> None:
        car.index += 1 if car.motion is Motion.UP else -1
        self._carry(car)
        assert car.target is not None
        if car.index == car.target:
            car.motion, car.next_at_s, car.target, car.riders = Motion.IDLE, INF, None, []
            car.door, car.door_done_s = DoorPosition.OPENING, t + car.lift.door_s
        else:
            car.motion = Motion.UP if car.target > car.index else Motion.DOWN
            car.next_at_s = t + car.lift.travel_s_per_level

    def _answered(self, car: _Car, t: float) -> None:
        if car.ride is not None and car.ride.answered_s is None:
            car.ride.answered_s = t

    def _arrived(self, car: _Car, t: float) -> None:
        ride = car.ride
        if ride is not None and ride.outcome == "running" and ride.to_level == car.level:
            ride.arrived_s, ride.outcome, ride.stopped_level = t, "done", car.level

    def _stopped(self, car: _Car, t: float) -> None:
        ride = car.ride
        if ride is not None and ride.outcome == "running" and ride.boarded_s is not None:
            ride.arrived_s, ride.outcome, ride.stopped_level = t, "failed", car.level
            ride.reason = self._stop_reason(car)

    def _end_session(self, car: _Car, t: float, reason: str) -> None:
        ride = car.ride
        if ride is not None and ride.outcome == "running":
            # a call given up before the robot boarded (its mission paused, a robot that called on
            # its way to the lobby and turned back) is a cancelled call, not a failed ride
            cancelled = ride.boarded_s is None and reason == RELEASED
            ride.outcome, ride.reason = ("cancelled", "released before boarding") if cancelled else ("failed", reason)
        car.session, car.ride, car.hold_until_s = 0, None, -INF
        if car.door is DoorPosition.OPEN:
            car.close_at_s = self._close_time(car, t)

    def _bodies_in(self, car: _Car) -> list[str]:
        if self._env is None:
            return []
        place = self.world.places[car.lift.cars[car.level]]
        inside = []
        for robot_id in self._env.robot_ids():
            pose = self._env.body(robot_id).pose
            if pose.level == car.level and math.hypot(pose.x_m - place.x_m, pose.y_m - place.y_m) <= CAR_RADIUS_M:
                inside.append(robot_id)
        return inside

    def _carry(self, car: _Car) -> None:
        if self._env is None or car.level not in car.lift.cars:
            return
        place = self.world.places[car.lift.cars[car.level]]
        for robot_id in car.riders:
            body = self._env.body(robot_id)
            body.pose = Pose2D(place.x_m, place.y_m, body.pose.yaw_rad, car.level)


_MODELS: weakref.WeakKeyDictionary[SimEnvironment, BuildingModel] = weakref.WeakKeyDictionary()


def building_model(env: SimEnvironment) -> BuildingModel:
    """The simulation's building model, created from the environment's world on first use."""
    model = _MODELS.get(env)
    if model is None:
        model = BuildingModel(env.world, env.clock, env)
        _MODELS[env] = model
    return model


def existing_building_model(env: SimEnvironment) -> BuildingModel | None:
    """The simulation's building model if anything has used it yet (None: no alarm, no door moved)."""
    return _MODELS.get(env)


def set_building_model(env: SimEnvironment, model: BuildingModel) -> None:
    """Use a hand-made or configured model (tests, scenario settings)."""
    _MODELS[env] = model
