"""The simulator's hospital world: a YAML file (see docs/world-format.md) loaded into typed parts.

`load_world` validates the file with pydantic and then cross-checks names (edges, doors, wards,
levels); every problem raises `WorldError` naming the file, the field path (`places[12].x`) and
what would have been accepted, so a typo in a 1,000-line world is found in one read.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from hal.geometry import Pose2D
from sim.occupancy import OccupancyGrid, Point, Wall
from sim.routes import NoRoute, RouteGraph
from sim.world_floors import build_groups, build_lifts, check_single_floor_edges, lift_ride_s, split_door_edges
from sim.world_parts import Door, Lift, MutexGroup, Place, Stairs, WorldError, Zone
from sim.world_spec import GENERATED_KINDS, WorldSpec

__all__ = [
    "Door", "Lift", "MutexGroup", "Place", "Stairs", "World", "WorldError", "Zone", "default_world_path",
    "load_default_world", "load_world",
]

# Beds are reached through these zone tags; `ward:` of a bed must name such a zone.
WARD_TAGS = ("ward", "isolation")
# A door's `at` may sit this far off a wall's centre line (beyond half its thickness).
_DOOR_SNAP_M = 0.05
_ZONE_BUCKET_M = 4.0


def _bucket(coordinate_m: float) -> int:
    return math.floor(coordinate_m / _ZONE_BUCKET_M)


@dataclass(frozen=True, eq=False)
class World:
    name: str
    source: str
    places: dict[str, Place]
    doors: dict[str, Door]
    zones: list[Zone]
    walls: list[Wall]  # after door gaps were cut
    grids: dict[int, OccupancyGrid]  # one per level
    routes: RouteGraph
    levels: dict[int, str] = field(default_factory=lambda: {0: "ground"})
    waypoints: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    lifts: dict[str, Lift] = field(default_factory=dict)
    mutex_groups: dict[str, MutexGroup] = field(default_factory=dict)
    stairs: list[Stairs] = field(default_factory=list)
    # Zones by square bucket of the floor, smallest first within a bucket: zone_at (asked for every
    # moving robot every tick) scans only the few zones whose bounding box touches the point's
    # bucket, and its first match is the most specific zone.
    _zone_buckets: dict[tuple[int, int, int], list[tuple[tuple[float, float, float, float], Zone]]] = field(
        init=False, repr=False)
    _groups_by_node: dict[str, tuple[str, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        buckets: dict[tuple[int, int, int], list[tuple[tuple[float, float, float, float], Zone]]] = {}
        for zone in sorted(self.zones, key=lambda z: (z.area_m2, z.name)):
            xmin, ymin, xmax, ymax = zone.bbox_m
            for bx in range(_bucket(xmin), _bucket(xmax) + 1):
                for by in range(_bucket(ymin), _bucket(ymax) + 1):
                    buckets.setdefault((zone.level, bx, by), []).append((zone.bbox_m, zone))
        object.__setattr__(self, "_zone_buckets", buckets)
        by_node: dict[str, list[str]] = {}
        for group in sorted(self.mutex_groups.values(), key=lambda g: g.name):
            for node in group.nodes:
                by_node.setdefault(node, []).append(group.name)
        object.__setattr__(self, "_groups_by_node", {n: tuple(g) for n, g in by_node.items()})

    @property
    def grid(self) -> OccupancyGrid:
        """The ground floor's grid (level 0, or the lowest level there is)."""
        return self.grids[0] if 0 in self.grids else self.grids[min(self.grids)]

    def level_of(self, place: str) -> int:
        """The level a place or route node lies on."""
        if place in self.places:
            return self.places[place].level
        return self.routes.level_of(place) if place in self.routes else self.place(place).level

    def groups_of_node(self, node: str) -> tuple[str, ...]:
        """Names of the mutex groups a route node lies inside (sorted; empty for most nodes)."""
        return self._groups_by_node.get(node, ())

    def place(self, name: str) -> Place:
        """The named place; KeyError with close matches when unknown."""
        if name not in self.places:
            close = difflib.get_close_matches(name, list(self.places), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise KeyError(f"{self.source}: unknown place {name!r}{hint}")
        return self.places[name]

    def beds(self, ward: str | None = None) -> list[Place]:
        return sorted(
            (p for p in self.places.values() if p.kind == "bed" and (ward is None or p.ward == ward)),
            key=lambda p: p.name,
        )

    def wards(self) -> list[str]:
        return sorted({p.ward for p in self.places.values() if p.kind == "bed" and p.ward})

    def docks(self) -> list[Place]:
        return sorted((p for p in self.places.values() if p.kind == "dock"), key=lambda p: p.name)

    def zone_at(self, x_m: float, y_m: float, level: int = 0) -> Zone | None:
        """The most specific (smallest) zone containing the point: a charging bay inside a ward
        answers as the charging bay."""
        for (xmin, ymin, xmax, ymax), zone in self._zone_buckets.get((level, _bucket(x_m), _bucket(y_m)), ()):
            if xmin <= x_m <= xmax and ymin <= y_m <= ymax and zone.contains(x_m, y_m):
                return zone
        return None

    def speed_limit_at_mps(self, x_m: float, y_m: float, level: int = 0, default_mps: float = 1.2) -> float:
        zone = self.zone_at(x_m, y_m, level)
        return zone.speed_limit_mps if zone is not None else default_mps

    def route_distance_m(self, pose: Pose2D, place: str) -> float:
        """Route length a robot drives from a pose to a place; inf when unreachable
        (hal.site_map.SiteMap; the battery reserve uses it).

        On another floor: the drive into the car of the lift that makes it shortest, plus the drive
        out of that lift's car on the place's floor (riding costs no driving)."""
        return min((drive_m for _, drive_m in self._legs(pose, place)), default=math.inf)

    def route_time_s(self, pose: Pose2D, place: str, *, speed_mps: float = 1.0) -> float:
        """Expected seconds to get from a pose to a place driving at `speed_mps`, with the lift's
        expected wait and ride on another floor (`sim.world_floors.lift_ride_s`: the wait is half a
        round trip of the shaft); the best lift by this time. inf when unreachable."""
        best = math.inf
        for lift, drive_m in self._legs(pose, place):
            ride_s = 0.0 if lift is None else lift_ride_s(lift, pose.level, self.routes.level_of(place))
            best = min(best, drive_m / speed_mps + ride_s)
        return best

    def lifts_between(self, from_level: int, to_level: int) -> list[Lift]:
        """Lifts serving both floors, by name."""
        return [lift for _, lift in sorted(self.lifts.items())
                if from_level in lift.levels and to_level in lift.levels]

    def _same_floor_m(self, x_m: float, y_m: float, level: int, place: str) -> float:
        try:
            return self.routes.path_length_m(x_m, y_m, place, level)
        except NoRoute:
            if place not in self.routes:
                raise
            return math.inf

    def _legs(self, pose: Pose2D, place: str) -> list[tuple[Lift | None, float]]:
        """(lift or None on the same floor, drive length) for every way to the place."""
        if place not in self.routes:
            self.routes.plan(pose.x_m, pose.y_m, place, pose.level)  # raises NoRoute naming the goal
        level = self.routes.level_of(place)
        if level == pose.level:
            return [(None, self._same_floor_m(pose.x_m, pose.y_m, pose.level, place))]
        legs: list[tuple[Lift | None, float]] = []
        start: str | None = None  # found once: on a connected floor every lift's car is reached from it
        for lift in self.lifts_between(pose.level, level):
            car = lift.cars[pose.level]
            try:
                if start is None or not math.isfinite(self._node_distance_m(start, car)):
                    start = self.routes.start_node(pose.x_m, pose.y_m, car, pose.level)
                start_x, start_y = self.routes.pos(start)
                into_m = math.hypot(start_x - pose.x_m, start_y - pose.y_m) + self.routes.distance_m(start, car)
            except NoRoute:
                into_m = math.inf
            legs.append((lift, into_m + self._node_distance_m(lift.cars[level], place)))
        return legs

    def _node_distance_m(self, a: str, b: str) -> float:
        try:
            return self.routes.distance_m(a, b)
        except NoRoute:
            return math.inf

    def nearest_place(
        self,
        x_m: float,
        y_m: float,
        *,
        kind: str | None = None,
        max_distance_m: float = math.inf,
        level: int = 0,
    ) -> Place | None:
        best: Place | None = None
        best_d = max_distance_m
        for p in sorted(self.places.values(), key=lambda p: p.name):  # sorted: ties break by name
            if p.level != level or (kind is not None and p.kind != kind):
                continue
            d = math.hypot(p.x_m - x_m, p.y_m - y_m)
            if d <= best_d and (best is None or d < best_d):
                best, best_d = p, d
        return best

    def bounds_m(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of walls, places and zones on every level."""
        xs: list[float] = []
        ys: list[float] = []
        for w in self.walls:
            xs += [w.a[0], w.b[0]]
            ys += [w.a[1], w.b[1]]
        for p in self.places.values():
            xs.append(p.x_m)
            ys.append(p.y_m)
        for z in self.zones:
            xs += [q[0] for q in z.polygon_m]
            ys += [q[1] for q in z.polygon_m]
        if not xs:
            return (0.0, 0.0, 0.0, 0.0)
        return (min(xs), min(ys), max(xs), max(ys))


# -- loading ---------------------------------------------------------------------------------


def default_world_path() -> Path:
    return Path(__file__).resolve().parent / "worlds" / "default_hospital.yaml"


def load_default_world() -> World:
    """The default hospital: three floors joined by two lifts."""
    return load_world(default_world_path())


def one_floor_world_path() -> Path:
    return Path(__file__).resolve().parent / "worlds" / "one_floor_hospital.yaml"


def load_one_floor_world() -> World:
    """The one-floor hospital (a scenario option: `world: one_floor_hospital`)."""
    return load_world(one_floor_world_path())


def load_world(path: str | Path, *, resolution_m: float | None = None) -> World:
    """Load and validate a world file. `resolution_m` overrides the file's `grid_resolution_m`."""
    source = str(path)
    raw = _read_yaml(Path(path), source)
    try:
        spec = WorldSpec.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise _from_validation_error(source, exc) from None
    return _build(spec, source, resolution_m)


def _read_yaml(path: Path, source: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorldError(source, "", f"cannot read world file: {exc.strerror or exc}") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is ~10× faster
    try:
        raw = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "YAML"
        raise WorldError(source, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise WorldError(source, "", f"a world file is a YAML mapping, got {type(raw).__name__}")
    return raw


def _loc_to_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _from_validation_error(source: str, exc: pydantic.ValidationError) -> WorldError:
    problems = []
    for err in exc.errors(include_url=False):
        msg = err["msg"]
        if err["type"] != "missing" and "input" in err and not isinstance(err["input"], dict | list):
            msg += f" (got {err['input']!r})"
        problems.append((_loc_to_path(err["loc"]), msg))
    first_path, first_msg = problems[0]
    more = "".join(f"\n  {source}: {p}: {m}" for p, m in problems[1:8])
    return WorldError(source, first_path, first_msg + more)


def _build(spec: WorldSpec, source: str, resolution_override: float | None) -> World:
    def fail(field_path: str, problem: str) -> WorldError:
        return WorldError(source, field_path, problem)

    levels = {lv.index: lv.name for lv in spec.levels}

    def check_level(level: int, field_path: str) -> None:
        if level not in levels:
            raise fail(field_path, f"unknown level {level} (accepted: {', '.join(map(str, sorted(levels)))})")

    zones: list[Zone] = []
    for i, z in enumerate(spec.zones):
        check_level(z.level, f"zones[{i}].level")
        if any(other.name == z.name for other in zones):
            raise fail(f"zones[{i}].name", f"duplicate zone name {z.name!r}")
        zones.append(Zone(z.name, z.tag, z.polygon_points(), z.speed_limit_mps, z.level))
    zone_by_name = {z.name: z for z in zones}
    ward_zones = sorted(z.name for z in zones if z.tag in WARD_TAGS)

    raw_walls: list[Wall] = []
    for i, w in enumerate(spec.walls):
        check_level(w.level, f"walls[{i}].level")
        thickness = w.thickness_m if w.thickness_m is not None else spec.wall_thickness_m
        pts = list(w.points) + ([w.points[0]] if w.closed else [])
        raw_walls += [Wall(a, b, thickness, w.level) for a, b in itertools.pairwise(pts)]

    def zone_of(x_m: float, y_m: float, level: int) -> str | None:
        containing = [z for z in zones if z.level == level and z.contains(x_m, y_m)]
        return min(containing, key=lambda z: (z.area_m2, z.name)).name if containing else None

    node_origin: dict[str, str] = {}  # node name → field path that declared it, for duplicate errors
    nodes: dict[str, tuple[float, float, int]] = {}
    places: dict[str, Place] = {}
    bed_ids: dict[str, str] = {}
    for i, p in enumerate(spec.places):
        at = f"places[{i}]"
        if p.name in node_origin:
            raise fail(f"{at}.name", f"duplicate name {p.name!r} (already {node_origin[p.name]})")
        check_level(p.level, f"{at}.level")
        if p.kind in GENERATED_KINDS:
            raise fail(f"{at}.kind", f"kind {p.kind!r} is generated for a lift's levels (see lifts:), not declared")
        if p.kind == "bed":
            for attr in ("ward", "bed_id"):
                if getattr(p, attr) is None:
                    raise fail(f"{at}.{attr}", "required for kind 'bed'")
            if p.ward not in ward_zones:
                raise fail(f"{at}.ward", f"unknown ward {p.ward!r} (accepted: {', '.join(ward_zones)})")
            assert p.bed_id is not None
            if p.bed_id in bed_ids:
                raise fail(f"{at}.bed_id", f"duplicate bed_id {p.bed_id!r} (already {bed_ids[p.bed_id]})")
            bed_ids[p.bed_id] = at
        zone_name = p.zone
        if zone_name is not None and zone_name not in zone_by_name:
            raise fail(f"{at}.zone", f"unknown zone {zone_name!r} (accepted: {', '.join(sorted(zone_by_name))})")
        if zone_name is None:
            zone_name = zone_of(p.x, p.y, p.level)
        places[p.name] = Place(
            p.name, p.x, p.y, math.radians(p.yaw_deg), p.level, p.kind, zone_name, p.ward, p.bed_id
        )
        node_origin[p.name] = at
        nodes[p.name] = (p.x, p.y, p.level)

    waypoints: dict[str, tuple[float, float, int]] = {}
    for i, wp in enumerate(spec.routes.waypoints):
        at = f"routes.waypoints[{i}]"
        if wp.name in node_origin:
            raise fail(f"{at}.name", f"duplicate name {wp.name!r} (already {node_origin[wp.name]})")
        check_level(wp.level, f"{at}.level")
        node_origin[wp.name] = at
        nodes[wp.name] = waypoints[wp.name] = (wp.x, wp.y, wp.level)

    def check_node(name: str, field_path: str) -> None:
        if name not in nodes:
            close = difflib.get_close_matches(name, list(nodes), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise fail(field_path, f"unknown node {name!r}: not a place or routes.waypoints name{hint}")

    edges: list[tuple[str, str, bool, str | None]] = []
    for i, e in enumerate(spec.routes.edges):
        for j, name in enumerate(e.path):
            check_node(name, f"routes.edges[{i}].path[{j}]")
        check_single_floor_edges(
            ((a, b, f"routes.edges[{i}].path[{j + 1}]") for j, (a, b) in enumerate(itertools.pairwise(e.path))),
            nodes, fail)
        edges += [(a, b, e.bidirectional, None) for a, b in zip(e.path, e.path[1:], strict=False)]

    doors: dict[str, Door] = {}
    walls = raw_walls
    for i, d in enumerate(spec.doors):
        at = f"doors[{i}]"
        if d.name in doors:
            raise fail(f"{at}.name", f"duplicate door name {d.name!r}")
        check_level(d.level, f"{at}.level")
        for j, name in enumerate(d.between):
            check_node(name, f"{at}.between[{j}]")
            if nodes[name][2] != d.level:
                raise fail(f"{at}.between[{j}]", f"node {name!r} is on level {nodes[name][2]}, the door on "
                                                 f"level {d.level}")
        if d.at is not None:
            walls, cut = _cut_door(walls, d.at, d.width_m, d.level)
            if not cut:
                raise fail(f"{at}.at", f"{d.at} is not on any wall of level {d.level}")
        doors[d.name] = Door(
            d.name, d.between[0], d.between[1], d.auto,
            d.at[0] if d.at else None, d.at[1] if d.at else None, d.width_m, d.level, d.fire,
        )
        edges.append((d.between[0], d.between[1], True, d.name))

    lift_parts = build_lifts(spec.lifts, levels=levels, nodes=nodes, wall_thickness_m=spec.wall_thickness_m,
                             zone_of=zone_of, fail=fail)
    for door in lift_parts.doors:  # a wall drawn along the shaft's face gets the landing door's gap too
        assert door.x_m is not None and door.y_m is not None
        walls, _ = _cut_door(walls, (door.x_m, door.y_m), door.width_m, door.level)
        doors[door.name] = door
    walls = walls + lift_parts.walls
    for place in lift_parts.places:
        places[place.name] = place
        nodes[place.name] = (place.x_m, place.y_m, place.level)
    edges += lift_parts.edges
    declared_edges = list(edges)
    passages: dict[str, tuple[str, str]] = {}
    if spec.traffic is not None and spec.traffic.door_groups:
        edges, passage_nodes, passages = split_door_edges(edges, doors, nodes, spec.traffic.door_passage_m)
        for name, node in passage_nodes.items():
            if name in nodes:
                raise fail("traffic.door_groups", f"generated passage node {name!r} clashes with a name already used")
            nodes[name] = waypoints[name] = node
    mutex_groups = build_groups(spec.traffic, lifts=lift_parts.lifts, places=places, doors=doors,
                                passages=passages, declared_edges=declared_edges, nodes=nodes, fail=fail)
    stairs = []
    for i, st in enumerate(spec.stairs):
        for j, level in enumerate(st.levels):
            check_level(level, f"stairs[{i}].levels[{j}]")
        x0, y0, x1, y1 = st.rect
        stairs.append(Stairs(st.name, (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0, tuple(sorted(st.levels))))

    resolution = resolution_override if resolution_override is not None else spec.grid_resolution_m
    if resolution <= 0:
        raise fail("grid_resolution_m", f"must be > 0, got {resolution}")
    grids = {level: _grid_for_level(walls, zones, nodes, level, resolution) for level in levels}
    routes = RouteGraph.build(nodes, edges, grids)
    return World(spec.name, source, places, doors, zones, walls, grids, routes, levels, waypoints,
                 lift_parts.lifts, mutex_groups, stairs)


def _grid_for_level(
    walls: list[Wall], zones: list[Zone], nodes: dict[str, tuple[float, float, int]], level: int,
    resolution_m: float,
) -> OccupancyGrid:
    pts: list[Point] = [p for w in walls if w.level == level for p in (w.a, w.b)]
    pts += [q for z in zones if z.level == level for q in z.polygon_m]
    pts += [(x, y) for x, y, lv in nodes.values() if lv == level]
    if not pts:
        pts = [(0.0, 0.0)]
    margin = 1.0  # rays and robots at the outer wall still have cells beyond it
    bounds = (
        min(p[0] for p in pts) - margin, min(p[1] for p in pts) - margin,
        max(p[0] for p in pts) + margin, max(p[1] for p in pts) + margin,
    )
    return OccupancyGrid.from_walls([w for w in walls if w.level == level], resolution_m, bounds)


def _cut_door(walls: list[Wall], at: Point, width_m: float, level: int) -> tuple[list[Wall], bool]:
    """Remove a `width_m` gap centred on `at` from every wall it sits on."""
    out: list[Wall] = []
    cut = False
    for w in walls:
        length = w.length_m
        if w.level != level or length == 0:
            out.append(w)
            continue
        ux, uy = (w.b[0] - w.a[0]) / length, (w.b[1] - w.a[1]) / length
        rx, ry = at[0] - w.a[0], at[1] - w.a[1]
        along = rx * ux + ry * uy
        across = abs(rx * uy - ry * ux)
        if across > w.thickness_m / 2 + _DOOR_SNAP_M or not 0 <= along <= length:
            out.append(w)
            continue
        cut = True
        for t0, t1 in ((0.0, along - width_m / 2), (along + width_m / 2, length)):
            if t1 - t0 > 1e-6:
                a = (w.a[0] + ux * t0, w.a[1] + uy * t0)
                b = (w.a[0] + ux * t1, w.a[1] + uy * t1)
                out.append(Wall(a, b, w.thickness_m, w.level))
    return out, cut
