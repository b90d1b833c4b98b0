"""A journey to a named place through powered doors and, between floors, by lift.

`go_to(devices, place, ...)` is what a mission uses to drive anywhere: on the robot's own floor it
is the plain bounded navigation it always was (`navigation_attempts`); to a place on another floor
it is a `Journey`. Both are polled the same way (`poll(now_s)`, `status`, `reason`, `cancel()`),
since `Journey` is an `Attempts` to the mission holding it as its operation in flight.

Per floor (a *leg*): ask the door opener for the powered doors on the route and open them in
passing order (each bounded by `door_timeout_s`, retried `door_attempts` times; a door that still
does not open → a route around it, none → FAILED "door <name> did not open"), then drive there.
Between floors, after the lift lobby is reached:

0. on the way to the lobby (before calling), when another robot has reserved the chosen lift
   through the fleet's traffic and another lift serving both floors is free, the journey takes
   that one instead (checked every `REROUTE_CHECK_S`): a robot waits for a lift only when both are
   busy;
1. `start_call` (bounded by `lift_timeout_s`; a car another robot holds is waited for), then
   drive into the car (`route.car_from`) — at once when the car already stands open there. Once
   the fleet has reserved the lift for this robot, the call goes out on the way to the lobby: the
   car comes while the robot drives the last metres, and the lift is held that much less. Should
   the reservation go before the lobby (the drive failed and dropped its route, or the robot gives
   way), the early call is taken back at once: the fleet may now let another robot at the car;
2. `start_travel` (bounded), then drive out to that floor's lobby and `release` the car;
3. a car taken out of service on the way stops at the next floor with its doors open: the robot
   leaves there, releases it and takes another lift (`route(..., avoid=...)`), or fails with the
   reason when there is none;
4. during a fire alarm there are no rides: FAILED "fire alarm: no lift rides" (the mission parks
   on its floor); a robot in a car when the alarm rings leaves at the floor the car stops at and
   the journey fails with that reason.

The car is released on every way out: arrival, failure and `cancel()` (pause, end), so no car is
ever held for a robot that is not using it. Waiting for a lift only idles the robot (no drive).
Robots without a door opener or a lift caller simply drive (manual doors are propped open).
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hal.device import DeviceError
from hal.device_set import DeviceSet
from hal.door_opener import DoorOpener
from hal.handle import HandleStatus
from hal.lift_caller import (
    LiftCaller,
    LiftDoor,
    LiftFailureKind,
    LiftHandle,
    LiftMotion,
    LiftRoute,
    LiftUnavailable,
    NoLiftRoute,
)
from missions.timing import Attempts, Deadline, OpStatus, navigation_attempts

FIRE_NO_RIDES = "fire alarm: no lift rides"
#: how often a robot heading for a lift another robot has reserved looks for a free one
REROUTE_CHECK_S = 2.0


class JourneySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    nav_timeout_s: float = Field(default=900.0, gt=0)
    nav_attempts: int = Field(default=3, ge=1, le=10)
    nav_retry_wait_s: float = Field(default=5.0, ge=0)
    door_timeout_s: float = Field(default=30.0, gt=0)
    door_attempts: int = Field(default=3, ge=1, le=10)
    door_retry_wait_s: float = Field(default=10.0, ge=0)
    lift_timeout_s: float = Field(default=600.0, gt=0)  # bounds each call and each ride
    lift_attempts: int = Field(default=2, ge=1, le=5)  # calls of one lift before taking another


class _Phase(enum.Enum):
    PLAN = "plan"
    EXIT = "exit"  # started in a car (a ride pre-empted): wait for its doors to open, then out
    DOORS = "doors"
    DRIVE = "drive"
    CALL = "call"
    TRAVEL = "travel"
    RELEASE = "release"
    DONE = "done"


def _never() -> Any:  # Attempts' start: a Journey runs its own steps
    raise AssertionError("a Journey is polled, never started as a single handle")


class Journey(Attempts[Any]):
    """See the module docstring. `poll` may raise `DeviceError` from a query (unknown place)."""

    def __init__(self, devices: DeviceSet, destination: str, settings: JourneySettings, *,
                 doors: bool = True) -> None:
        super().__init__(f"journey to {destination}", _never, timeout_s=settings.nav_timeout_s, max_attempts=1)
        self.devices = devices
        self.destination = destination
        self.settings = settings
        self.use_doors = doors
        self.doors_opened: list[str] = []
        self.doors_refused: list[str] = []
        self.lifts_ridden: list[str] = []
        self.lifts_avoided: list[str] = []  # lifts that failed this journey, in order
        self._avoid_reasons: dict[str, str] = {}
        self._phase = _Phase.PLAN
        self._target = destination  # where the current drive goes
        self._after = _Phase.DONE  # the phase after the drive
        self._doors: list[str] = []
        self._op: Attempts[Any] | None = None
        self._route: LiftRoute | None = None
        self._lift_handle: LiftHandle | None = None
        self._lift_deadline: Deadline | None = None
        self._held: str | None = None  # the lift this journey holds a session on
        self._calls = 0
        self._pending_failure: str | None = None  # fail with this once off the lift
        self._lift_checked_s = -float("inf")
        self.lifts_switched = 0  # lifts given up on the way to the lobby for a free one
        self.early_calls_withdrawn = 0  # early calls taken back when the reservation went
        # looked up once: `find` scans every device, and the journey asks on every poll
        self._lifts = devices.find(LiftCaller)

    @property
    def lifts(self) -> LiftCaller | None:
        return self._lifts

    # ---- the Attempts protocol -----------------------------------------------------------------

    def poll(self, now_s: float) -> OpStatus:
        for _ in range(12):  # phases that finish at once chain within one poll
            if self.status is not OpStatus.RUNNING:
                break
            before = (self._phase, self._target, len(self._doors))
            self._step(now_s)
            if (self._phase, self._target, len(self._doors)) == before:
                break
        return self.status

    def cancel(self) -> None:
        """Stop what is in flight and release the lift; a later poll plans again from where the
        robot stands. A robot in a car keeps it (`LiftCaller.aboard`): released, the car would
        carry it off (a fire recall takes it to the recall floor); the next journey drives it out."""
        if self._op is not None:
            self._op.cancel()
            self._op = None
        if self._lift_handle is not None:
            self._lift_handle.cancel()
            self._lift_handle = None
        lifts = self.lifts
        if lifts is not None and lifts.aboard is not None:
            self._held = None  # the car stays held for the robot inside, not for this journey
        else:
            self._release()
        if self.status is OpStatus.RUNNING:
            self._phase = _Phase.PLAN

    # ---- phases --------------------------------------------------------------------------------

    def _step(self, now_s: float) -> None:
        phase = self._phase
        if phase is _Phase.PLAN:
            self._plan(now_s)
        elif phase is _Phase.EXIT:
            self._exit_car(now_s)
        elif phase is _Phase.DOORS:
            self._open_doors(now_s)
        elif phase is _Phase.DRIVE:
            self._drive(now_s)
        elif phase is _Phase.CALL:
            self._call(now_s)
        elif phase is _Phase.TRAVEL:
            self._travel(now_s)
        elif phase is _Phase.RELEASE:
            self._release()
            if self.lifts is not None:
                self.lifts.note_aboard(None)  # out of the car
            if self._pending_failure is not None:
                self._fail(self._pending_failure)
            else:
                self._phase = _Phase.PLAN

    def _level_here(self) -> int | None:
        base = self.devices.drive_base
        return base.odometry().pose.level if base is not None else None

    def _plan(self, now_s: float) -> None:
        lifts, here = self.lifts, self._level_here()
        if lifts is not None and lifts.aboard is not None:
            self._phase = _Phase.EXIT
            self._lift_deadline = Deadline.after(now_s, self.settings.lift_timeout_s)
            return
        there = lifts.place_level(self.destination) if lifts is not None and here is not None else here
        if lifts is None or here is None or here == there:
            self._go(self.destination, _Phase.DONE)
            return
        assert there is not None
        try:
            self._route = lifts.route(here, there, avoid=self.lifts_avoided)
        except (LiftUnavailable, NoLiftRoute) as exc:
            if isinstance(exc, LiftUnavailable) and exc.kind is LiftFailureKind.FIRE_SERVICE:
                self._fail(FIRE_NO_RIDES)
                return
            tried = "; ".join(self._avoid_reasons[lift] for lift in self.lifts_avoided)
            self._fail(f"{exc.reason} (before: {tried})" if tried else exc.reason)
            return
        self._calls = 0
        self._go(self._route.board_at, _Phase.CALL)

    def _go(self, target: str, after: _Phase) -> None:
        self._target, self._after = target, after
        opener = self.devices.find(DoorOpener) if self.use_doors else None
        doors = opener.doors_on_route(target) if opener is not None else []
        self._doors = list(doors or [])
        self._phase = _Phase.DOORS

    def _open_doors(self, now_s: float) -> None:
        if not self._doors:
            self._phase = _Phase.DRIVE
            return
        door = self._doors[0]
        if self._op is None:
            opener = self.devices.find(DoorOpener)
            assert opener is not None
            self._op = Attempts(
                f"door {door}", lambda: opener.start_open(door), timeout_s=self.settings.door_timeout_s,
                max_attempts=self.settings.door_attempts, retry_wait_s=self.settings.door_retry_wait_s,
            )
        status = self._op.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._op = None
            self.doors_opened.append(door)
            self._doors.pop(0)
        elif status is OpStatus.FAILED:
            why = self._op.reason or ""
            self._op = None
            self.doors_refused.append(door)
            self._reroute(door, why)

    def _reroute(self, door: str, why: str) -> None:
        opener = self.devices.find(DoorOpener)
        assert opener is not None
        around = opener.doors_on_route(self._target, avoid=set(self.doors_refused))
        if around is None:
            self._fail(f"fire door {door} closed by the alarm" if "closed by the alarm" in why
                       else f"door {door} did not open")
            return
        self._doors = [d for d in around if d not in self.doors_opened]

    def _drive(self, now_s: float) -> None:
        if self._op is None:
            navigator = self.devices.navigator
            if navigator is None:
                self._fail("no navigator on this robot")
                return
            if self._held is not None:  # boarding or leaving: keep the car's doors open
                self._lift_call(lambda lifts: lifts.hold_door(self._held or ""))
            self._op = navigation_attempts(
                navigator, self._target, timeout_s=self.settings.nav_timeout_s,
                max_attempts=self.settings.nav_attempts, retry_wait_s=self.settings.nav_retry_wait_s,
            )
        if self._after is _Phase.CALL and self._switch_to_free_lift(now_s):
            return
        if self._after is _Phase.CALL:
            self._withdraw_early_call()
            self._call_early(now_s)
            if self._lift_handle is not None:
                self._lift_handle.poll()  # keeps the call going (a car held by another is claimed once free)
        status = self._op.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            last_leg = self._op.result
            self._op = None
            self._phase = self._after
            if self._after is _Phase.DONE:
                # the last leg's navigation result, as a plain drive would give it (callers test
                # `result is not None` for "arrived")
                self.result = last_leg
                self.status = OpStatus.SUCCEEDED
        elif status is OpStatus.FAILED:
            self._fail(f"navigation failed: {self._op.reason}")

    def _call(self, now_s: float) -> None:
        lifts, route = self.lifts, self._route
        assert lifts is not None and route is not None
        if self._lift_handle is None:
            try:
                self._lift_handle = lifts.start_call(route)
            except LiftUnavailable as exc:
                self._lift_refused(route, exc.kind, exc.reason)
                return
            except DeviceError as exc:
                self._fail(f"lift {route.lift}: {exc.reason}")
                return
            self._held, self._calls = route.lift, self._calls + 1
            self._lift_deadline = Deadline.after(now_s, self.settings.lift_timeout_s)
        status = self._lift_handle.poll()
        if status is HandleStatus.SUCCEEDED:
            self._lift_handle = None
            lifts.note_aboard(route)  # from here until it has driven out, the car is the robot's
            self._go(route.car_from, _Phase.TRAVEL)
        elif status is not HandleStatus.RUNNING or self._expired(now_s):
            failure = self._lift_handle.failure
            self._lift_handle.cancel()
            self._lift_handle = None
            self._release()
            if failure is not None and failure.kind in (LiftFailureKind.FIRE_SERVICE, LiftFailureKind.OUT_OF_SERVICE):
                self._lift_refused(route, failure.kind, failure.message)
            elif self._calls >= self.settings.lift_attempts:
                waited = f"did not come within {self.settings.lift_timeout_s:g} s"
                self._avoid(route.lift, failure.message if failure is not None else waited)
                self._phase = _Phase.PLAN
            # else: call the same lift again on the next poll

    def _travel(self, now_s: float) -> None:
        lifts, route = self.lifts, self._route
        assert lifts is not None and route is not None
        if self._lift_handle is None:
            try:
                self._lift_handle = lifts.start_travel(route)
            except LiftUnavailable as exc:  # refused while we boarded: get off where we are
                self._get_off(route.board_at, route.lift, exc.kind, exc.reason)
                return
            except DeviceError as exc:
                self._release()
                self._fail(f"lift {route.lift} ride failed: {exc.reason}")
                return
            self._lift_deadline = Deadline.after(now_s, self.settings.lift_timeout_s)
        status = self._lift_handle.poll()
        if status is HandleStatus.SUCCEEDED:
            self._lift_handle = None
            self.lifts_ridden.append(route.lift)
            self._go(route.leave_at, _Phase.RELEASE)
        elif status is not HandleStatus.RUNNING or self._expired(now_s):
            failure, error = self._lift_handle.failure, self._lift_handle.error
            self._lift_handle.cancel()
            self._lift_handle = None
            lobby = None
            if failure is not None and failure.level is not None:
                lobby = failure.leave_at or route.lobby_at(failure.level)
            if failure is not None and lobby is not None:
                self._get_off(lobby, route.lift, failure.kind, failure.message)
                return
            self._release()
            reason = error or f"no arrival within {self.settings.lift_timeout_s:g} s"
            self._fail(f"lift {route.lift} ride failed: {reason}")

    # ---- helpers -------------------------------------------------------------------------------

    def _exit_car(self, now_s: float) -> None:
        """Started in a car: once it stands open at a floor, drive out to that floor's lobby and
        release it, then plan from there. A car standing shut is asked to open; waiting is bounded
        by `lift_timeout_s`."""
        lifts = self.lifts
        assert lifts is not None
        route = lifts.aboard
        if route is None:
            self._phase = _Phase.PLAN
            return
        try:
            state = lifts.status(route.lift)
        except DeviceError as exc:
            self._fail(f"in the car of lift {route.lift}: {exc.reason}")
            return
        if not state.held:  # not ours (any more): the robot is not in it, or lost it; plan from here
            lifts.note_aboard(None)
            self._phase = _Phase.PLAN
            return
        level = state.open_at
        lobby = route.lobby_at(level) if level is not None else None
        if lobby is not None:
            self._route, self._held = route, route.lift
            self._go(lobby, _Phase.RELEASE)
            return
        if self._expired(now_s):
            self._fail(f"in the car of lift {route.lift}: its doors did not open within "
                       f"{self.settings.lift_timeout_s:g} s")
            return
        if state.motion is LiftMotion.IDLE and state.door is LiftDoor.CLOSED:
            self._lift_call(lambda lifts: lifts.hold_door(route.lift))  # stood shut: open up

    def _call_early(self, now_s: float) -> None:
        """On the way to the lobby, with the lift reserved for this robot: call the car now."""
        lifts, route = self.lifts, self._route
        if lifts is None or route is None or self._lift_handle is not None or self._held is not None:
            return
        if route.lift not in lifts.reserved_here():
            return
        try:
            self._lift_handle = lifts.start_call(route)
        except DeviceError:
            return  # refused now: the call at the lobby says why
        self._held, self._calls = route.lift, self._calls + 1
        self._lift_deadline = Deadline.after(now_s, self.settings.lift_timeout_s)

    def _withdraw_early_call(self) -> None:
        """On the way to the lobby, the fleet no longer reserves our lift for us (the robot lost its
        reservation: a failed drive dropped its route, or it gives way): take back the early call.
        A car held for a robot the fleet lets another use blocks that one until the controller's
        session timeout; the call goes out again once the lift is ours again."""
        lifts, route = self.lifts, self._route
        if lifts is None or route is None or self._held != route.lift or route.lift in lifts.reserved_here():
            return
        if self._lift_handle is not None:
            self._lift_handle.cancel()
            self._lift_handle = None
        self._release()
        self._calls = max(0, self._calls - 1)  # a call taken back is not a failed call
        self.early_calls_withdrawn += 1

    def _switch_to_free_lift(self, now_s: float) -> bool:
        """On the way to the lobby: when another robot has reserved our lift and a free one serves
        both floors, head for that one instead. True when the drive was replaced."""
        lifts, route = self.lifts, self._route
        if lifts is None or route is None or self._held is not None or now_s - self._lift_checked_s < REROUTE_CHECK_S:
            return False
        self._lift_checked_s = now_s
        reserved = lifts.reserved_elsewhere()
        if route.lift not in reserved:
            return False
        try:
            other = lifts.route(route.from_level, route.to_level, avoid=self.lifts_avoided)
        except DeviceError:
            return False  # nothing better now: keep waiting for ours
        if other.lift == route.lift or other.lift in reserved:
            return False
        if self._op is not None:
            self._op.cancel()
            self._op = None
        self._route, self._calls = other, 0
        self.lifts_switched += 1
        self._go(other.board_at, _Phase.CALL)
        return True


    def _get_off(self, lobby: str, lift: str, kind: LiftFailureKind, reason: str) -> None:
        """Leave the car at the floor it stands open on, then release it and fail or re-route."""
        if kind is LiftFailureKind.FIRE_SERVICE:
            self._pending_failure = f"{FIRE_NO_RIDES} ({reason}; left at {lobby})"
        else:
            self._avoid(lift, reason)
        self._go(lobby, _Phase.RELEASE)

    def _lift_refused(self, route: LiftRoute, kind: LiftFailureKind, reason: str) -> None:
        if kind is LiftFailureKind.FIRE_SERVICE:
            self._fail(FIRE_NO_RIDES)
        else:
            self._avoid(route.lift, reason)
            self._phase = _Phase.PLAN

    def _avoid(self, lift: str, reason: str) -> None:
        if lift not in self.lifts_avoided:
            self.lifts_avoided.append(lift)
            self._avoid_reasons[lift] = reason

    def _expired(self, now_s: float) -> bool:
        return self._lift_deadline is not None and self._lift_deadline.expired(now_s)

    def _lift_call(self, call: Callable[[LiftCaller], None]) -> None:
        lifts = self.lifts
        if lifts is None:
            return
        with contextlib.suppress(DeviceError):  # best effort: the controller's own timeouts free the car
            call(lifts)

    def _release(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._lift_call(lambda lifts: lifts.release(held))

    def _fail(self, reason: str) -> None:
        if self._op is not None:
            self._op.cancel()
            self._op = None
        self._release()
        self.status, self.reason = OpStatus.FAILED, reason
        self._phase = _Phase.DONE


def go_to(devices: DeviceSet, place: str, *, nav_timeout_s: float, nav_attempts: int, nav_retry_wait_s: float,
          journey: JourneySettings | None = None) -> Attempts[Any]:
    """Drive to `place`: plain bounded navigation on this floor (exactly as before lifts), a
    `Journey` by lift when the place is on another floor. DeviceError when there is no navigator."""
    navigator = devices.navigator
    if navigator is None:
        raise DeviceError("navigator", "this robot has no navigator configured")
    lifts, base = devices.find(LiftCaller), devices.drive_base
    if lifts is not None and lifts.aboard is not None:  # in a car: out first, wherever it goes
        settings = journey or JourneySettings(nav_timeout_s=nav_timeout_s, nav_attempts=nav_attempts,
                                              nav_retry_wait_s=nav_retry_wait_s)
        return Journey(devices, place, settings, doors=devices.find(DoorOpener) is not None)
    if lifts is not None and base is not None:
        try:
            there = lifts.place_level(place)
        except DeviceError:
            there = None  # an unknown place: navigation reports it the usual way
        if there is not None and there != base.odometry().pose.level:
            settings = journey or JourneySettings(nav_timeout_s=nav_timeout_s, nav_attempts=nav_attempts,
                                                  nav_retry_wait_s=nav_retry_wait_s)
            return Journey(devices, place, settings, doors=devices.find(DoorOpener) is not None)
    return navigation_attempts(navigator, place, timeout_s=nav_timeout_s, max_attempts=nav_attempts,
                               retry_wait_s=nav_retry_wait_s)
