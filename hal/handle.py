"""Handles for long operations: start returns at once, then poll / feedback / result / cancel.

The shape of a ROS 2 action and of Nav2's navigator, so missions never block a tick.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
F = TypeVar("F")
NowFn = Callable[[], float]


class HandleStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        return self is not HandleStatus.RUNNING


class Handle(ABC, Generic[T, F]):
    """One long-running device operation."""

    @abstractmethod
    def poll(self) -> HandleStatus:
        """Advance (non-blocking) and return the status."""

    @property
    @abstractmethod
    def feedback(self) -> F | None:
        """Latest progress, if any."""

    @property
    @abstractmethod
    def result(self) -> T | None:
        """The result once SUCCEEDED, else None."""

    @property
    @abstractmethod
    def error(self) -> str | None:
        """Why it FAILED, else None."""

    @abstractmethod
    def cancel(self) -> None:
        """Request cancellation; status becomes CANCELLED (at once or on a later poll)."""


class DrivenHandle(Handle[T, F]):
    """A handle whose owner decides its outcome (a controller, action callbacks, a device model):
    the owner calls `set_feedback`, `succeed` or `fail`; `poll()` only reports. The first ending
    sticks, so a late result never revives an operation that was cancelled or has failed."""

    def __init__(self) -> None:
        self._status = HandleStatus.RUNNING
        self._feedback: F | None = None
        self._result: T | None = None
        self._error: str | None = None

    @property
    def status(self) -> HandleStatus:
        return self._status

    def poll(self) -> HandleStatus:
        return self._status

    @property
    def feedback(self) -> F | None:
        return self._feedback

    @property
    def result(self) -> T | None:
        return self._result

    @property
    def error(self) -> str | None:
        return self._error

    def cancel(self) -> None:
        self.finish(HandleStatus.CANCELLED)

    def set_feedback(self, feedback: F) -> None:
        self._feedback = feedback

    def succeed(self, result: T) -> None:
        self.finish(HandleStatus.SUCCEEDED, result=result)

    def fail(self, error: str) -> None:
        self.finish(HandleStatus.FAILED, error=error)

    def finish(self, status: HandleStatus, *, result: T | None = None, error: str | None = None) -> None:
        """End with `status` unless ended already; a result is kept only on success and an error
        only on failure (as the `Handle` contract says)."""
        if self._status is not HandleStatus.RUNNING or status is HandleStatus.RUNNING:
            return
        self._status = status
        self._result = result if status is HandleStatus.SUCCEEDED else None
        self._error = error if status is HandleStatus.FAILED else None


class ResolvedHandle(DrivenHandle[T, F]):
    """A handle whose outcome is decided by its owner at a given time (used by simulated and
    polled backends): `succeed_at(t, ...)` / `fail_at(t, ...)`, then it ends on the first poll at
    or after t."""

    def __init__(self, now_fn: NowFn) -> None:
        super().__init__()
        self._now = now_fn
        self._due_s: float | None = None
        self._pending_result: T | None = None
        self._pending_error: str | None = None

    def succeed_at(self, due_s: float, result: T) -> None:
        self._due_s, self._pending_result, self._pending_error = due_s, result, None

    def fail_at(self, due_s: float, error: str) -> None:
        self._due_s, self._pending_result, self._pending_error = due_s, None, error

    def poll(self) -> HandleStatus:
        if self._status is HandleStatus.RUNNING and self._due_s is not None and self._now() >= self._due_s:
            if self._pending_error is not None:
                self.fail(self._pending_error)
            else:
                self.finish(HandleStatus.SUCCEEDED, result=self._pending_result)
        return self._status
