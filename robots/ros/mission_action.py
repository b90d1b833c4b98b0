"""The `run_mission` action and the operator services, translated onto `Robot` calls.

Everything runs on the node's single-threaded executor: the action's execute coroutine awaits a
future that the tick resolves when the mission's terminal event arrives, so the `Robot` is never
touched from two threads and nothing blocks a tick.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from medbot_interfaces.action import RunMission
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.task import Future
from std_srvs.srv import Trigger

from missions import events as ev
from robots.robot import Robot
from robots.ros.convert import parse_params_json

if TYPE_CHECKING:
    from rclpy.node import Node

_OUTCOME = {ev.MISSION_SUCCEEDED: "succeeded", ev.MISSION_FAILED: "failed", ev.MISSION_CANCELLED: "cancelled"}
DEFAULT_PRIORITY = 50


@dataclass
class _Waiting:
    goal: ServerGoalHandle
    future: Future
    cancel_sent: bool = False
    last_feedback: tuple[str, str, float] | None = None


@dataclass
class _Outcome:
    outcome: str
    reason: str
    data: dict[str, Any] = field(default_factory=dict)


class MissionInterface:
    """Action server + services for one robot; created on configure, destroyed on cleanup."""

    def __init__(self, node: Node, robot: Robot) -> None:
        self._node = node
        self._robot = robot
        self._outcomes: dict[str, _Outcome] = {}
        self._waiting: dict[str, _Waiting] = {}
        self._active = False
        robot.add_listener(self._on_event)
        self._action = ActionServer(
            node, RunMission, "run_mission", execute_callback=self._execute,
            goal_callback=self._on_goal, cancel_callback=lambda _goal: CancelResponse.ACCEPT,
        )
        self._services = [
            node.create_service(Trigger, name, callback)
            for name, callback in (
                ("pause", self._pause), ("resume", self._resume), ("cancel", self._cancel),
                ("return_to_dock", self._return_to_dock), ("estop", self._estop), ("reset_estop", self._reset_estop),
            )
        ]

    def set_active(self, active: bool) -> None:
        """Goals and commands are refused unless the node is active (the tick is running)."""
        self._active = active

    def destroy(self, reason: str) -> None:
        for waiting in self._waiting.values():
            if not waiting.future.done():
                waiting.future.set_result(_Outcome("failed", reason))
        self._action.destroy()
        for service in self._services:
            self._node.destroy_service(service)

    # ---- the action -------------------------------------------------------------------------

    def _on_goal(self, _request: Any) -> GoalResponse:
        return GoalResponse.ACCEPT if self._active else GoalResponse.REJECT

    async def _execute(self, goal: ServerGoalHandle) -> Any:
        request = goal.request
        try:
            kind = request.kind
            if kind not in self._robot.config.capabilities:
                raise ValueError(f"robot {self._robot.identity.robot_id} cannot run {kind!r} "
                                 f"(capabilities: {', '.join(self._robot.config.capabilities)})")
            mission_id = self._robot.dispatch(
                kind, parse_params_json(request.params_json),
                priority=request.priority or DEFAULT_PRIORITY, mission_id=request.mission_id or None,
            )
        except (ValueError, LookupError) as exc:  # bad kind, bad params, reused id: nothing was queued
            goal.abort()
            return _result("", _Outcome("rejected", str(exc)))
        outcome = self._outcomes.get(mission_id) or _finished_before(self._robot, mission_id)
        if outcome is None:
            waiting = _Waiting(goal, Future())
            self._waiting[mission_id] = waiting
            outcome = cast(_Outcome, await waiting.future)
            self._waiting.pop(mission_id, None)
        if outcome.outcome == "succeeded":
            goal.succeed()
        elif outcome.outcome == "cancelled" and goal.is_cancel_requested:
            goal.canceled()
        else:
            goal.abort()
        return _result(mission_id, outcome)

    def on_tick(self) -> None:
        """After each robot tick: pass cancel requests on, resolve finished goals, send feedback."""
        for mission_id, waiting in list(self._waiting.items()):
            if waiting.future.done():
                continue
            if waiting.goal.is_cancel_requested and not waiting.cancel_sent:
                waiting.cancel_sent = True
                with contextlib.suppress(LookupError):  # finished meanwhile: its outcome stands
                    self._robot.cancel(mission_id)
            outcome = self._outcomes.get(mission_id)
            if outcome is not None:
                waiting.future.set_result(outcome)
                continue
            self._feedback(mission_id, waiting)

    def _feedback(self, mission_id: str, waiting: _Waiting) -> None:
        runner = self._robot.runner
        current = runner.current
        if current is not None and current.mission_id == mission_id:
            described = current.describe()
            state = "paused" if runner.paused or described["state"] == "paused" else "running"
            step, progress = str(described["step"]), float(described["progress_fraction"])
        else:
            state, step, progress = "queued", "", 0.0
        if waiting.last_feedback == (state, step, progress):
            return  # feedback on change only: a long wait is not a stream of identical messages
        waiting.last_feedback = (state, step, progress)
        feedback = RunMission.Feedback(mission_id=mission_id, state=state, step=step, progress_fraction=progress)
        waiting.goal.publish_feedback(feedback)

    def _on_event(self, event: ev.MissionEvent) -> None:
        outcome = _OUTCOME.get(event.kind)
        if outcome is not None:
            self._outcomes[event.mission_id] = _Outcome(outcome, event.reason or "", dict(event.data))

    # ---- services ---------------------------------------------------------------------------

    def _guarded(self, response: Trigger.Response, action: Any) -> Trigger.Response:
        if not self._active:
            response.success, response.message = False, "robot node is not active"
            return response
        try:
            response.success, response.message = action()
        except (ValueError, LookupError, RuntimeError) as exc:
            response.success, response.message = False, str(exc)
        return response

    def _pause(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        def pause() -> tuple[bool, str]:
            self._robot.pause()
            return True, "paused"
        return self._guarded(res, pause)

    def _resume(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        def resume() -> tuple[bool, str]:
            self._robot.resume()
            return True, "resumed"
        return self._guarded(res, resume)

    def _cancel(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        def cancel() -> tuple[bool, str]:
            current = self._robot.runner.current
            if current is None:
                return False, "no mission is running"
            self._robot.cancel(current.mission_id)
            return True, current.mission_id
        return self._guarded(res, cancel)

    def _return_to_dock(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        return self._guarded(res, lambda: (True, self._robot.return_to_dock()))

    def _estop(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        # an e-stop is honoured in every state, active or not: safety never waits for a lifecycle
        self._robot.remote_estop("ros service")
        res.success, res.message = True, "e-stop latched"
        return res

    def _reset_estop(self, _req: Trigger.Request, res: Trigger.Response) -> Trigger.Response:
        return self._guarded(res, lambda: self._robot.reset_estop(by="ros service"))


def _finished_before(robot: Robot, mission_id: str) -> _Outcome | None:
    """An order re-sent for a mission that already ended here: answer with how it ended."""
    for result in reversed(robot.runner.history):
        if result.mission_id == mission_id:
            return _Outcome(result.outcome, result.reason or "", dict(result.data))
    return None


def _result(mission_id: str, outcome: _Outcome) -> Any:
    return RunMission.Result(mission_id=mission_id, outcome=outcome.outcome, reason=outcome.reason,
                             data_json=json.dumps(outcome.data, sort_keys=True, default=str))
