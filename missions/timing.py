"""Waiting without blocking: deadlines on the injected clock, bounded retries, and `Attempts`,
which runs one device operation (a handle) with a per-attempt deadline and a retry budget, one
tick at a time. Nothing here sleeps or starts a thread (transitions' `Timeout` state would)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from hal.device import DeviceError
from hal.handle import Handle, HandleStatus
from hal.navigator import NavigationGoal, Navigator

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Deadline:
    """A point in time on the mission's clock after which a wait has failed."""

    due_s: float

    @classmethod
    def after(cls, now_s: float, duration_s: float) -> Deadline:
        if duration_s < 0:
            raise ValueError(f"a deadline cannot be in the past (duration_s={duration_s})")
        return cls(now_s + duration_s)

    def expired(self, now_s: float) -> bool:
        return now_s >= self.due_s

    def remaining_s(self, now_s: float) -> float:
        return max(0.0, self.due_s - now_s)


class RetryBudget:
    """At most `max_attempts` tries of one thing (the first try counts)."""

    def __init__(self, max_attempts: int) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.max_attempts = max_attempts
        self.used = 0

    def take(self) -> bool:
        """Use one attempt; False when none is left."""
        if self.used >= self.max_attempts:
            return False
        self.used += 1
        return True

    @property
    def exhausted(self) -> bool:
        return self.used >= self.max_attempts


class OpStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Attempts(Generic[T]):
    """One device operation, retried within a budget, each attempt bounded by a deadline.

    `poll(now_s)` starts the first attempt, polls the handle, and on a failure (the handle FAILED
    or was CANCELLED under us, a `DeviceError` from `start`, or the attempt's deadline passed —
    then the handle is cancelled) waits `retry_wait_s` and starts again, until the budget is spent.
    """

    def __init__(
        self,
        what: str,
        start: Callable[[], Handle[T, Any]],
        *,
        timeout_s: float,
        max_attempts: int,
        retry_wait_s: float = 0.0,
    ) -> None:
        self.what = what
        self._start = start
        self.timeout_s = timeout_s
        self.budget = RetryBudget(max_attempts)
        self.retry_wait_s = retry_wait_s
        self._handle: Handle[T, Any] | None = None
        self._deadline: Deadline | None = None
        self._next_try: Deadline | None = None
        self.status = OpStatus.RUNNING
        self.result: T | None = None
        self.reason: str | None = None  # why the last attempt failed (the final reason once FAILED)

    @property
    def handle(self) -> Handle[T, Any] | None:
        return self._handle

    def poll(self, now_s: float) -> OpStatus:
        if self.status is not OpStatus.RUNNING:
            return self.status
        if self._handle is None:
            if self._next_try is not None and not self._next_try.expired(now_s):
                return self.status
            self._start_attempt(now_s)
            if self._handle is None:  # start itself failed
                return self.status
        assert self._handle is not None and self._deadline is not None
        handle_status = self._handle.poll()
        if handle_status is HandleStatus.SUCCEEDED:
            self.status, self.result = OpStatus.SUCCEEDED, self._handle.result
            self._handle = None
        elif handle_status in (HandleStatus.FAILED, HandleStatus.CANCELLED):
            self._attempt_failed(now_s, self._handle.error or f"{self.what} {handle_status.value}")
        elif self._deadline.expired(now_s):
            self._handle.cancel()
            self._attempt_failed(now_s, f"{self.what} timed out after {self.timeout_s:g} s")
        return self.status

    def cancel(self) -> None:
        """Cancel the attempt in flight (the caller decides what happens next)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _start_attempt(self, now_s: float) -> None:
        if not self.budget.take():  # pragma: no cover - _attempt_failed ends before this
            self.status = OpStatus.FAILED
            return
        try:
            self._handle = self._start()
        except DeviceError as exc:
            self._attempt_failed(now_s, exc.reason)
            return
        self._deadline = Deadline.after(now_s, self.timeout_s)

    def _attempt_failed(self, now_s: float, reason: str) -> None:
        self._handle = None
        self.reason = reason
        if self.budget.exhausted:
            self.status = OpStatus.FAILED
            self.reason = f"{reason} (after {self.budget.used} attempt{'s' if self.budget.used > 1 else ''})"
        else:
            self._next_try = Deadline.after(now_s, self.retry_wait_s)


def navigation_attempts(
    navigator: Navigator, place: str, *, timeout_s: float, max_attempts: int, retry_wait_s: float
) -> Attempts[Any]:
    """Drive to a named place, with a deadline per try and bounded retries (the commonest wait)."""
    goal = NavigationGoal(place=place)
    return Attempts(f"navigation to {place}", lambda: navigator.start_go_to(goal), timeout_s=timeout_s,
                    max_attempts=max_attempts, retry_wait_s=retry_wait_s)
