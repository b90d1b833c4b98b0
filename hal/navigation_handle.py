"""The goal bookkeeping every navigator backend shares: a navigation handle whose outcome the
navigator sets, from its own controller (the simulated navigator) or from action callbacks (the
Nav2 adapter). `poll()` only reports; the first ending sticks, so a late result never revives a
goal that was cancelled or has failed."""

from __future__ import annotations

from hal.handle import Handle, HandleStatus
from hal.navigator import NavigationFeedback, NavigationResult


class NavigationGoalHandle(Handle[NavigationResult, NavigationFeedback]):
    """One navigation goal, driven by its navigator."""

    def __init__(self) -> None:
        self._status = HandleStatus.RUNNING
        self._feedback: NavigationFeedback | None = None
        self._result: NavigationResult | None = None
        self._error: str | None = None

    @property
    def status(self) -> HandleStatus:
        return self._status

    def poll(self) -> HandleStatus:
        return self._status

    @property
    def feedback(self) -> NavigationFeedback | None:
        return self._feedback

    @property
    def result(self) -> NavigationResult | None:
        return self._result

    @property
    def error(self) -> str | None:
        return self._error

    def cancel(self) -> None:
        self.finish(HandleStatus.CANCELLED)

    def set_feedback(self, feedback: NavigationFeedback) -> None:
        self._feedback = feedback

    def succeed(self, result: NavigationResult) -> None:
        self.finish(HandleStatus.SUCCEEDED, result=result)

    def fail(self, error: str) -> None:
        self.finish(HandleStatus.FAILED, error=error)

    def finish(self, status: HandleStatus, *, result: NavigationResult | None = None, error: str | None = None) -> None:
        """End the goal with `status` unless it has ended already; a result is kept only on
        success and an error only on failure (as the `Handle` contract says)."""
        if self._status is not HandleStatus.RUNNING or status is HandleStatus.RUNNING:
            return
        self._status = status
        self._result = result if status is HandleStatus.SUCCEEDED else None
        self._error = error if status is HandleStatus.FAILED else None
