"""Simulated navigator: plans on the world's route graph and follows the path by pure pursuit.

It never drives the body: each tick it states its wish in `velocity_request()`, which the robot
routes through the safety supervisor to the drive base (so e-stop, watchdog and zone limits
apply). Reaching the goal's position (within `goal_tolerance_m`) it turns to the goal's yaw.

Other robots and people on the path ahead (the environment's ground truth, as Nav2 reads its
costmap) slow it and stop it short of them (`sim.local_planner`). Blocked for `detour_after_s`
it tries a lateral detour through free space, then a re-plan on the route graph avoiding the
blocked edge, then detours again as the blockage changes; waiting is not being stuck, but every
wait is bounded by `blocked_timeout_s`. Fire doors shut by the alarm are planned round, also for
a goal under way (`sim.devices.navigator_doors`).

`route_nodes()` and `hold_at(node)` are the traffic-reservation hook: held, the robot stops
`HOLD_SHORT_M` before that node of its plan as at an intermediate goal (the node itself stays
free for a robot coming out of the resource) and neither its goal timeout nor its stuck timer runs
until `hold_at(None)`.
"""

from __future__ import annotations

import difflib
import math

from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth
from hal.geometry import Pose2D, Twist2D, wrap_angle_rad
from hal.navigation_handle import NavigationGoalHandle
from hal.navigator import NavigationFeedback, NavigationGoal, NavigationHandle, NavigationResult, Navigator
from hal.registry import BuildContext, DeviceConfig
from sim import local_planner, path_following
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.devices.navigator_detours import BACK_OFF_AFTER_S, Detours
from sim.devices.navigator_doors import ShutDoors
from sim.environment import SimEnvironment
from sim.obstacles import ROBOT, Obstacle
from sim.path_following import Goal, polyline_length
from sim.routes import NoRoute

#: a held robot stops this far short of its hold point: the hold point is a shared resource's
#: doorstep (a door's end node, the node before a lift lobby), and a robot coming out of the
#: resource must be able to step onto it and pass — not find the waiting robot standing there
HOLD_SHORT_M = 1.2
_PROGRESS_M = 0.1  # remaining distance must shrink by this much to count as progress
_MAX_DETOURS = 2  # detour attempts per blockage before re-planning on the route graph
_MAX_REPLANS = 2  # ... after which it tries detours again, every `detour_after_s` until it times out
#: stopped for what stands straight ahead, a robot that would turn towards its path slower than
#: this faces it already: it is waiting for that obstacle, not turning
WEDGED_TURN_RADPS = 0.05


class SimNavigatorConfig(DeviceConfig):
    max_speed_mps: float = 0.8
    max_angular_radps: float = 1.0
    max_decel_mps2: float = 0.4
    lookahead_m: float = 0.5  # the carrot's distance at walking pace and below
    #: faster, the carrot is this many seconds of travel ahead (regulated pure pursuit): a robot
    #: that drives further in a control period than its carrot is ahead weaves across the corridor
    lookahead_time_s: float = 1.2
    goal_tolerance_m: float = 0.25
    yaw_tolerance_rad: float = 0.2
    stuck_timeout_s: float = 30.0
    goal_timeout_s: float | None = None  # None: 120 s + 4 × the path's length at max speed
    perception_range_m: float = 3.5  # how far ahead along the path obstacles are looked for
    detour_after_s: float = 3.0  # stopped for an obstacle this long: try to go round (or re-plan)
    blocked_timeout_s: float = 120.0  # stopped for obstacles this long without progress: fail


class SimNavigator(Detours, Navigator):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimNavigatorConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self._goal: Goal | None = None
        self._request: Twist2D | None = None
        self._hold_node: str | None = None
        self._holding = False
        self._waiting_for: str | None = None  # what the environment was last told this robot waits for
        self._near: list[Obstacle] = []  # obstacles near this tick (for the arc check)
        self._shut = ShutDoors(env)  # fire doors shut by the alarm: planned round (sim/devices/navigator_doors.py)

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
        shut = self._shut.now()
        try:
            waypoints = self._plan(pose, goal, target, shut)
        except NoRoute as exc:
            handle.fail(f"no route to {goal.describe()}: {exc}")
            return handle
        grid = self.sim.env.inflated_grid(pose.level, self.sim.body.radius_m + 0.05)
        path = local_planner.skip_turn_back([(pose.x_m, pose.y_m), *waypoints], grid)
        nodes = self.sim.env.world.routes.names_at(waypoints, pose.level)
        if goal.place is None:
            nodes[-1] = None  # the pose itself is not a node
        goal_node = next((n for n in reversed(nodes) if n is not None), None)
        length = polyline_length(path)
        timeout = self.config.goal_timeout_s
        if timeout is None:
            timeout = 120.0 + 4.0 * length / self.config.max_speed_mps
        self._goal = Goal(
            handle,
            goal.describe(),
            path,
            target.yaw_rad,
            now_s,
            self.sim.body.distance_travelled_m,
            now_s + timeout,
            level=pose.level,
            best_remaining_m=length,
            nodes=[None, *nodes],
            goal_node=goal_node,
            doors_shut=shut,
        )
        self._goal.corners = local_planner.corner_distances(path)
        self._set_hold_index(self._goal)
        handle.set_feedback(NavigationFeedback(length, pose, now_s))
        return handle

    # -- the traffic-reservation hook ------------------------------------------------------------

    def route_nodes(self) -> list[str]:
        """Route-graph nodes of the current plan still ahead, in order (a node held at included)."""
        goal = self._goal
        if goal is None or goal.handle.status.done:
            return []
        first = goal.segment + 1 if goal.hold_index is None else min(goal.segment + 1, goal.hold_index)
        return [n for n in goal.nodes[first:] if n is not None]

    def hold_at(self, node: str | None) -> None:
        """Stop at `node` (while it is ahead on the plan) until `hold_at(None)`."""
        self._hold_node = node
        if self._goal is not None:
            self._set_hold_index(self._goal)

    def holding(self) -> bool:
        """Whether the robot stands at its hold point."""
        return self._holding

    def blocked_by(self) -> str | None:
        """The robot this one is stopped for; None when it is not stopped for a robot (it drives,
        holds for a reservation, or waits for a person)."""
        waiting = self._waiting_for
        return waiting if waiting is not None and self.sim.env.obstacles.is_robot(waiting) else None

    def _set_hold_index(self, goal: Goal) -> None:
        goal.hold_index = None
        if self._hold_node is None:
            return
        for i in range(goal.segment + 1, len(goal.nodes)):
            if goal.nodes[i] == self._hold_node:
                goal.hold_index = i
                return

    def _plan(self, pose: Pose2D, goal: NavigationGoal, target: Pose2D,
              shut: frozenset[str]) -> list[tuple[float, float]]:
        world = self.sim.env.world
        if goal.place is not None:
            return list(world.routes.plan(pose.x_m, pose.y_m, goal.place, pose.level, shut_doors=shut))
        # A pose: along the route graph to the place nearest it, then straight to the pose.
        near = world.nearest_place(target.x_m, target.y_m, level=target.level)
        if near is None:
            return [(target.x_m, target.y_m)]
        return [*world.routes.plan(pose.x_m, pose.y_m, near.name, pose.level, shut_doors=shut),
                (target.x_m, target.y_m)]

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
            self._holding = False
            self._note_waiting(None)

    def _note_waiting(self, blocker: str | None) -> None:
        if blocker != self._waiting_for:
            self._waiting_for = blocker
            self.sim.env.note_waiting(self.sim.robot_id, blocker)

    def _finish(self, goal: Goal, now_s: float) -> None:
        body = self.sim.body
        goal.handle.succeed(
            NavigationResult(body.pose, body.distance_travelled_m - goal.start_distance_m, now_s - goal.start_s)
        )

    def _control(self, goal: Goal, now_s: float) -> Twist2D:
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
        if pose.level != goal.level:
            # carried to another floor (a lift car recalled by the fire alarm with the robot in it):
            # the plan is of the floor it left, and followed here it leads through walls
            goal.handle.fail(f"the robot is now on level {pose.level}, not level {goal.level} where the way to "
                             f"{goal.name} was planned")
            return Twist2D.zero()
        shut = self._shut.now()
        if shut != goal.doors_shut and not self._round_shut_doors(goal, pose, shut, now_s):
            return Twist2D.zero()
        if now_s >= goal.deadline_s:
            goal.handle.fail(f"timed out after {now_s - goal.start_s:.0f} s, {remaining:.1f} m short of {goal.name}")
            return Twist2D.zero()
        if goal.backing_to is not None:
            return self._back_off(goal, pose)
        if remaining < goal.best_remaining_m - _PROGRESS_M or goal.aligning:
            goal.best_remaining_m = min(goal.best_remaining_m, remaining)
            goal.stalled_s = 0.0
            goal.blocked_s = goal.blocked_since_try_s = 0.0
            goal.attempts = 0
            goal.backed_off = False
        elif self._holding or self._waiting_for is not None:
            # held, or stopped for an obstacle: waiting, not stuck; the goal's clock stops too
            goal.stalled_s = 0.0
            goal.deadline_s += dt_s
        elif not body.commanded.is_zero:
            goal.stalled_s += dt_s
            if goal.stalled_s >= cfg.stuck_timeout_s:
                goal.handle.fail(f"stuck: no progress for {goal.stalled_s:.0f} s, {remaining:.1f} m from {goal.name}")
                return Twist2D.zero()

        hold_m = self._hold_distance_m(goal, pose)
        self._holding = hold_m is not None and hold_m <= cfg.goal_tolerance_m
        if self._holding:
            self._note_waiting(f"hold:{self._hold_node}")
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
        if hold_m is not None and hold_m < self._lookahead_m():
            assert goal.hold_index is not None
            tx, ty = goal.path[goal.hold_index]  # no carrot past the hold point
        alpha = wrap_angle_rad(math.atan2(ty - pose.y_m, tx - pose.x_m) - pose.yaw_rad)
        if abs(alpha) > 0.7:  # face the path first: turning on the spot keeps off the walls
            self._note_waiting(None)
            return Twist2D(0.0, self._turn_while_braking(pose, math.copysign(cfg.max_angular_radps, alpha)))
        world = self.sim.env.world
        stop_m = remaining if hold_m is None else min(remaining, hold_m)
        # the robot drives on for a control period before the next step can brake
        latency_m = abs(body.velocity.linear_mps) * dt_s
        nx_, ny_ = goal.path[goal.segment + 1]
        corner_m = math.hypot(nx_ - pose.x_m, ny_ - pose.y_m) + goal.corners[goal.segment + 1]
        v = min(
            cfg.max_speed_mps,
            world.speed_limit_at_mps(pose.x_m, pose.y_m, pose.level),
            math.sqrt(2 * cfg.max_decel_mps2 * stop_m) + 0.05,
            self._obstacle_speed_cap(goal, pose, now_s, dt_s),
            # a detour's zig-zag at walking pace: pure pursuit at full speed would cut its corners
            local_planner.SLOW_SPEED_MPS if goal.segment < goal.detour_end else math.inf,
            # slow for a sharp corner: a turn on the spot at speed coasts on past it
            local_planner.corner_cap(corner_m, cfg.max_decel_mps2, latency_m),
        ) * max(0.0, math.cos(alpha))
        if goal.handle.status.done:
            return Twist2D.zero()
        if self._near and v > 0.0:
            # and whatever it is told, it can still stop short of what stands straight ahead of it
            coast, limiting = local_planner.coast_limit(pose.x_m, pose.y_m, pose.yaw_rad, body.radius_m,
                                                        self._near, cfg.max_decel_mps2, latency_m)
            if coast <= 0.0:
                # something right ahead that the path bends round: turn towards the path first
                turn = max(-cfg.max_angular_radps, min(cfg.max_angular_radps, 2.0 * alpha))
                if abs(turn) >= WEDGED_TURN_RADPS or limiting is None:
                    return Twist2D(0.0, turn)
                # ... unless it faces the path already: then turning does nothing, and it is
                # stopped for that obstacle — it waits, goes round or times out as for one on its
                # path (as the arc check below)
                self._wedged(goal, pose, limiting, now_s, dt_s)
                return Twist2D.zero()
            v = min(v, coast)
        if v <= 0.0:
            return Twist2D.zero()
        lookahead = max(math.hypot(tx - pose.x_m, ty - pose.y_m), 1e-6)
        w = v * 2.0 * math.sin(alpha) / lookahead if v > 0.05 else 2.0 * alpha
        # at least two control periods ahead: the robot drives one before it can think again
        horizon_s = max(local_planner.ARC_HORIZON_S, 2.0 * dt_s)
        if self._near and not local_planner.arc_is_clear(pose.x_m, pose.y_m, pose.yaw_rad, v, w,
                                                         self.sim.body.radius_m, self._near, horizon_s):
            v, w = 0.0, 2.0 * alpha  # the arc it would drive now touches something: turn first
            # ... facing its path already, it waits for the nearest thing: a zero command that
            # nobody counted as a wait (no detour, no timeout) left a nurse robot at the pharmacy
            # counter nose to nose with the patrol robot for eight minutes
            if abs(w) < WEDGED_TURN_RADPS:
                nearest = min(self._near, key=lambda o: math.hypot(o.x_m - pose.x_m, o.y_m - pose.y_m))
                self._wedged(goal, pose, nearest, now_s, dt_s)
                return Twist2D.zero()
        return Twist2D(v, max(-cfg.max_angular_radps, min(cfg.max_angular_radps, w)))

    def _wedged(self, goal: Goal, pose: Pose2D, obstacle: Obstacle, now_s: float, dt_s: float) -> None:
        """Stopped for `obstacle` although the path ahead looked clear of it (it stands where the
        body would touch it on the way onto the path): a wait like any other."""
        located = local_planner.locate(self._path_ahead(goal, pose), obstacle.x_m, obstacle.y_m,
                                       self.sim.body.radius_m + obstacle.radius_m + local_planner.SIDE_MARGIN_M)
        self._wait_for(goal, pose, obstacle, located, [(obstacle, located)] if located else [], self._near,
                       now_s, dt_s)

    def _turn_while_braking(self, pose: Pose2D, w_radps: float) -> float:
        """The turn rate for a turn on the spot: a body still rolling brakes along an arc while it
        turns, and at a corner that arc can sweep its front into a person walking past beside
        the turn (a patrol robot did, at 0.45 m/s); then it brakes straight first."""
        rolling = self.sim.body.velocity.linear_mps
        if rolling <= 0.1:
            return w_radps
        near = self.sim.env.obstacles_near(pose.level, pose.x_m, pose.y_m, self.config.perception_range_m,
                                           exclude=self.sim.robot_id)
        if not near:
            return w_radps
        radius = self.sim.body.radius_m
        # braking from v at the drive's deceleration covers v²/2a: v held for v/2a
        horizon_s = rolling / (2 * self.config.max_decel_mps2)
        turning = local_planner.arc_is_clear(pose.x_m, pose.y_m, pose.yaw_rad, rolling, w_radps, radius, near,
                                             horizon_s)
        if turning or not local_planner.arc_is_clear(pose.x_m, pose.y_m, pose.yaw_rad, rolling, 0.0, radius,
                                                     near, horizon_s):
            return w_radps
        return 0.0

    def _hold_distance_m(self, goal: Goal, pose: Pose2D) -> float | None:
        """Distance along the path to where the robot holds — `HOLD_SHORT_M` before the node held
        at — or None when not holding."""
        h = goal.hold_index
        if h is None:
            return None
        hx, hy = goal.path[h]
        if h <= goal.segment + 1:
            to_node_m = math.hypot(hx - pose.x_m, hy - pose.y_m)
        else:
            nx_, ny_ = goal.path[goal.segment + 1]
            to_node_m = (math.hypot(nx_ - pose.x_m, ny_ - pose.y_m)
                         + polyline_length(goal.path[goal.segment + 1 : h + 1]))
        return max(0.0, to_node_m - HOLD_SHORT_M)

    # -- robots and people in the way --------------------------------------------------------------

    def _obstacle_speed_cap(self, goal: Goal, pose: Pose2D, now_s: float, dt_s: float) -> float:
        """The speed obstacles on the path allow (inf: none near); stopped for one, wait, go
        round it, re-plan, or fail once the wait is too long."""
        cfg = self.config
        env = self.sim.env
        me = self.sim.robot_id
        self._near = []
        if env.clearance_m(me) > cfg.perception_range_m:
            self._note_waiting(None)
            return math.inf
        near = self._near = env.obstacles_near(pose.level, pose.x_m, pose.y_m, cfg.perception_range_m, exclude=me)
        if not near:
            self._note_waiting(None)
            return math.inf
        radius = self.sim.body.radius_m
        # the robot drives on for a control period before the next step can brake
        latency_m = abs(self.sim.body.velocity.linear_mps) * dt_s
        ahead = self._path_ahead(goal, pose)
        cap = math.inf
        stopped_for: tuple[Obstacle, local_planner.Located] | None = None
        on_path: list[tuple[Obstacle, local_planner.Located]] = []
        for obstacle in near:
            located = local_planner.locate(ahead, obstacle.x_m, obstacle.y_m,
                                           radius + obstacle.radius_m + local_planner.SIDE_MARGIN_M)
            if located is None:
                continue
            if local_planner.blocking_gap_m(located, radius, obstacle) is not None:
                on_path.append((obstacle, located))
            limit = local_planner.speed_cap(located, radius, obstacle, cfg.max_decel_mps2, latency_m)
            if limit <= 0.0 and stopped_for is None:
                stopped_for = (obstacle, located)
            cap = min(cap, limit)
            if obstacle.ident < me if obstacle.kind == ROBOT else obstacle.moving:
                # crossing traffic: give way to where a robot ranked before this one is going, and
                # to where a person is walking (people give way only to a robot in front of them)
                cap = min(cap, local_planner.crossing_cap(ahead, obstacle, radius, self.sim.body.velocity.linear_mps,
                                                          cfg.max_decel_mps2, latency_m))
        if stopped_for is None:
            self._note_waiting(None)
            return cap
        obstacle, located = stopped_for
        self._wait_for(goal, pose, obstacle, located, on_path, near, now_s, dt_s)
        return 0.0

    def _wait_for(self, goal: Goal, pose: Pose2D, obstacle: Obstacle, located: local_planner.Located | None,
                  on_path: list[tuple[Obstacle, local_planner.Located]], near: list[Obstacle], now_s: float,
                  dt_s: float) -> None:
        """Stopped for `obstacle` (`located` on the path ahead, or None: straight ahead of the
        robot, off its path): count the wait; back off for a waiting person, fail once blocked too
        long, or try a detour (`on_path`: what blocks the path) or a re-plan."""
        cfg = self.config
        radius = self.sim.body.radius_m
        ahead = self._path_ahead(goal, pose)
        self._note_waiting(obstacle.ident)
        goal.blocker = obstacle.describe()
        goal.blocked_s += dt_s
        goal.blocked_since_try_s += dt_s
        if (obstacle.kind != ROBOT and obstacle.waiting and not goal.backed_off
                and goal.blocked_s >= BACK_OFF_AFTER_S):
            goal.backed_off = True
            behind = self._clear_behind(pose, near)
            if behind is not None:
                goal.backing_to = behind
                return
        if goal.blocked_s >= cfg.blocked_timeout_s:
            gx, gy = goal.path[-1]
            if math.hypot(obstacle.x_m - gx, obstacle.y_m - gy) < radius + obstacle.radius_m + cfg.goal_tolerance_m:
                what = f"{goal.name} occupied by {goal.blocker} for {goal.blocked_s:.0f} s"
            else:
                what = f"path blocked by {goal.blocker} for {goal.blocked_s:.0f} s"
            goal.handle.fail(f"{what}, {self._remaining_m(goal, pose):.1f} m short of {goal.name}")
            return
        if goal.blocked_since_try_s >= cfg.detour_after_s:
            goal.blocked_since_try_s = 0.0
            goal.attempts += 1
            # A blockage changes while the robot waits (the robot behind the one in front turns
            # off, a person walks away from where a detour would go): four tries in its first
            # twelve seconds, then two minutes of waiting, left four robots nose to tail in a 3 m
            # ward corridor that two could pass in. Re-plans stay bounded: each is a longer way.
            if goal.attempts <= _MAX_DETOURS or goal.attempts > _MAX_DETOURS + _MAX_REPLANS:
                if on_path:
                    passed = {o.ident for o, _ in on_path}
                    others = [o for o in near if o.ident not in passed]
                    self._try_detour(goal, pose, ahead, on_path, others)
            elif located is not None:
                self._try_replan(goal, pose, located, now_s)

    def _project(self, goal: Goal, pose: Pose2D) -> tuple[int, float]:
        return path_following.project(goal, pose, near_end_m=self.config.lookahead_m * 0.5)

    def _remaining_m(self, goal: Goal, pose: Pose2D) -> float:
        return path_following.remaining_m(goal, pose, near_end_m=self.config.lookahead_m * 0.5)

    def _lookahead_m(self) -> float:
        return max(self.config.lookahead_m, abs(self.sim.body.velocity.linear_mps) * self.config.lookahead_time_s)

    def _carrot(self, goal: Goal, pose: Pose2D) -> tuple[float, float]:
        return path_following.carrot(goal, pose, self._lookahead_m(), near_end_m=self.config.lookahead_m * 0.5)


def build(name: str, config: SimNavigatorConfig, ctx: BuildContext) -> SimNavigator:
    env, body = sim_context(ctx)
    return SimNavigator(name, ctx.clock, env, body, config)
