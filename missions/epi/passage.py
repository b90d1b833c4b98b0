"""Passing an isolation anteroom, one action at a time: open a door, drive, close a door.

The anteroom rule — its two doors are never open at once — is asserted here as well as in the
door controller: a door is opened only after the other door of its anteroom has been read back
CLOSED, and a door counts as closed only when the controller reports it so after the close.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hal.door_controller import DoorController, partner_door
from hal.navigator import Navigator
from missions.timing import Attempts, OpStatus, navigation_attempts


class InterlockViolation(Exception):
    """The mission was about to open a door while the other one of its anteroom was not closed."""


@dataclass(frozen=True, slots=True)
class Action:
    verb: str  # "open", "close" or "go"
    target: str  # door id or place name

    def describe(self) -> str:
        return f"{self.verb} {self.target}"


@dataclass(frozen=True, slots=True)
class Timing:
    door_timeout_s: float
    door_attempts: int
    nav_timeout_s: float
    nav_attempts: int
    retry_wait_s: float


class Passage:
    """Runs `actions` in order. `poll()` → "running", "done", or raises with a reason. `position`
    survives a pause (the interrupted action is re-issued; opening or closing twice is harmless)."""

    def __init__(self, actions: list[Action], doors: DoorController, navigator: Navigator, timing: Timing,
                 on_action: Callable[[Action], None] | None = None) -> None:
        self.actions = actions
        self.position = 0
        self._doors = doors
        self._nav = navigator
        self._timing = timing
        self._attempt: Attempts[Any] | None = None
        self._on_action = on_action

    @property
    def current(self) -> Action | None:
        return self.actions[self.position] if self.position < len(self.actions) else None

    def interrupt(self) -> None:
        if self._attempt is not None:
            self._attempt.cancel()
            self._attempt = None

    cancel = interrupt  # the mission keeps a passage as its operation in flight

    def poll(self, now_s: float) -> str:
        while self.position < len(self.actions):
            action = self.actions[self.position]
            if self._attempt is None:
                if self._on_action is not None:
                    self._on_action(action)
                self._attempt = self._start(action)
            status = self._attempt.poll(now_s)
            if status is OpStatus.RUNNING:
                return "running"
            attempt, self._attempt = self._attempt, None
            if status is OpStatus.FAILED:
                raise PassageFailed(f"{action.describe()} failed: {attempt.reason}")
            if action.verb == "close" and not self._doors.state(action.target).closed:
                raise PassageFailed(f"{action.target} not confirmed closed "
                                    f"({self._doors.state(action.target).state.value})")
            self.position += 1
        return "done"

    def _start(self, action: Action) -> Attempts[Any]:
        t = self._timing
        if action.verb == "go":
            return navigation_attempts(self._nav, action.target, timeout_s=t.nav_timeout_s,
                                       max_attempts=t.nav_attempts, retry_wait_s=t.retry_wait_s)
        door = action.target
        if action.verb == "open":
            self.assert_partner_closed(door)
            return Attempts(f"opening {door}", lambda: self._open_checked(door), timeout_s=t.door_timeout_s,
                            max_attempts=t.door_attempts, retry_wait_s=t.retry_wait_s)
        return Attempts(f"closing {door}", lambda: self._doors.start_close(door), timeout_s=t.door_timeout_s,
                        max_attempts=t.door_attempts, retry_wait_s=t.retry_wait_s)

    def _open_checked(self, door: str) -> Any:
        self.assert_partner_closed(door)  # again at every attempt: the partner may have moved since
        return self._doors.start_open(door)

    def assert_partner_closed(self, door: str) -> None:
        partner = partner_door(self._doors.anterooms(), door)
        if partner is not None and not self._doors.state(partner).closed:
            raise InterlockViolation(
                f"not opening {door}: {partner} is {self._doors.state(partner).state.value}, not closed")


class PassageFailed(Exception):
    pass
