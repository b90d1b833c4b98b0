"""Simulated navigator: plans on the world's route graph and follows the path by pure pursuit.

It never drives the body: each tick it states its wish in `velocity_request()`, which the robot
routes through the safety supervisor to the drive base (so e-stop, watchdog and zone limits
apply). Reaching the goal's position (within `goal_tolerance_m`) it turns to the goal's yaw.
"""

from __future__ import annotations

import difflib
import itertools
import math
from dataclasses import dataclass

from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth
from hal.geometry import Pose2D, Twist2D, wrap_angle_rad
from hal.navigation_handle import NavigationGoalHandle
from hal.navigator import NavigationFeedback, NavigationGoal, NavigationHandle, NavigationResult, Navigator
from hal.registry import BuildContext, DeviceConfig
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.routes import NoRoute

_PROGRESS_M = 0.1  # remaining distance must shrink by this much to count as progress


class SimNavigatorConfig(DeviceConfig):
    max_speed_mps: float = 0.8
    max_angular_radps: float = 1.0
    max_decel_mps2: float = 0.4
    lookahead_m: float = 0.5
    goal_tolerance_m: float = 0.25
    yaw_tolerance_rad: float = 0.2
    stuck_timeout_s: float = 30.0
    goal_timeout_s: float | None = None  # None: 120 s + 4 × the path's length at max speed


@dataclass
class _Goal:
    handle: NavigationGoalHandle
    name: str
    path: list[tuple[float, float]]  # from the start position to the goal position
    yaw_rad: float
    start_s: float
    start_distance_m: float
    deadline_s: float
    segment: int = 0
    aligning: bool = False
    best_remaining_m: float = math.inf
    stalled_s: float = 0.0  # time commanded to move without progress
    last_step_s: float | None = None


def _polyline_length(points: list[tuple[float, float]]) -> float:
    return sum(math.dist(a, b) for a, b in itertools.pairwise(points))


class SimNavigator(Navigator):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimNavigatorConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self._goal: _Goal | None = None
        self._request: Twist2D | None = None

    def known_places(self) -> list[str]:
        return sorted(self.sim.env.world.places)

    def health(self) -> DeviceHealth:
        return self.sim.health()

    def close(self) -> None:
        self.cancel()
        self._request = None
        super().close()

    # -- goals ---------------------------------------------------------------------------------

    def start_go_to(self, goal: NavigationGoal) -> NavigationHandle:
        self._require_open()
        world = self.sim.env.world
        if goal.place is not None and goal.place not in world.places:
            close = difflib.get_close_matches(goal.place, list(world.places), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise DeviceError(self.name, f"unknown place {goal.place!r}{hint}")
        self.cancel()
        handle = NavigationGoalHandle()
        now_s = self.clock.now_s()
        pose = self.sim.body.pose
        target = world.places[goal.place].pose if goal.place is not None else goal.pose
        assert target is not None
        fault = self.sim.fault()
        if fault is not None:
            handle.fail(f"device fault: {fault}")
            return handle
        try:
            waypoints = self._plan(pose, goal, target)
        except NoRoute as exc:
            handle.fail(f"no route to {goal.describe()}: {exc}")
            return handle
        path = [(pose.x_m, pose.y_m), *waypoints]
        length = _polyline_length(path)
        timeout = self.config.goal_timeout_s
        if timeout is None:
            timeout = 120.0 + 4.0 * length / self.config.max_speed_mps
        self._goal = _Goal(
            handle,
            goal.describe(),
            path,
            target.yaw_rad,
            now_s,
            self.sim.body.distance_travelled_m,
            now_s + timeout,
            best_remaining_m=length,
        )
        handle.set_feedback(NavigationFeedback(length, pose, now_s))
        return handle

    def _plan(self, pose: Pose2D, goal: NavigationGoal, target: Pose2D) -> list[tuple[float, float]]:
        world = self.sim.env.world
        if goal.place is not None:
            return list(world.routes.plan(pose.x_m, pose.y_m, goal.place, pose.level))
        # A pose: along the route graph to the place nearest it, then straight to the pose.
        near = world.nearest_place(target.x_m, target.y_m, level=target.level)
        if near is None:
            return [(target.x_m, target.y_m)]
        return [*world.routes.plan(pose.x_m, pose.y_m, near.name, pose.level), (target.x_m, target.y_m)]

    def cancel(self) -> None:
        """Cancel the current goal, if any; the navigator asks for a stop on its next step."""
        if self._goal is not None:
            self._goal.handle.cancel()

    def velocity_request(self) -> Twist2D | None:
        if self._goal is not None and self._goal.handle.status.done:
            return Twist2D.zero()
        return self._request

    # -- the controller --------------------------------------------------------------------------

    def step(self, now_s: float) -> None:
        goal = self._goal
        if goal is None:
            self._request = None
            return
        if not goal.handle.status.done:
            self._request = self._control(goal, now_s)
        if goal.handle.status.done:  # finished, failed or cancelled: stop once, then go idle
            self._goal = None
            self._request = Twist2D.zero()

    def _finish(self, goal: _Goal, now_s: float) -> None:
        body = self.sim.body
        goal.handle.succeed(
            NavigationResult(body.pose, body.distance_travelled_m - goal.start_distance_m, now_s - goal.start_s)
        )

    def _control(self, goal: _Goal, now_s: float) -> Twist2D:
        cfg = self.config
        body = self.sim.body
        pose = body.pose
        fault = self.sim.fault()
        if fault is not None:
            goal.handle.fail(f"device fault: {fault}")
            return Twist2D.zero()
        dt_s = 0.0 if goal.last_step_s is None else max(0.0, now_s - goal.last_step_s)
        goal.last_step_s = now_s
        remaining = self._remaining_m(goal, pose)
        goal.handle.set_feedback(NavigationFeedback(remaining, pose, now_s))
        if now_s >= goal.deadline_s:
            goal.handle.fail(f"timed out after {now_s - goal.start_s:.0f} s, {remaining:.1f} m short of {goal.name}")
            return Twist2D.zero()
        if remaining < goal.best_remaining_m - _PROGRESS_M or goal.aligning:
            goal.best_remaining_m = min(goal.best_remaining_m, remaining)
            goal.stalled_s = 0.0
        elif not body.commanded.is_zero:
            goal.stalled_s += dt_s
            if goal.stalled_s >= cfg.stuck_timeout_s:
                goal.handle.fail(f"stuck: no progress for {goal.stalled_s:.0f} s, {remaining:.1f} m from {goal.name}")
                return Twist2D.zero()

        gx, gy = goal.path[-1]
        if not goal.aligning and math.hypot(gx - pose.x_m, gy - pose.y_m) <= cfg.goal_tolerance_m:
            goal.aligning = True
        if goal.aligning:
            error = wrap_angle_rad(goal.yaw_rad - pose.yaw_rad)
            if abs(error) <= cfg.yaw_tolerance_rad:
                self._finish(goal, now_s)
                return Twist2D.zero()
            w = max(-cfg.max_angular_radps, min(cfg.max_angular_radps, 1.5 * error))
            return Twist2D(0.0, math.copysign(max(abs(w), 0.25), error))

        tx, ty = self._carrot(goal, pose)
        alpha = wrap_angle_rad(math.atan2(ty - pose.y_m, tx - pose.x_m) - pose.yaw_rad)
        if abs(alpha) > 0.7:  # face the path first: turning on the spot keeps off the walls
            return Twist2D(0.0, math.copysign(cfg.max_angular_radps, alpha))
        world = self.sim.env.world
        v = min(
            cfg.max_speed_mps,
            world.speed_limit_at_mps(pose.x_m, pose.y_m, pose.level),
            math.sqrt(2 * cfg.max_decel_mps2 * remaining) + 0.05,
        ) * max(0.0, math.cos(alpha))
        lookahead = max(math.hypot(tx - pose.x_m, ty - pose.y_m), 1e-6)
        w = v * 2.0 * math.sin(alpha) / lookahead if v > 0.05 else 2.0 * alpha
        return Twist2D(v, max(-cfg.max_angular_radps, min(cfg.max_angular_radps, w)))

    def _project(self, goal: _Goal, pose: Pose2D) -> tuple[int, float]:
        """Advance past finished segments; return (segment, fraction along it) of the projection."""
        while True:
            (ax, ay), (bx, by) = goal.path[goal.segment], goal.path[goal.segment + 1]
            dx, dy = bx - ax, by - ay
            seg2 = dx * dx + dy * dy
            t = 1.0 if seg2 == 0 else ((pose.x_m - ax) * dx + (pose.y_m - ay) * dy) / seg2
            last = goal.segment + 2 >= len(goal.path)
            near_end = math.hypot(bx - pose.x_m, by - pose.y_m) < self.config.lookahead_m * 0.5
            if last or (t < 1.0 and not near_end):
                return goal.segment, min(1.0, max(0.0, t))
            goal.segment += 1

    def _remaining_m(self, goal: _Goal, pose: Pose2D) -> float:
        if len(goal.path) < 2:
            return math.hypot(goal.path[-1][0] - pose.x_m, goal.path[-1][1] - pose.y_m)
        seg, _ = self._project(goal, pose)
        return math.hypot(goal.path[seg + 1][0] - pose.x_m, goal.path[seg + 1][1] - pose.y_m) + _polyline_length(
            goal.path[seg + 1 :]
        )

    def _carrot(self, goal: _Goal, pose: Pose2D) -> tuple[float, float]:
        """The point `lookahead_m` ahead along the path from the robot's projection on it."""
        if len(goal.path) < 2:
            return goal.path[-1]
        seg, t = self._project(goal, pose)
        (ax, ay), (bx, by) = goal.path[seg], goal.path[seg + 1]
        px, py = ax + (bx - ax) * t, ay + (by - ay) * t
        budget = self.config.lookahead_m
        points = [(px, py), *goal.path[seg + 1 :]]
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            d = math.hypot(x1 - x0, y1 - y0)
            if d >= budget and d > 0:
                return x0 + (x1 - x0) * budget / d, y0 + (y1 - y0) * budget / d
            budget -= d
        return goal.path[-1]


def build(name: str, config: SimNavigatorConfig, ctx: BuildContext) -> SimNavigator:
    env, body = sim_context(ctx)
    return SimNavigator(name, ctx.clock, env, body, config)
