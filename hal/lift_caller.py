"""Lifts called over the building network, as a session (the shape of Open-RMF's LiftRequest).

A robot's use of a lift is a *session* on one car (a car carries one robot):

1. `route(from_level, to_level, avoid=...)` picks a lift serving both floors — the one with the
   shortest expected wait — and names the places involved: the lobby where the robot waits, the
   car place it drives into on each floor, and the lobby it leaves to;
2. `start_call(route)` claims the car and brings it to `from_level`; the handle succeeds once the
   car is there with its doors open and held for this robot (at once when it already is); a car
   another robot holds (a car carries one robot) is waited for: the handle stays running, its
   feedback showing the car, until the car is free and comes — the caller's deadline bounds it;
3. the robot drives into the car (`route.car_from`);
4. `start_travel(route)` closes the doors and takes the car to `to_level`; the handle succeeds
   there with the doors open, and FAILS with a `LiftFailure` when the car is taken out of service
   or recalled by the fire alarm on the way (it then stands at `failure.level` with its doors
   open: the robot drives out there);
5. the robot drives out to `route.leave_at` and calls `release(lift)`.

Lifts other robots have reserved through the fleet's traffic reservations (a robot heading for
the lobby, boarding or riding, before the controller sees its call) are known to the robot, not to
the controller: the robot passes them in with `use_reservations`, and `route` counts each as busy
(`RESERVED_WAIT_S`), so a robot takes the free lift instead of queueing for the busy one.

`hold_door` keeps the doors open while the robot boards or leaves. `release` is always safe to
call (a car not held by this robot is left alone), and a mission calls it on cancel, pause and
failure too, so no car is held forever — except for a robot standing in the car (`aboard`): its
next journey drives it out first, then releases the car. Errors raised at once are `DeviceError`s:
`NoLiftRoute` (no lift serves both floors, or every one is avoided) and `LiftUnavailable`
(refused now: out of service, fire alarm, a level the lift does not serve).
"""

from __future__ import annotations

import enum
from abc import abstractmethod
from collections.abc import Callable, Collection
from dataclasses import dataclass

from hal.device import Device, DeviceError
from hal.handle import DrivenHandle


class LiftMode(enum.StrEnum):
    NORMAL = "normal"
    OUT_OF_SERVICE = "out_of_service"  # stopped at a floor with its doors open; takes no calls
    FIRE_SERVICE = "fire_service"  # recalled by the fire alarm: no rides for robots


class LiftDoor(enum.StrEnum):
    CLOSED = "closed"
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"


class LiftMotion(enum.StrEnum):
    IDLE = "idle"
    UP = "up"
    DOWN = "down"


class LiftFailureKind(enum.StrEnum):
    OUT_OF_SERVICE = "out_of_service"
    FIRE_SERVICE = "fire_service"
    REFUSED = "refused"  # the controller refused the request (held by another robot, level not served)
    SESSION_LOST = "session_lost"  # the controller ended this robot's session
    FAULT = "fault"  # no answer from the controller, or the device faulted


@dataclass(frozen=True, slots=True)
class LiftRoute:
    lift: str
    from_level: int
    to_level: int
    board_at: str  # lobby place on from_level where the robot waits for the car
    car_from: str  # the car's place on from_level (the robot drives in here)
    car_to: str  # the car's place on to_level (where the robot stands on arrival)
    leave_at: str  # lobby place on to_level the robot drives out to
    expected_wait_s: float  # the controller's estimate of the call wait when routed
    # (level, lobby place) for every floor the lift serves, when the backend knows them: where a
    # robot drives out when the car stops short of `to_level` (out of service, fire alarm)
    lobbies: tuple[tuple[int, str], ...] = ()

    def lobby_at(self, level: int) -> str | None:
        """The lift's lobby place on `level`, if known."""
        known = dict(self.lobbies)
        known.setdefault(self.from_level, self.board_at)
        known.setdefault(self.to_level, self.leave_at)
        return known.get(level)


@dataclass(frozen=True, slots=True)
class LiftState:
    lift: str
    car_level: int  # the floor the car is at, or the last one passed while moving
    door: LiftDoor
    motion: LiftMotion
    mode: LiftMode
    held: bool  # this robot's session holds the car
    free: bool  # no session holds the car
    target_level: int | None
    stamp_s: float

    @property
    def open_at(self) -> int | None:
        """The level where the car stands with its doors open, else None."""
        if self.door is LiftDoor.OPEN and self.motion is LiftMotion.IDLE:
            return self.car_level
        return None


@dataclass(frozen=True, slots=True)
class LiftStop:
    """The car standing at `level` with its doors open for this robot (a handle's result)."""

    lift: str
    level: int
    stamp_s: float


@dataclass(frozen=True, slots=True)
class LiftFailure:
    """Why a call or a ride failed; `level` is where the car stopped with its doors open (the robot
    leaves there), None when it is not known to stand open anywhere."""

    lift: str
    kind: LiftFailureKind
    reason: str
    level: int | None = None
    leave_at: str | None = None  # the lobby place on `level` to drive out to

    @property
    def message(self) -> str:
        where = f" (stopped at level {self.level}, doors open)" if self.level is not None else ""
        return f"lift {self.lift}: {self.reason}{where}"


class LiftHandle(DrivenHandle[LiftStop, LiftState]):
    """A call or a ride, driven by its backend; on failure `failure` says why and where."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: LiftFailure | None = None

    def fail_with(self, failure: LiftFailure) -> None:
        if self.status.done:
            return
        self.failure = failure
        self.fail(failure.message)


class NoLiftRoute(DeviceError):
    """No lift serves both floors (or every one that does is avoided)."""


class LiftUnavailable(DeviceError):
    """The lift controller refused now; `kind` says why (fire service: no rides at all)."""

    def __init__(self, device: str, reason: str, *, lift: str | None = None,
                 kind: LiftFailureKind = LiftFailureKind.REFUSED) -> None:
        super().__init__(device, reason)
        self.lift = lift
        self.kind = kind


#: what a lift reserved by another robot adds to its expected wait: that robot's walk into the
#: lobby, the car's call and ride, and its walk out (about one whole ride on the default hospital)
RESERVED_WAIT_S = 60.0


class LiftCaller(Device):
    kind = "lift_caller"

    _reserved_elsewhere: Callable[[], Collection[str]] | None = None
    _reserved_here: Callable[[], Collection[str]] | None = None
    _aboard: LiftRoute | None = None

    @property
    def aboard(self) -> LiftRoute | None:
        """The route of the car this robot is in — boarding, riding or leaving it — as the journey
        using it noted (`note_aboard`). A robot's mission can end or be pre-empted while it stands
        in a car (the fire alarm parks every robot); the car is then still held for it, and the
        next journey first drives out where the car stands open and releases it."""
        return self._aboard

    def note_aboard(self, route: LiftRoute | None) -> None:
        self._aboard = route

    def use_reservations(self, reserved_elsewhere: Callable[[], Collection[str]] | None,
                         reserved_here: Callable[[], Collection[str]] | None = None) -> None:
        """Where `route` learns which lifts other robots have reserved now (see the module
        docstring), and where a journey learns which are reserved for this robot (it may call the
        car before it reaches the lobby)."""
        self._reserved_elsewhere = reserved_elsewhere
        self._reserved_here = reserved_here

    def reserved_here(self) -> frozenset[str]:
        """The lifts reserved for this robot now (empty without a source)."""
        source = self._reserved_here
        return frozenset(source()) if source is not None else frozenset()

    def reserved_elsewhere(self) -> frozenset[str]:
        """The lifts another robot has reserved now (empty without a source)."""
        source = self._reserved_elsewhere
        return frozenset(source()) if source is not None else frozenset()

    @abstractmethod
    def place_level(self, place: str) -> int:
        """The floor of a named place; DeviceError when unknown."""

    @abstractmethod
    def route(self, from_level: int, to_level: int, *, avoid: Collection[str] = ()) -> LiftRoute:
        """The lift serving both floors with the shortest expected wait (a lift another robot has
        reserved counts `RESERVED_WAIT_S` more), skipping lifts named in `avoid` and lifts not in
        normal service. `NoLiftRoute` when no lift serves both floors;
        `LiftUnavailable` when some do but none is in service now (kind FIRE_SERVICE during a
        fire alarm)."""

    @abstractmethod
    def start_call(self, route: LiftRoute) -> LiftHandle:
        """Claim the car and bring it to `route.from_level` with its doors open and held for this
        robot. `LiftUnavailable` at once when the controller refuses."""

    @abstractmethod
    def start_travel(self, route: LiftRoute) -> LiftHandle:
        """Take the held car to `route.to_level`; succeeds there with the doors open. Fails with a
        `LiftFailure` (kind OUT_OF_SERVICE or FIRE_SERVICE, `level` where it stopped with its
        doors open) when the car is taken out of normal service on the way."""

    @abstractmethod
    def hold_door(self, lift: str) -> None:
        """Keep the held car's doors open (re-open them if closing)."""

    @abstractmethod
    def release(self, lift: str) -> None:
        """End this robot's session on `lift`; harmless when it holds none."""

    @abstractmethod
    def status(self, lift: str) -> LiftState:
        """The car's state now; DeviceError for an unknown lift."""
