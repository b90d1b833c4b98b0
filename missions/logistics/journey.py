"""A journey to a named place through powered doors and, between floors, by lift.

`Journey.poll(now_s)` is non-blocking, like `Attempts`; the mission keeps it as its operation in
flight (`self._op`) so a pause cancels it. Per leg (one per floor):

1. ask the door opener for the powered doors on the route and open them in passing order, each
   request bounded by `door_timeout_s` and retried `door_attempts` times; a door that still does
   not open → ask for a route around it; none → FAILED "door <name> did not open";
2. drive there (bounded navigation attempts);
3. between floors: the first leg ends at the lift lobby, then the ride (call, board, travel,
   leave) runs as one bounded handle and the next leg starts upstairs.

Robots without a door opener or a lift caller simply drive (manual doors are propped open).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hal.device_set import DeviceSet
from hal.door_opener import DoorOpener
from hal.lift_caller import LiftCaller, LiftRoute
from missions.timing import Attempts, OpStatus, navigation_attempts


class JourneySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    nav_timeout_s: float = Field(default=900.0, gt=0)
    nav_attempts: int = Field(default=3, ge=1, le=10)
    nav_retry_wait_s: float = Field(default=5.0, ge=0)
    door_timeout_s: float = Field(default=30.0, gt=0)
    door_attempts: int = Field(default=3, ge=1, le=10)
    door_retry_wait_s: float = Field(default=10.0, ge=0)
    lift_timeout_s: float = Field(default=600.0, gt=0)
    lift_attempts: int = Field(default=2, ge=1, le=5)


class _Phase(enum.Enum):
    PLAN_LEG = "plan_leg"
    DOORS = "doors"
    DRIVE = "drive"
    RIDE = "ride"
    DONE = "done"


@dataclass
class _Leg:
    target: str
    ride: LiftRoute | None = None  # the lift ride that follows reaching `target`


@dataclass
class Journey:
    devices: DeviceSet
    destination: str
    settings: JourneySettings
    status: OpStatus = OpStatus.RUNNING
    reason: str | None = None
    doors_opened: list[str] = field(default_factory=list)
    doors_refused: list[str] = field(default_factory=list)
    lifts_ridden: list[str] = field(default_factory=list)
    _legs: list[_Leg] | None = None
    _phase: _Phase = _Phase.PLAN_LEG
    _doors: list[str] = field(default_factory=list)
    _attempt: Attempts[Any] | None = None

    def poll(self, now_s: float) -> OpStatus:
        """Advance; a `DeviceError` from a query (unknown place, no lift) propagates to the caller."""
        for _ in range(8):  # phases that finish at once chain within one poll
            if self.status is not OpStatus.RUNNING:
                break
            before = (self._phase, len(self._legs or []), len(self._doors))
            self._step(now_s)
            if (self._phase, len(self._legs or []), len(self._doors)) == before:
                break
        return self.status

    def cancel(self) -> None:
        if self._attempt is not None:
            self._attempt.cancel()
            self._attempt = None

    # ---- phases -------------------------------------------------------------------------------

    def _step(self, now_s: float) -> None:
        if self._legs is None:
            self._legs = self._plan_legs()
        if self._phase is _Phase.PLAN_LEG:
            if not self._legs:
                self._phase = _Phase.DONE
                self.status = OpStatus.SUCCEEDED
                return
            opener = self.devices.find(DoorOpener)
            doors = opener.doors_on_route(self._legs[0].target) if opener is not None else []
            self._doors = list(doors or [])
            self._phase = _Phase.DOORS
        elif self._phase is _Phase.DOORS:
            self._open_doors(now_s)
        elif self._phase is _Phase.DRIVE:
            self._drive(now_s)
        elif self._phase is _Phase.RIDE:
            self._ride(now_s)

    def _plan_legs(self) -> list[_Leg]:
        lifts = self.devices.find(LiftCaller)
        base = self.devices.drive_base
        if lifts is None or base is None:
            return [_Leg(self.destination)]
        here = base.odometry().pose.level
        there = lifts.place_level(self.destination)
        if here == there:
            return [_Leg(self.destination)]
        route = lifts.route(here, there)
        return [_Leg(route.board_at, ride=route), _Leg(self.destination)]

    def _open_doors(self, now_s: float) -> None:
        if not self._doors:
            self._phase = _Phase.DRIVE
            return
        door = self._doors[0]
        if self._attempt is None:
            opener = self.devices.find(DoorOpener)
            assert opener is not None
            self._attempt = Attempts(
                f"door {door}", lambda: opener.start_open(door), timeout_s=self.settings.door_timeout_s,
                max_attempts=self.settings.door_attempts, retry_wait_s=self.settings.door_retry_wait_s,
            )
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._attempt = None
            self.doors_opened.append(door)
            self._doors.pop(0)
        elif status is OpStatus.FAILED:
            self._attempt = None
            self.doors_refused.append(door)
            self._reroute(door)

    def _reroute(self, door: str) -> None:
        opener = self.devices.find(DoorOpener)
        assert opener is not None and self._legs
        around = opener.doors_on_route(self._legs[0].target, avoid=set(self.doors_refused))
        if around is None:
            self.status, self.reason = OpStatus.FAILED, f"door {door} did not open"
            return
        self._doors = [d for d in around if d not in self.doors_opened]

    def _drive(self, now_s: float) -> None:
        assert self._legs
        leg = self._legs[0]
        if self._attempt is None:
            navigator = self.devices.navigator
            if navigator is None:
                self.status, self.reason = OpStatus.FAILED, "no navigator on this robot"
                return
            self._attempt = navigation_attempts(
                navigator, leg.target, timeout_s=self.settings.nav_timeout_s,
                max_attempts=self.settings.nav_attempts, retry_wait_s=self.settings.nav_retry_wait_s,
            )
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._attempt = None
            self._phase = _Phase.RIDE if leg.ride is not None else _Phase.PLAN_LEG
            if leg.ride is None:
                self._legs.pop(0)
        elif status is OpStatus.FAILED:
            self.status, self.reason = OpStatus.FAILED, f"navigation failed: {self._attempt.reason}"

    def _ride(self, now_s: float) -> None:
        assert self._legs and self._legs[0].ride is not None
        route = self._legs[0].ride
        if self._attempt is None:
            lifts = self.devices.find(LiftCaller)
            assert lifts is not None
            self._attempt = Attempts(
                f"lift {route.lift}", lambda: lifts.start_ride(route), timeout_s=self.settings.lift_timeout_s,
                max_attempts=self.settings.lift_attempts, retry_wait_s=self.settings.nav_retry_wait_s,
            )
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._attempt = None
            self.lifts_ridden.append(route.lift)
            self._legs.pop(0)
            self._phase = _Phase.PLAN_LEG
        elif status is OpStatus.FAILED:
            self.status, self.reason = OpStatus.FAILED, f"lift {route.lift} ride failed: {self._attempt.reason}"
