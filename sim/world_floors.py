"""What the loader generates for a building of several floors: lifts and traffic mutex groups.

Lifts (`lifts:` in a world file): per served level a shaft of walls around the car with a gap for
the landing door, a `lift_lobby` place outside the door facing it, a `lift_car` place inside facing
out, and the route edges connect → lobby ↔ car (→ exit). The car is a leaf of its level's graph, and
no edge ever joins two levels: a floor's graph is its own component and crossing floors is the lift
controller's job, never the planner's.

Mutex groups (`traffic:`, plus generated ones): a shared resource one robot may be in at a time,
reserved through the fleet before a robot enters it. A robot at a group's node, or on an edge
between two of its nodes, holds it; it waits at the last node of its path outside the group (the
holding point). No workplace lies inside a group except docks and lift cars, so a robot never ends
a goal inside a group and waits there for the next one: that keeps the reservations free of
hold-and-wait. See docs/world-format.md for the rules and the generated names.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sim.occupancy import Wall
from sim.world_parts import Door, Lift, MutexGroup, Place, WorldError
from sim.world_spec import LiftSpec, TrafficSpec

Node = tuple[float, float, int]  # x_m, y_m, level
Edge = tuple[str, str, bool, str | None]  # a, b, bidirectional, door name
Fail = Callable[[str, str], WorldError]

# Place kinds that may lie inside a mutex group: transit points, plus docks and lift cars (a robot
# ends a goal there, but holds nothing else while it does: a dock's group is the dock alone).
GROUP_KINDS = frozenset({"waypoint", "anteroom", "lift_lobby", "lift_car", "dock"})
_SIDES: dict[str, tuple[float, float]] = {"north": (0.0, 1.0), "south": (0.0, -1.0), "east": (1.0, 0.0),
                                          "west": (-1.0, 0.0)}


def level_tag(level: int) -> str:
    """`L0`, `L1`, … for ground and above; `B1`, `B2`, … for basements (level -1, -2, …)."""
    return f"L{level}" if level >= 0 else f"B{-level}"


def lift_lobby_name(lift: str, level: int) -> str:
    return f"{lift}-lobby-{level_tag(level)}"


def lift_car_name(lift: str, level: int) -> str:
    return f"{lift}-car-{level_tag(level)}"


def lift_door_name(lift: str, level: int) -> str:
    return f"{lift}-door-{level_tag(level)}"


def lift_ride_s(lift: Lift, from_level: int, to_level: int) -> float:
    """Expected seconds from calling `lift` at `from_level` to standing at `to_level` doors open.

    The car may be anywhere: the expected wait is taken as half a round trip of the whole shaft
    (top to bottom and back, halved), then the doors open, close and open again at the far end, and
    the car travels. A planning estimate for route costs, not the controller's own figure."""
    span = max(lift.levels) - min(lift.levels)
    wait_s = span * lift.travel_s_per_level
    return wait_s + 3 * lift.door_s + abs(to_level - from_level) * lift.travel_s_per_level


@dataclass
class LiftParts:
    lifts: dict[str, Lift] = field(default_factory=dict)
    places: list[Place] = field(default_factory=list)
    walls: list[Wall] = field(default_factory=list)
    doors: list[Door] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def _check_node(nodes: dict[str, Node], name: str, field_path: str, fail: Fail) -> Node:
    if name not in nodes:
        close = difflib.get_close_matches(name, list(nodes), n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise fail(field_path, f"unknown node {name!r}: not a place or routes.waypoints name{hint}")
    return nodes[name]


def build_lifts(
    specs: Iterable[LiftSpec], *, levels: dict[int, str], nodes: dict[str, Node], wall_thickness_m: float,
    zone_of: Callable[[float, float, int], str | None], fail: Fail,
) -> LiftParts:
    """Generate every lift's shaft, places, landing doors and edges (see the module docstring)."""
    out = LiftParts()
    taken = set(nodes)
    for i, spec in enumerate(specs):
        at = f"lifts[{i}]"
        if spec.name in out.lifts:
            raise fail(f"{at}.name", f"duplicate lift name {spec.name!r}")
        nx_, ny_ = _SIDES[spec.door_side]
        width_m, depth_m = spec.car_size
        half_x, half_y = width_m / 2 + wall_thickness_m / 2, depth_m / 2 + wall_thickness_m / 2  # wall centre lines
        door_xy = (spec.x + nx_ * half_x, spec.y + ny_ * half_y)
        lobby_xy = (door_xy[0] + nx_ * spec.lobby_m, door_xy[1] + ny_ * spec.lobby_m)
        out_yaw, in_yaw = math.atan2(ny_, nx_), math.atan2(-ny_, -nx_)
        lobbies: dict[int, str] = {}
        cars: dict[int, str] = {}
        doors: dict[int, str] = {}
        for level in sorted(spec.levels):
            landing = spec.levels[level]
            where = f"{at}.levels[{level}]"
            if level not in levels:
                raise fail(where, f"unknown level {level} (accepted: {', '.join(map(str, sorted(levels)))})")
            for key, node in (("connect", landing.connect), ("exit", landing.exit)):
                if node is None:
                    continue
                node_level = _check_node(nodes, node, f"{where}.{key}", fail)[2]
                if node_level != level:
                    raise fail(f"{where}.{key}", f"node {node!r} is on level {node_level}, not level {level}: "
                                                 "a lift's lobby joins a node of its own floor")
            lobby, car, door = (lift_lobby_name(spec.name, level), lift_car_name(spec.name, level),
                                lift_door_name(spec.name, level))
            for generated in (lobby, car):
                if generated in taken:
                    raise fail(f"{at}.name", f"generated place {generated!r} clashes with a name already used")
                taken.add(generated)
            out.places.append(Place(lobby, *lobby_xy, in_yaw, level, "lift_lobby", zone_of(*lobby_xy, level)))
            out.places.append(Place(car, spec.x, spec.y, out_yaw, level, "lift_car", zone_of(spec.x, spec.y, level)))
            out.walls += _shaft_walls(spec, half_x, half_y, wall_thickness_m, level)
            out.doors.append(Door(door, lobby, car, False, door_xy[0], door_xy[1], spec.door_width_m, level))
            if landing.exit is None or landing.exit == landing.connect:
                out.edges.append((landing.connect, lobby, True, None))
            else:  # one way in, one way out: the robot leaving never meets the one waiting head-on
                out.edges += [(landing.connect, lobby, False, None), (lobby, landing.exit, False, None)]
            out.edges.append((lobby, car, True, door))
            lobbies[level], cars[level], doors[level] = lobby, car, door
        out.lifts[spec.name] = Lift(
            spec.name, spec.x, spec.y, tuple(sorted(spec.levels)), lobbies, cars, doors,
            spec.travel_s_per_level, spec.door_s, spec.dwell_s,
        )
    return out


def _shaft_walls(spec: LiftSpec, half_x: float, half_y: float, thickness_m: float, level: int) -> list[Wall]:
    x, y = spec.x, spec.y
    corners = {"sw": (x - half_x, y - half_y), "se": (x + half_x, y - half_y), "ne": (x + half_x, y + half_y),
               "nw": (x - half_x, y + half_y)}
    sides = {"south": ("sw", "se"), "east": ("se", "ne"), "north": ("ne", "nw"), "west": ("nw", "sw")}
    walls: list[Wall] = []
    for side, (p, q) in sides.items():
        a, b = corners[p], corners[q]
        if side != spec.door_side:
            walls.append(Wall(a, b, thickness_m, level))
            continue
        length = math.dist(a, b)
        ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
        gap0, gap1 = (length - spec.door_width_m) / 2, (length + spec.door_width_m) / 2
        for t0, t1 in ((0.0, gap0), (gap1, length)):
            if t1 - t0 > 1e-6:
                walls.append(Wall((a[0] + ux * t0, a[1] + uy * t0), (a[0] + ux * t1, a[1] + uy * t1), thickness_m,
                                  level))
    return walls


def split_door_edges(
    edges: list[Edge], doors: dict[str, Door], nodes: dict[str, Node], passage_m: float,
) -> tuple[list[Edge], dict[str, Node], dict[str, tuple[str, str]]]:
    """Give every powered door's edge two passage nodes, `<door>-side-a` and `<door>-side-b`, up to
    `passage_m` either side of the door on the edge (side a towards `between[0]`). The door's group
    is the two passage nodes, so its holding points are the door's own `between` nodes.

    Returns the new edge list (a – side-a – side-b – b, the door named on the middle edge only),
    the passage nodes, and door → (side-a, side-b)."""
    out: list[Edge] = []
    added: dict[str, Node] = {}
    passages: dict[str, tuple[str, str]] = {}
    for a, b, bidirectional, door_name in edges:
        door = doors.get(door_name) if door_name is not None else None
        if door is None or not door.auto or door_name in passages:
            out.append((a, b, bidirectional, door_name))
            continue
        (ax, ay, level), (bx, by, _) = nodes[a], nodes[b]
        length = math.hypot(bx - ax, by - ay)
        if length < 1e-6:
            out.append((a, b, bidirectional, door_name))
            continue
        px, py = (door.x_m, door.y_m) if door.x_m is not None and door.y_m is not None else ((ax + bx) / 2,
                                                                                            (ay + by) / 2)
        t = min(1.0, max(0.0, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / length**2))
        # Never closer than 45 % of the way to an end node, so the passage stays between them.
        t_a = t - min(passage_m, 0.45 * t * length) / length
        t_b = t + min(passage_m, 0.45 * (1 - t) * length) / length
        side_a, side_b = f"{door.name}-side-a", f"{door.name}-side-b"
        added[side_a] = (ax + (bx - ax) * t_a, ay + (by - ay) * t_a, level)
        added[side_b] = (ax + (bx - ax) * t_b, ay + (by - ay) * t_b, level)
        passages[door.name] = (side_a, side_b)
        out += [(a, side_a, bidirectional, None), (side_a, side_b, bidirectional, door.name),
                (side_b, b, bidirectional, None)]
    return out, added, passages


def build_groups(
    traffic: TrafficSpec | None, *, lifts: dict[str, Lift], places: dict[str, Place], doors: dict[str, Door],
    passages: dict[str, tuple[str, str]], declared_edges: list[Edge], nodes: dict[str, Node], fail: Fail,
) -> dict[str, MutexGroup]:
    """Every mutex group of the world, named `<kind>:<name>`, checked for workplaces inside."""
    groups: dict[str, MutexGroup] = {}
    origin: dict[str, str] = {}

    def add(group: MutexGroup, field_path: str) -> None:
        if group.name in groups:
            raise fail(field_path, f"duplicate mutex group {group.name!r} (already {origin[group.name]})")
        for node in sorted(group.nodes):
            place = places.get(node)
            if place is not None and place.kind not in GROUP_KINDS:
                raise fail(field_path, f"{place.kind} {node!r} would lie inside mutex group {group.name!r}: "
                                       "no workplace may (only docks and lift cars), or a robot would end a goal "
                                       "holding the group and wait there for the next one")
        groups[group.name] = group
        origin[group.name] = field_path

    for i, lift in enumerate(lifts.values()):
        add(MutexGroup(f"lift:{lift.name}", "lift", frozenset(lift.lobbies.values()) | frozenset(lift.cars.values()),
                       min(lift.levels)), f"lifts[{i}]")
    if traffic is None:  # a world without traffic management (one robot, or the one-floor hospital)
        return groups
    for name, place in sorted(places.items()):
        if place.kind == "dock":
            add(MutexGroup(f"charger:{name}", "charger", frozenset({name}), place.level), f"places[{name}]")
    for door_name, (side_a, side_b) in sorted(passages.items()):
        add(MutexGroup(f"door:{door_name}", "door", frozenset({side_a, side_b}), doors[door_name].level),
            f"doors[{door_name}]")

    adjacent: dict[frozenset[str], str | None] = {frozenset((a, b)): door for a, b, _, door in declared_edges}

    def members(names: list[str], field_path: str, key: str) -> tuple[set[str], int]:
        found: set[str] = set()
        level_seen: int | None = None
        for j, name in enumerate(names):
            level = _check_node(nodes, name, f"{field_path}.{key}[{j}]", fail)[2]
            if level_seen is not None and level != level_seen:
                raise fail(f"{field_path}.{key}[{j}]", f"node {name!r} is on level {level}, the group's first "
                                                        f"node on level {level_seen}: a group lies on one floor")
            level_seen = level
            found.add(name)
        assert level_seen is not None
        return found, level_seen

    for i, lane in enumerate(traffic.lanes):
        at = f"traffic.lanes[{i}]"
        inside, level = members(lane.path, at, "path")
        for j in range(1, len(lane.path)):
            pair = frozenset((lane.path[j - 1], lane.path[j]))
            if pair not in adjacent:
                raise fail(f"{at}.path[{j}]", f"{lane.path[j - 1]!r} and {lane.path[j]!r} are not joined by a "
                                              "route edge: a lane follows the route graph end to end")
            door = adjacent[pair]
            if door in passages:
                inside |= set(passages[door])
        add(MutexGroup(f"lane:{lane.name}", "lane", frozenset(inside), level), at)
    for i, room in enumerate(traffic.anterooms):
        at = f"traffic.anterooms[{i}]"
        inside, level = members(room.nodes, at, "nodes")
        # The doors into and out of the anteroom belong to it: the whole airlock is one resource, so
        # a robot leaving the room and one entering never each hold half of it.
        for door_name, sides in passages.items():
            if {doors[door_name].node_a, doors[door_name].node_b} & set(room.nodes):
                inside |= set(sides)
        add(MutexGroup(f"anteroom:{room.name}", "anteroom", frozenset(inside), level), at)
    return groups


def check_single_floor_edges(edges: Iterable[tuple[str, str, str]], nodes: dict[str, Node], fail: Fail) -> None:
    """(a, b, field path) of each declared edge: an edge joining two levels is an error."""
    for a, b, field_path in edges:
        if nodes[a][2] != nodes[b][2]:
            raise fail(field_path, f"joins {a!r} (level {nodes[a][2]}) to {b!r} (level {nodes[b][2]}): route "
                                   "edges stay on one floor; declare a lift to join floors")

