"""The site as the fleet plans on it: places and the route graph, from the map JSON.

The map file is the one the dashboard draws (`python -m sim.world_export world.yaml > map.json`,
format ``medbot.map/1``; a real site exports its own): the fleet needs only places (name, kind,
position, level, zone/ward) and the route graph (`routes.nodes`, `routes.edges` with lengths).
Travel estimates are shortest route lengths (networkx Dijkstra), cached per source node; a pose is
taken to its nearest route node on the same level (straight-line, a planning estimate: the robot's
own navigator finds the real path).

A building of several floors: no route edge joins two floors, so a distance between places on
different floors goes through the best lift serving both — the drive into its car, plus the lift
trip counted as `LIFT_EQUIVALENT_MPS` × its expected seconds (`lift_ride_s`: half a round trip of
the shaft as the wait, three door movements, the travel), plus the drive out of its car. The map's
optional `mutex_groups` are the traffic resources `fleet.traffic` reserves (`groups_of_node`).
Maps without `lifts` or `mutex_groups` (older `medbot.map/1` files) read as before.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

MAP_FORMAT = "medbot.map/1"
# A lift trip costs as many metres as a robot drives in the same time: distances stay one currency
# for the allocator and the battery check, and a walk on one floor beats a lift trip of equal time.
LIFT_EQUIVALENT_MPS = 1.0


class SiteError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class SitePlace:
    name: str
    kind: str
    x_m: float
    y_m: float
    level: int
    zone: str | None
    ward: str | None
    bed_id: str | None


@dataclass(frozen=True, slots=True)
class SiteLift:
    name: str
    x_m: float
    y_m: float
    levels: tuple[int, ...]  # floors served, ascending
    lobbies: dict[int, str]  # level → lobby place
    cars: dict[int, str]  # level → car place
    doors: dict[int, str]  # level → landing door
    travel_s_per_level: float = 5.0
    door_s: float = 3.0
    dwell_s: float = 6.0


@dataclass(frozen=True, slots=True)
class SiteMutexGroup:
    name: str
    kind: str  # "door" | "lane" | "lift" | "charger" | "anteroom"
    nodes: frozenset[str]  # route nodes inside; a robot at or between them holds the group
    level: int


def lift_ride_s(lift: SiteLift, from_level: int, to_level: int) -> float:
    """Expected seconds from calling the lift to standing on `to_level` with the doors open: the car
    may be anywhere, so the wait is half a round trip of the shaft; then three door movements (open,
    close, open) and the travel. The same estimate as `sim.world_floors.lift_ride_s`."""
    span = max(lift.levels) - min(lift.levels)
    return span * lift.travel_s_per_level + 3 * lift.door_s + abs(to_level - from_level) * lift.travel_s_per_level


class SiteMap:
    def __init__(self, name: str, places: dict[str, SitePlace], graph: nx.Graph, *,
                 lifts: dict[str, SiteLift] | None = None,
                 mutex_groups: dict[str, SiteMutexGroup] | None = None,
                 fire_doors: Iterable[str] = ()) -> None:
        self.name = name
        #: the doors that close when the fire alarm rings (the map's doors marked `fire`)
        self.fire_doors = frozenset(fire_doors)
        self._within_fire_doors_m: dict[str, dict[str, float]] = {}
        self.places = places
        self.graph = graph
        self.lifts = dict(lifts or {})
        self.mutex_groups = dict(mutex_groups or {})
        by_node: dict[str, list[str]] = {}
        for group_name in sorted(self.mutex_groups):
            for node in self.mutex_groups[group_name].nodes:
                by_node.setdefault(node, []).append(group_name)
        self._groups_by_node = {node: tuple(names) for node, names in by_node.items()}
        self._cross_floor_m: dict[tuple[str, str], float] = {}
        self._lengths: dict[str, dict[str, float]] = {}
        self._nodes_by_level: dict[int, list[tuple[str, float, float]]] = {}
        for node, data in sorted(graph.nodes(data=True)):
            self._nodes_by_level.setdefault(int(data["level"]), []).append((node, data["x_m"], data["y_m"]))
        self._nearest_cache: dict[tuple[int, int, int], str] = {}
        self._chargers = self.places_of_kind("dock")
        self._to_charger_m: dict[str, float] = {}

    # ---- places -----------------------------------------------------------------------------

    def place(self, name: str) -> SitePlace:
        try:
            return self.places[name]
        except KeyError:
            raise SiteError(f"unknown place {name!r} on site map {self.name!r}") from None

    def places_of_kind(self, *kinds: str) -> list[SitePlace]:
        return sorted((p for p in self.places.values() if p.kind in kinds), key=lambda p: p.name)

    def beds(self, ward: str | None = None) -> list[SitePlace]:
        return sorted((p for p in self.places.values() if p.kind == "bed" and (ward is None or p.ward == ward)),
                      key=lambda p: p.name)

    def wards(self) -> list[str]:
        return sorted({p.ward for p in self.places.values() if p.kind == "bed" and p.ward})

    def chargers(self) -> list[SitePlace]:
        return list(self._chargers)

    def to_nearest_charger_m(self, node: str) -> float:
        """Route length from a node to its nearest charger (cached: asked per task and robot in every
        allocation round for the battery check)."""
        cached = self._to_charger_m.get(node)
        if cached is None:
            cached = min((self.distance_m(node, c.name) for c in self._chargers if c.name in self.graph),
                         default=0.0)
            self._to_charger_m[node] = cached
        return cached

    def zone_of(self, place: str) -> str | None:
        p = self.places.get(place)
        return None if p is None else (p.ward or p.zone)

    # ---- travel -----------------------------------------------------------------------------

    def nearest_node(self, x_m: float, y_m: float, level: int = 0) -> str:
        key = (level, round(x_m), round(y_m))  # a metre's precision is plenty for an estimate
        cached = self._nearest_cache.get(key)
        if cached is not None:
            return cached
        candidates = self._nodes_by_level.get(level) or self._nodes_by_level.get(min(self._nodes_by_level))
        assert candidates, "a site map has at least one route node"
        best = min(candidates, key=lambda n: ((n[1] - x_m) ** 2 + (n[2] - y_m) ** 2, n[0]))[0]
        if len(self._nearest_cache) < 100_000:
            self._nearest_cache[key] = best
        return best

    def level_of(self, node: str) -> int:
        if node not in self.graph:
            raise SiteError(f"unknown route node {node!r} on site map {self.name!r}")
        return int(self.graph.nodes[node]["level"])

    def groups_of_node(self, node: str) -> tuple[str, ...]:
        """The mutex groups a route node lies inside, sorted by name (empty for most nodes)."""
        return self._groups_by_node.get(node, ())

    def distance_m(self, a: str, b: str) -> float:
        """Route length between two route nodes (places are nodes); inf when unreachable. Between
        floors: via the best lift, its trip counted as metres (see the module docstring)."""
        if a == b:
            return 0.0
        if not self.lifts or b not in self.graph or self.level_of(a) == self.level_of(b):
            return self._same_floor_m(a, b)  # an unknown `b` is unreachable (inf), as ever
        cached = self._cross_floor_m.get((a, b))
        if cached is None:
            best = self.lift_between(a, b)
            cached = math.inf if best is None else best[1] + best[2] * LIFT_EQUIVALENT_MPS
            if len(self._cross_floor_m) < 100_000:
                self._cross_floor_m[(a, b)] = cached
        return cached

    def lift_between(self, a: str, b: str) -> tuple[SiteLift, float, float] | None:
        """For nodes on different floors: (the lift, drive metres, expected lift seconds) of the way
        with the least cost; None when no lift serving both floors joins them."""
        level_a, level_b = self.level_of(a), self.level_of(b)
        best: tuple[float, SiteLift, float, float] | None = None
        for _, lift in sorted(self.lifts.items()):
            if level_a not in lift.cars or level_b not in lift.cars:
                continue
            drive_m = self._same_floor_m(a, lift.cars[level_a]) + self._same_floor_m(lift.cars[level_b], b)
            ride_s = lift_ride_s(lift, level_a, level_b)
            cost = drive_m + ride_s * LIFT_EQUIVALENT_MPS
            if math.isfinite(cost) and (best is None or cost < best[0]):
                best = (cost, lift, drive_m, ride_s)
        return None if best is None else (best[1], best[2], best[3])

    def _same_floor_m(self, a: str, b: str) -> float:
        if a == b:
            return 0.0
        lengths = self._lengths.get(a)
        if lengths is None:
            if a not in self.graph:
                raise SiteError(f"unknown route node {a!r} on site map {self.name!r}")
            lengths = nx.single_source_dijkstra_path_length(self.graph, a, weight="length_m")
            self._lengths[a] = lengths
        return float(lengths.get(b, math.inf))

    def distance_from_pose_m(self, x_m: float, y_m: float, level: int, place: str) -> float:
        node = self.nearest_node(x_m, y_m, level)
        n = self.graph.nodes[node]
        return math.hypot(n["x_m"] - x_m, n["y_m"] - y_m) + self.distance_m(node, place)

    def within_fire_doors_m(self, x_m: float, y_m: float, level: int, place: str) -> float:
        """Route length from a pose to `place` on its floor without passing a fire door (inf when
        the only way is through one): during an alarm the fire doors are shut."""
        node = self.nearest_node(x_m, y_m, level)
        lengths = self._within_fire_doors_m.get(node)
        if lengths is None:
            graph, shut = self.graph, self.fire_doors
            view = nx.subgraph_view(graph, filter_edge=lambda a, b: graph[a][b].get("door") not in shut)
            lengths = nx.single_source_dijkstra_path_length(view, node, weight="length_m")
            self._within_fire_doors_m[node] = lengths
        n = self.graph.nodes[node]
        return math.hypot(n["x_m"] - x_m, n["y_m"] - y_m) + float(lengths.get(place, math.inf))


def _fire_doors_from_json(rows: list[dict[str, Any]]) -> list[str]:
    return [str(row["name"]) for row in rows if row.get("fire")]


def site_from_json(data: dict[str, Any], source: str = "map") -> SiteMap:
    if data.get("format") != MAP_FORMAT:
        raise SiteError(f"{source}: format must be {MAP_FORMAT!r}, got {data.get('format')!r}")
    routes = data.get("routes")
    if not isinstance(routes, dict) or not routes.get("nodes"):
        raise SiteError(f"{source}: no route graph (routes.nodes); export the map with `python -m sim.world_export`")
    graph = nx.Graph()
    try:
        for node in routes["nodes"]:
            graph.add_node(str(node["name"]), x_m=float(node["x_m"]), y_m=float(node["y_m"]),
                           level=int(node.get("level", 0)))
        for i, edge in enumerate(routes.get("edges", [])):
            a, b = str(edge["from"]), str(edge["to"])
            if a not in graph or b not in graph:
                raise SiteError(f"{source}: routes.edges[{i}] joins an unknown node ({a!r} - {b!r})")
            graph.add_edge(a, b, length_m=float(edge["length_m"]), door=edge.get("door"))
        places = {
            str(p["name"]): SitePlace(str(p["name"]), str(p["kind"]), float(p["x_m"]), float(p["y_m"]),
                                      int(p.get("level", 0)), p.get("zone"), p.get("ward"), p.get("bed_id"))
            for p in data.get("places", [])
        }
        lifts = _lifts_from_json(data.get("lifts") or [], graph, source)
        groups = _groups_from_json(data.get("mutex_groups") or [], graph, source)
        fire_doors = _fire_doors_from_json(data.get("doors") or [])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, SiteError):
            raise
        raise SiteError(f"{source}: malformed map ({type(exc).__name__}: {exc})") from None
    return SiteMap(str(data.get("name", "site")), places, graph, lifts=lifts, mutex_groups=groups,
                   fire_doors=fire_doors)


def _lifts_from_json(rows: list[dict[str, Any]], graph: nx.Graph, source: str) -> dict[str, SiteLift]:
    lifts: dict[str, SiteLift] = {}
    for i, row in enumerate(rows):
        per_level = {key: {int(level): str(name) for level, name in row[key].items()}
                     for key in ("lobbies", "cars", "doors")}
        for key in ("lobbies", "cars"):
            for level, node in per_level[key].items():
                if node not in graph:
                    raise SiteError(f"{source}: lifts[{i}].{key}.{level}: unknown route node {node!r}")
        lift = SiteLift(str(row["name"]), float(row["x_m"]), float(row["y_m"]),
                        tuple(sorted(int(v) for v in row["levels"])), per_level["lobbies"], per_level["cars"],
                        per_level["doors"], float(row.get("travel_s_per_level", 5.0)), float(row.get("door_s", 3.0)),
                        float(row.get("dwell_s", 6.0)))
        lifts[lift.name] = lift
    return lifts


def _groups_from_json(rows: list[dict[str, Any]], graph: nx.Graph, source: str) -> dict[str, SiteMutexGroup]:
    groups: dict[str, SiteMutexGroup] = {}
    for i, row in enumerate(rows):
        nodes = frozenset(str(n) for n in row["nodes"])
        unknown = sorted(n for n in nodes if n not in graph)
        if unknown:
            raise SiteError(f"{source}: mutex_groups[{i}].nodes: unknown route node {unknown[0]!r}")
        group = SiteMutexGroup(str(row["name"]), str(row["kind"]), nodes, int(row.get("level", 0)))
        groups[group.name] = group
    return groups


def load_site(path: str | Path) -> SiteMap:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SiteError(f"no site map at {path}") from None
    except json.JSONDecodeError as exc:
        raise SiteError(f"{path}: not JSON ({exc})") from None
    return site_from_json(data, str(path))
