"""Local reaction of the sim navigator to robots and people on its path.

Like Nav2's collision monitor and local planner, in the few lines a 2D sim needs: where an
obstacle sits relative to the path ahead (`locate`), how fast the robot may go so that it stops
short of it (`speed_cap`, `crossing_cap`, `arc_is_clear`), a lateral detour around it through
free space (`detour`), right side first (keep right: two robots meeting head-on in a wide
corridor both pass on their right), and a route on the graph avoiding the edge it blocks
(`route_around`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import networkx as nx

from sim.obstacles import ROBOT, Obstacle

Point = tuple[float, float]

#: free space a stopped robot keeps to an obstacle's footprint
STOP_GAP_M = 0.4
#: an obstacle this much wider than the footprints' sum beside the path still slows the robot
SLOW_BAND_M = 0.4
#: ... and a person this much wider: one standing by the way may step out into it at 1.3 m/s,
#: faster than any robot stops from full speed
PERSON_SLOW_BAND_M = 0.8
#: speed near (not on) the path of an obstacle
SLOW_SPEED_MPS = 0.4
#: lateral clearance required beside the path, beyond both footprints
SIDE_MARGIN_M = 0.1


class _Grid(Protocol):
    def segment_is_free(self, a: Point, b: Point, *, step_m: float | None = None) -> bool: ...


@dataclass(frozen=True, slots=True)
class Located:
    """An obstacle relative to a polyline: distance along it to the centre's projection, distance
    from it, the index of the polyline segment holding the projection, and that segment's direction."""

    along_m: float
    lateral_m: float
    segment: int
    ux: float
    uy: float
    right_m: float = 0.0  # signed lateral offset: positive to the right of the direction of travel


def locate(points: list[Point], x_m: float, y_m: float, within_m: float) -> Located | None:
    """Where (x, y) projects on the polyline: on the first segment, in driving order, that passes
    within `within_m` of it (where the robot would first meet it), else on the nearest segment;
    None for a degenerate polyline."""
    nearest: Located | None = None
    nearest_lateral_m = math.inf
    start_m = 0.0
    for k, ((ax, ay), (bx, by)) in enumerate(itertools.pairwise(points)):
        dx, dy = bx - ax, by - ay
        length = math.hypot(dx, dy)
        if length <= 1e-9:
            continue
        ux, uy = dx / length, dy / length
        t = max(0.0, min(length, (x_m - ax) * ux + (y_m - ay) * uy))
        lateral = math.hypot(x_m - (ax + ux * t), y_m - (ay + uy * t))
        # a Located is built only for the answer and the nearest so far: this runs for every
        # obstacle near every driving robot, every tick
        if lateral < within_m or nearest is None or lateral < nearest_lateral_m - 1e-9:
            if k == 0 and t == 0.0:  # behind the robot's own position: negative along
                t = (x_m - ax) * ux + (y_m - ay) * uy
            located = Located(start_m + t, lateral, k, ux, uy, uy * (x_m - ax) - ux * (y_m - ay))
            if lateral < within_m:
                return located
            nearest, nearest_lateral_m = located, lateral
        start_m += length
    return nearest


def point_at(points: list[Point], distance_m: float) -> tuple[Point, int] | None:
    """The point `distance_m` along the polyline and the index of its segment; None past the end."""
    travelled = 0.0
    for k, ((ax, ay), (bx, by)) in enumerate(itertools.pairwise(points)):
        length = math.hypot(bx - ax, by - ay)
        if travelled + length >= distance_m and length > 0:
            f = (distance_m - travelled) / length
            return (ax + (bx - ax) * f, ay + (by - ay) * f), k
        travelled += length
    return None


def blocking_gap_m(located: Located, robot_radius_m: float, obstacle: Obstacle) -> float | None:
    """Free distance the robot can still drive before stopping for the obstacle (STOP_GAP_M short of
    touching it), or None when the obstacle is not on the path."""
    reach = robot_radius_m + obstacle.radius_m
    if located.lateral_m >= reach + SIDE_MARGIN_M or located.along_m <= 0.0:
        return None
    touch_along = math.sqrt(max(0.0, reach * reach - located.lateral_m * located.lateral_m))
    return located.along_m - touch_along - STOP_GAP_M


def speed_cap(located: Located, robot_radius_m: float, obstacle: Obstacle, decel_mps2: float,
              latency_m: float = 0.0) -> float:
    """The fastest the robot may go now and still stop short of the obstacle (inf: no limit).
    `latency_m`: how far the robot goes before its next control step can brake."""
    gap = blocking_gap_m(located, robot_radius_m, obstacle)
    if gap is not None:
        gap -= latency_m
        if obstacle.moving:
            gap /= 2  # it may be coming this way as fast: keep half the gap for its own stop
        return 0.0 if gap <= 0.02 else math.sqrt(2.0 * decel_mps2 * gap)
    band = SLOW_BAND_M if obstacle.kind == ROBOT else PERSON_SLOW_BAND_M
    if located.along_m > -obstacle.radius_m and located.lateral_m < robot_radius_m + obstacle.radius_m + band:
        return SLOW_SPEED_MPS
    return math.inf


def detour(
    grid: _Grid,
    points: list[Point],
    blocking: list[tuple[Obstacle, Located]],
    robot_radius_m: float,
    others: list[Obstacle],
    *,
    cooperative: bool,
) -> tuple[list[Point], int] | None:
    """Waypoints around the obstacles on the path (a queue of them is passed as one) and the
    polyline segment index where the last one rejoins the path; None when neither side is free.
    `points` starts at the robot and `grid` is inflated by the robot's radius. A `cooperative`
    obstacle (one robot, waiting for this one) will sidestep too, so half the offset is enough."""
    first = min(located.along_m for _, located in blocking)
    last = max(located.along_m for _, located in blocking)
    reach = robot_radius_m + max(obstacle.radius_m for obstacle, _ in blocking)
    clear_along = reach + 0.4
    rejoin = point_at(points, last + clear_along + 0.4)
    if rejoin is None:
        return None  # an obstacle sits at the end of the path: nothing to go round
    # Offsets of the robot's centre line from the path (positive: right), passing every blocking
    # obstacle on one side with a comfortable then a bare clearance; right side first (keep right)
    # unless the left needs a much smaller sidestep (someone already walking on the right).
    rightmost = max(located.right_m for _, located in blocking)
    leftmost = min(located.right_m for _, located in blocking)
    clearances = (reach + SIDE_MARGIN_M + 0.15, reach + SIDE_MARGIN_M + 0.05)
    right = [rightmost + c for c in clearances]
    left = [leftmost - c for c in clearances]
    if cooperative and len(blocking) == 1:  # it sidesteps too: half each
        right.append(reach / 2 + 0.1)
        left.append(-(reach / 2 + 0.1))
    sides = [right, left] if abs(right[0]) <= abs(left[0]) + 0.3 else [left, right]
    # close to the obstacle the first leg goes straight sideways: never towards it
    before = point_at(points, max(0.05, first - clear_along))
    after = point_at(points, last + clear_along)
    if before is None or after is None:
        return None
    (bx, by), _ = before
    (ax, ay), _ = after
    nearest = min(blocking, key=lambda pair: pair[1].along_m)[1]
    nx, ny = nearest.uy, -nearest.ux  # the right-hand normal of the path at the first obstacle
    start = points[0]
    for offsets in sides:
        for offset in offsets:
            p1 = (bx + nx * offset, by + ny * offset)
            p2 = (ax + nx * offset, ay + ny * offset)
            legs = [(start, p1), (p1, p2), (p2, rejoin[0])]
            if not all(grid.segment_is_free(a, b) for a, b in legs):
                continue
            if not (cooperative and len(blocking) == 1) and any(
                    segment_distance_m(p1, p2, (o.x_m, o.y_m)) < robot_radius_m + o.radius_m + SIDE_MARGIN_M
                    for o, _ in blocking):
                continue
            if any(segment_distance_m(a, b, (o.x_m, o.y_m)) < robot_radius_m + o.radius_m + SIDE_MARGIN_M
                   for o in others for a, b in legs[1:]):
                continue
            return [p1, p2, rejoin[0]], rejoin[1]
    return None


#: when `crossing_cap` looks for where a moving robot will be
CROSSING_HORIZON_S = (0.5, 1.0, 1.5, 2.0, 2.5)


def crossing_cap(points: list[Point], obstacle: Obstacle, robot_radius_m: float, speed_mps: float,
                 decel_mps2: float, latency_m: float = 0.0) -> float:
    """The speed that gives way to a moving robot about to cross the path: where it will be in a
    second or two, if that is on the path about when this robot gets there, counts as an
    obstacle there. Only one of two robots gives way (the navigator asks it for one ranked
    before it), so crossing traffic does not stop both."""
    if math.hypot(obstacle.vx_mps, obstacle.vy_mps) < 0.05:
        return math.inf
    reach = robot_radius_m + obstacle.radius_m
    cap = math.inf
    for t in CROSSING_HORIZON_S:
        px, py = obstacle.x_m + obstacle.vx_mps * t, obstacle.y_m + obstacle.vy_mps * t
        located = locate(points, px, py, reach + SIDE_MARGIN_M)
        if located is None or located.lateral_m >= reach + SIDE_MARGIN_M:
            continue
        if located.along_m > max(speed_mps, 0.3) * t + reach + 0.5:
            continue  # it will have crossed before this robot gets there
        gap = blocking_gap_m(located, robot_radius_m, obstacle)
        if gap is not None:
            gap -= latency_m
            cap = min(cap, 0.0 if gap <= 0.02 else math.sqrt(2.0 * decel_mps2 * gap))
    return cap


#: free space the braking envelope keeps to an obstacle's footprint (a worst case: less than STOP_GAP_M)
COAST_GAP_M = 0.1


def coast_cap(x_m: float, y_m: float, yaw_rad: float, robot_radius_m: float, obstacles: list[Obstacle],
              decel_mps2: float, latency_m: float = 0.0) -> float:
    """The fastest the robot may go now and still stop before touching anything straight ahead
    of it (inf: no limit). The path ahead may turn, but a robot told to stop goes on along its
    heading while it brakes: at a corner (a turn on the spot is a stop) it coasts straight past
    the corner, v²/2a beyond it, into whatever stands there. So the braking envelope along the
    heading must be free as well as the path (Nav2's collision monitor: the stopping polygon)."""
    return coast_limit(x_m, y_m, yaw_rad, robot_radius_m, obstacles, decel_mps2, latency_m)[0]


def coast_limit(x_m: float, y_m: float, yaw_rad: float, robot_radius_m: float, obstacles: list[Obstacle],
                decel_mps2: float, latency_m: float = 0.0) -> tuple[float, Obstacle | None]:
    """`coast_cap`, and the obstacle that sets it (None: no limit)."""
    cos_yaw, sin_yaw = math.cos(yaw_rad), math.sin(yaw_rad)
    cap = math.inf
    limiting: Obstacle | None = None
    for o in obstacles:
        dx, dy = o.x_m - x_m, o.y_m - y_m
        along = dx * cos_yaw + dy * sin_yaw
        if along <= 0.0:
            continue
        reach = robot_radius_m + o.radius_m
        lateral = abs(dy * cos_yaw - dx * sin_yaw)
        if lateral >= reach + SIDE_MARGIN_M:
            continue
        touch = math.sqrt(max(0.0, reach * reach - lateral * lateral))
        gap = along - touch - COAST_GAP_M - latency_m
        if o.moving:
            gap /= 2  # as `speed_cap`: it may be coming this way
        limit = 0.0 if gap <= 0.02 else math.sqrt(2.0 * decel_mps2 * gap)
        if limit < cap:
            cap, limiting = limit, o
    return cap, limiting


#: a path vertex turning by more than this is a corner the robot slows for (the navigator turns
#: on the spot beyond 0.7 rad to the carrot: at speed that is a stop, and a coast past the corner)
CORNER_TURN_RAD = 0.7
#: the speed a robot takes a corner at: what it coasts from when it turns on the spot there
CORNER_SPEED_MPS = 0.4


def corner_distances(points: list[Point]) -> list[float]:
    """Per point of the polyline, the distance along it from that point to the first sharp corner
    (a vertex turning by more than CORNER_TURN_RAD) at or after it; inf where none follows.
    Computed once per plan, so that `corner_cap` costs a lookup per tick."""
    n = len(points)
    sharp = [False] * n
    previous: int | None = None  # the last point before i that is not a repeat of it
    for i in range(1, n - 1):
        if math.dist(points[i], points[i - 1]) > 1e-6:
            previous = i - 1
        after = next((j for j in range(i + 1, n) if math.dist(points[j], points[i]) > 1e-6), None)
        if previous is None or after is None:
            continue
        (ax, ay), (bx, by), (cx, cy) = points[previous], points[i], points[after]
        turn = abs(math.atan2(cy - by, cx - bx) - math.atan2(by - ay, bx - ax))
        sharp[i] = min(turn, 2 * math.pi - turn) > CORNER_TURN_RAD
    distances = [math.inf] * n
    for i in range(n - 2, -1, -1):
        distances[i] = 0.0 if sharp[i] else distances[i + 1] + math.dist(points[i], points[i + 1])
    return distances


def corner_cap(corner_m: float, decel_mps2: float, latency_m: float = 0.0) -> float:
    """The fastest the robot may go `corner_m` before a sharp corner and still be down to
    CORNER_SPEED_MPS there: regulated pure pursuit's slowing for curvature, so that a robot takes
    a blind corner at a pace it stops from within what it sees round it, and turns on the spot
    there without coasting past (inf: no corner ahead)."""
    if math.isinf(corner_m):
        return math.inf
    free = max(0.0, corner_m - latency_m)
    return math.sqrt(CORNER_SPEED_MPS * CORNER_SPEED_MPS + 2.0 * decel_mps2 * free)


def skip_turn_back(points: list[Point], grid: _Grid, max_m: float = 1.0, min_turn_rad: float = 2.8) -> list[Point]:
    """The plan `points` (the robot's position first) starts at the route node nearest the
    robot; a robot already on the edge beyond that node would drive back to it and turn round on
    the spot, its carrot behind it and its arc into whoever stands there (a person waiting for it
    to go on: neither ever moves; or a robot following it along that edge, and each waited for
    the other for an hour). When the path turns back within `max_m`, or within the edge it goes
    on by (the robot stands on that edge), and the way straight on is free (`grid` inflated by
    the robot's radius), the first waypoint becomes the robot's position (the point keeps its
    node name: the robot is at it or on its edge)."""
    if len(points) < 3:
        return points
    (ax, ay), (bx, by), (cx, cy) = points[:3]
    edge_m = math.hypot(cx - bx, cy - by)
    if not 1e-6 < math.hypot(bx - ax, by - ay) <= max(max_m, edge_m) or edge_m <= 1e-6:
        return points
    turn = abs(math.atan2(cy - by, cx - bx) - math.atan2(by - ay, bx - ax))
    if min(turn, 2 * math.pi - turn) < min_turn_rad or not grid.segment_is_free(points[0], points[2]):
        return points
    return [points[0], points[0], *points[2:]]


#: how far ahead in time `arc_is_clear` follows the commanded arc
ARC_HORIZON_S = 1.0
#: footprints closer than this on the arc count as touching
ARC_MARGIN_M = 0.05


def arc_is_clear(
    x_m: float, y_m: float, yaw_rad: float, v_mps: float, w_radps: float, robot_radius_m: float,
    obstacles: list[Obstacle], horizon_s: float = ARC_HORIZON_S,
) -> bool:
    """Whether driving (v, w) for `horizon_s` keeps the footprint off every obstacle it is not
    already moving away from: the path ahead is a polyline, but a robot turning onto it drives
    an arc, and that is what touches (Nav2's collision monitor checks the command the same way)."""
    if v_mps <= 0.0:
        return True
    for k in (1, 2, 3, 4):
        t = horizon_s * k / 4
        if abs(w_radps) < 1e-9:
            px, py = x_m + v_mps * t * math.cos(yaw_rad), y_m + v_mps * t * math.sin(yaw_rad)
        else:
            r = v_mps / w_radps
            px = x_m + r * (math.sin(yaw_rad + w_radps * t) - math.sin(yaw_rad))
            py = y_m - r * (math.cos(yaw_rad + w_radps * t) - math.cos(yaw_rad))
        for o in obstacles:
            reach = robot_radius_m + o.radius_m + ARC_MARGIN_M
            d = math.hypot(o.x_m - px, o.y_m - py)
            if d < reach and d < math.hypot(o.x_m - x_m, o.y_m - y_m):
                return False
    return True


def segment_distance_m(a: Point, b: Point, p: Point) -> float:
    """Distance from `p` to the segment a-b."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    seg2 = dx * dx + dy * dy
    t = 0.0 if seg2 == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / seg2))
    return math.hypot(p[0] - (a[0] + dx * t), p[1] - (a[1] + dy * t))


def route_around(
    graph: nx.DiGraph, nodes: list[str | None], blocked_segment: int, goal_node: str,
    nearest_node: Callable[[], str],
) -> list[str] | None:
    """Route-graph nodes from the last node before the blocked path segment (`nodes[i]` →
    `nodes[i + 1]`; None marks a point that is not a node) to `goal_node`, avoiding the edge the
    segment lies on, or the node it leads to when it is not an edge; None when there is no
    other way (or the goal itself is what is blocked)."""
    i = blocked_segment
    before = next((nodes[j] for j in range(min(i, len(nodes) - 1), -1, -1) if nodes[j]), None)
    after = next((nodes[j] for j in range(i + 1, len(nodes)) if nodes[j]), None)
    if after is None:
        return None
    avoid_edges: set[tuple[str, str]] = set()
    avoid_nodes: set[str] = set()
    if before is not None and before != after and graph.has_edge(before, after):
        avoid_edges |= {(before, after), (after, before)}
    elif after != goal_node:
        avoid_nodes.add(after)
    else:
        return None
    start = before or nearest_node()
    if start in avoid_nodes:
        return None
    view = nx.subgraph_view(graph, filter_node=lambda n: n not in avoid_nodes,
                            filter_edge=lambda u, v: (u, v) not in avoid_edges)
    try:
        return list(nx.shortest_path(view, start, goal_node, weight="length_m"))
    except (nx.NetworkXNoPath, nx.NodeNotFound):
        return None
