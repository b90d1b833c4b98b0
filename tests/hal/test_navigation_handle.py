"""`NavigationGoalHandle`, the goal bookkeeping the simulated navigator and the Nav2 adapter
share: the navigator sets the outcome, `poll()` reports it, and the first ending sticks."""

from __future__ import annotations

from hal.geometry import Pose2D
from hal.handle import HandleStatus
from hal.navigation_handle import NavigationGoalHandle
from hal.navigator import NavigationFeedback, NavigationResult

RESULT = NavigationResult(Pose2D(1.0, 2.0, 0.0), 3.0, 4.0)


def test_success_carries_the_result_and_feedback() -> None:
    handle = NavigationGoalHandle()
    assert handle.poll() is HandleStatus.RUNNING and handle.result is None
    handle.set_feedback(NavigationFeedback(2.5, Pose2D(0.0, 0.0, 0.0), 1.0))
    handle.succeed(RESULT)
    assert handle.poll() is HandleStatus.SUCCEEDED and handle.status is HandleStatus.SUCCEEDED
    assert handle.result == RESULT and handle.error is None
    assert handle.feedback is not None and handle.feedback.distance_remaining_m == 2.5


def test_the_first_ending_sticks() -> None:
    cancelled = NavigationGoalHandle()
    cancelled.cancel()
    cancelled.succeed(RESULT)
    cancelled.fail("late")
    assert cancelled.poll() is HandleStatus.CANCELLED and cancelled.result is None and cancelled.error is None

    failed = NavigationGoalHandle()
    failed.fail("stuck")
    failed.cancel()
    failed.succeed(RESULT)
    assert failed.poll() is HandleStatus.FAILED and failed.error == "stuck" and failed.result is None


def test_an_error_is_kept_only_on_failure() -> None:
    handle = NavigationGoalHandle()
    handle.finish(HandleStatus.CANCELLED, error="cancelled by the server")
    assert handle.poll() is HandleStatus.CANCELLED and handle.error is None
