"""Following a planned path: the goal a navigator drives, where the robot projects onto its path,
how much of it remains, and the pure-pursuit carrot (`sim/devices/navigator.py` steers by it)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from hal.geometry import Pose2D
from hal.navigation_handle import NavigationGoalHandle
from sim.local_planner import segment_distance_m


@dataclass
class Goal:
    """A navigation goal being driven: its path and the navigator's state along it."""

    handle: NavigationGoalHandle
    name: str
    path: list[tuple[float, float]]  # from the start position to the goal position
    yaw_rad: float
    start_s: float
    start_distance_m: float
    deadline_s: float
    level: int = 0  # the floor the path was planned on
    segment: int = 0
    aligning: bool = False
    best_remaining_m: float = math.inf
    stalled_s: float = 0.0  # time commanded to move without progress
    last_step_s: float | None = None
    nodes: list[str | None] = field(default_factory=list)  # route node of each path point, or None
    goal_node: str | None = None  # the route node the plan ends at (the place, or the one nearest a pose)
    hold_index: int | None = None  # path index of the node held at
    blocked_s: float = 0.0  # stopped for obstacles since the last progress
    blocked_since_try_s: float = 0.0  # ... since the last detour or re-plan attempt
    attempts: int = 0  # detours and re-plans tried since the last progress
    blocker: str = ""  # what the robot last stopped for, for the failure reason
    detour_end: int = 0  # path index where a detour rejoins the plan (slow until there)
    corners: list[float] = field(default_factory=list)  # per path point, the distance on to the next sharp corner
    backing_to: tuple[float, float] | None = None  # where a back-off for a waiting person ends
    backed_off: bool = False  # this blockage's back-off is done (reset by progress)
    # the path's length on from `rest_from` (for `rest_path`, the path list it was taken of): asked every tick
    rest_path: list[tuple[float, float]] | None = None
    rest_from: int = -1
    rest_m: float = 0.0
    doors_shut: frozenset[str] = frozenset()  # the fire doors shut when the path was planned


def polyline_length(points: list[tuple[float, float]]) -> float:
    return sum(math.dist(a, b) for a, b in itertools.pairwise(points))


def project(goal: Goal, pose: Pose2D, *, near_end_m: float) -> tuple[int, float]:
    """Advance past finished segments (within `near_end_m` of a segment's end counts as past it);
    return (segment, fraction along it) of the robot's projection."""
    while True:
        (ax, ay), (bx, by) = goal.path[goal.segment], goal.path[goal.segment + 1]
        dx, dy = bx - ax, by - ay
        seg2 = dx * dx + dy * dy
        t = 1.0 if seg2 == 0 else ((pose.x_m - ax) * dx + (pose.y_m - ay) * dy) / seg2
        last = goal.segment + 2 >= len(goal.path)
        near_end = math.hypot(bx - pose.x_m, by - pose.y_m) < near_end_m
        if last or (t < 1.0 and not near_end and not _nearer_next(goal, pose, t)):
            return goal.segment, min(1.0, max(0.0, t))
        goal.segment += 1


def _nearer_next(goal: Goal, pose: Pose2D, t: float) -> bool:
    """Whether the robot, past the middle of its segment, stands nearer the next one: off the
    path just past a sharp corner, projected on the segment it has all but finished, the point a
    lookahead on lies right beside it, and its bearing swings round with every centimetre it
    turns (one spun on the spot for 25 s, holding a lift)."""
    if t <= 0.5:
        return False
    a, b, c = goal.path[goal.segment], goal.path[goal.segment + 1], goal.path[goal.segment + 2]
    here = (pose.x_m, pose.y_m)
    return segment_distance_m(b, c, here) < segment_distance_m(a, b, here)


def remaining_m(goal: Goal, pose: Pose2D, *, near_end_m: float) -> float:
    """The path's length left from the robot (the rest past its segment is kept on the goal)."""
    if len(goal.path) < 2:
        return math.hypot(goal.path[-1][0] - pose.x_m, goal.path[-1][1] - pose.y_m)
    seg, _ = project(goal, pose, near_end_m=near_end_m)
    if goal.rest_path is not goal.path or goal.rest_from != seg + 1:
        goal.rest_path, goal.rest_from, goal.rest_m = goal.path, seg + 1, polyline_length(goal.path[seg + 1 :])
    return math.hypot(goal.path[seg + 1][0] - pose.x_m, goal.path[seg + 1][1] - pose.y_m) + goal.rest_m


def carrot(goal: Goal, pose: Pose2D, lookahead_m: float, *, near_end_m: float) -> tuple[float, float]:
    """The point `lookahead_m` ahead along the path from the robot's projection on it."""
    if len(goal.path) < 2:
        return goal.path[-1]
    seg, t = project(goal, pose, near_end_m=near_end_m)
    (ax, ay), (bx, by) = goal.path[seg], goal.path[seg + 1]
    x0, y0 = ax + (bx - ax) * t, ay + (by - ay) * t
    budget = lookahead_m
    for x1, y1 in itertools.islice(goal.path, seg + 1, None):
        d = math.hypot(x1 - x0, y1 - y0)
        if d >= budget and d > 0:
            return x0 + (x1 - x0) * budget / d, y0 + (y1 - y0) * budget / d
        budget -= d
        x0, y0 = x1, y1
    return goal.path[-1]
