"""The simulated navigator's ways round what blocks it: backing off for a person who waits for it,
a lateral detour through free space, a re-plan on the route graph round a blocked edge, and a new
way round fire doors the alarm has shut — each spliced into the goal's path (`_splice`).

A mixin of `SimNavigator` (sim/devices/navigator.py), which owns the goal and calls these.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from hal.geometry import Pose2D, Twist2D
from sim import local_planner
from sim.devices.common import SimLink
from sim.devices.navigator_doors import way_round
from sim.obstacles import ROBOT, Obstacle
from sim.path_following import Goal, polyline_length
from sim.routes import passable

if TYPE_CHECKING:
    from sim.devices.navigator import SimNavigatorConfig

#: stopped this long face to face with a person who waits for it too, the robot backs off
#: `BACK_OFF_M` along the way it came (once per blockage), slowly: the person can pass, or stop
#: waiting between it and a robot coming the other way (people step aside only from a robot in
#: front of them, and two robots either side of a visitor left both waiting for minutes)
BACK_OFF_AFTER_S = 8.0
BACK_OFF_M = 1.2
BACK_OFF_SPEED_MPS = 0.25


class Detours:
    sim: SimLink
    config: SimNavigatorConfig

    def _set_hold_index(self, goal: Goal) -> None:
        raise NotImplementedError

    def _note_waiting(self, blocker: str | None) -> None:
        raise NotImplementedError

    def _round_shut_doors(self, goal: Goal, pose: Pose2D, shut: frozenset[str], now_s: float) -> bool:
        """The fire doors shut or opened since the goal was planned: plan again from here when one
        is on the way ahead. False when there is no way round (the goal has failed)."""
        goal.doors_shut = shut
        way = way_round(self.sim.env.world.routes, goal, pose, shut)
        if isinstance(way, str):
            goal.handle.fail(way)
            return False
        if way is not None:
            self._splice(goal, pose, *way, len(goal.path))
            goal.deadline_s = max(goal.deadline_s,
                                  now_s + 120.0 + 4.0 * polyline_length(goal.path) / self.config.max_speed_mps)
        return True

    def _clear_behind(self, pose: Pose2D, near: list[Obstacle]) -> tuple[float, float] | None:
        """The point `BACK_OFF_M` straight behind the robot, when the walls and everything near
        leave room to reverse there; else None (it waits where it is)."""
        bx = pose.x_m - math.cos(pose.yaw_rad) * BACK_OFF_M
        by = pose.y_m - math.sin(pose.yaw_rad) * BACK_OFF_M
        grid = self.sim.env.inflated_grid(pose.level, self.sim.body.radius_m + 0.05)
        wall_free = grid.segment_is_free((pose.x_m, pose.y_m), (bx, by))
        if not wall_free or not self._room_behind(pose, near, BACK_OFF_M, margin_m=0.3):
            return None
        return bx, by

    def _room_behind(self, pose: Pose2D, near: list[Obstacle], length_m: float, *, margin_m: float) -> bool:
        """Whether nothing near comes within `margin_m` of the robot's footprint reversed
        `length_m` straight back (what stands beside or ahead of it does not count)."""
        radius = self.sim.body.radius_m
        dx, dy = -math.cos(pose.yaw_rad) * length_m, -math.sin(pose.yaw_rad) * length_m
        seg2 = dx * dx + dy * dy
        for obstacle in near:
            ax, ay = obstacle.x_m - pose.x_m, obstacle.y_m - pose.y_m
            t = 0.0 if seg2 <= 1e-12 else max(0.0, min(1.0, (ax * dx + ay * dy) / seg2))
            if t > 0.0 and math.hypot(ax - t * dx, ay - t * dy) < radius + obstacle.radius_m + margin_m:
                return False
        return True

    def _back_off(self, goal: Goal, pose: Pose2D) -> Twist2D:
        """Reverse straight back to `goal.backing_to`, stopping early for anything behind."""
        assert goal.backing_to is not None
        bx, by = goal.backing_to
        left_m = math.hypot(bx - pose.x_m, by - pose.y_m)
        near = self.sim.env.obstacles_near(pose.level, pose.x_m, pose.y_m, self.config.perception_range_m,
                                           exclude=self.sim.robot_id)
        self._note_waiting(None)
        if left_m <= 0.1 or not self._room_behind(pose, near, min(left_m + 0.3, BACK_OFF_M), margin_m=0.15):
            goal.backing_to = None
            goal.stalled_s = 0.0
            return Twist2D.zero()
        return Twist2D(-min(BACK_OFF_SPEED_MPS, math.sqrt(2 * self.config.max_decel_mps2 * left_m)), 0.0)

    def _path_ahead(self, goal: Goal, pose: Pose2D) -> list[tuple[float, float]]:
        """The robot's position then the path's points ahead, as far as the perception range."""
        points = [(pose.x_m, pose.y_m)]
        budget = self.config.perception_range_m + 1.0
        for point in goal.path[goal.segment + 1 :]:
            budget -= math.dist(points[-1], point)
            points.append(point)
            if budget <= 0:
                break
        return points

    def _try_detour(self, goal: Goal, pose: Pose2D, ahead: list[tuple[float, float]],
                    on_path: list[tuple[Obstacle, local_planner.Located]], others: list[Obstacle]) -> bool:
        env = self.sim.env
        me = self.sim.robot_id
        first = on_path[0][0]
        cooperative = first.kind == ROBOT and env.obstacles.waiting_for(first.ident) == me
        grid = env.inflated_grid(pose.level, self.sim.body.radius_m + 0.05)
        found = local_planner.detour(grid, ahead, on_path, self.sim.body.radius_m, others, cooperative=cooperative)
        if found is None:
            return False
        points, k = found
        # ahead[k] → ahead[k + 1] holds the rejoin point; ahead[j] is goal.path[segment + j] (j ≥ 1)
        rest = goal.segment + k + 1
        if goal.hold_index is not None and goal.hold_index < rest:
            return False  # the detour would skip the node held at: wait there instead
        self._splice(goal, pose, points, [None] * len(points), rest)
        goal.detour_end = len(points)
        return True

    def _try_replan(self, goal: Goal, pose: Pose2D, located: local_planner.Located, now_s: float) -> bool:
        """Plan again on the route graph without the edge the obstacle sits on."""
        if goal.goal_node is None:
            return False
        world = self.sim.env.world
        graph = passable(world.routes.graph, goal.doors_shut)
        names = local_planner.route_around(
            graph, goal.nodes, goal.segment + located.segment, goal.goal_node,
            lambda: world.routes.nearest_node(pose.x_m, pose.y_m, pose.level))
        if names is None:
            return False
        points = [(float(graph.nodes[n]["pos"][0]), float(graph.nodes[n]["pos"][1])) for n in names]
        nodes: list[str | None] = list(names)
        if goal.nodes[-1] is None:  # a pose goal: its pose after the node nearest it
            points.append(goal.path[-1])
            nodes.append(None)
        self._splice(goal, pose, points, nodes, len(goal.path))
        length = polyline_length(goal.path)
        goal.deadline_s = max(goal.deadline_s, now_s + 120.0 + 4.0 * length / self.config.max_speed_mps)
        return True

    def _splice(self, goal: Goal, pose: Pose2D, points: list[tuple[float, float]], nodes: list[str | None],
                rest: int) -> None:
        """Drive from here through `points`, then on along the old path from index `rest`."""
        goal.path = [(pose.x_m, pose.y_m), *points, *goal.path[rest:]]
        goal.nodes = [None, *nodes, *goal.nodes[rest:]]
        goal.segment = 0
        goal.detour_end = 0
        goal.best_remaining_m = polyline_length(goal.path)
        goal.corners = local_planner.corner_distances(goal.path)
        self._set_hold_index(goal)
