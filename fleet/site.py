"""The site as the fleet plans on it: places and the route graph, from the map JSON.

The map file is the one the dashboard draws (`python -m sim.world_export world.yaml > map.json`,
format ``medbot.map/1``; a real site exports its own): the fleet needs only places (name, kind,
position, level, zone/ward) and the route graph (`routes.nodes`, `routes.edges` with lengths).
Travel estimates are shortest route lengths (networkx Dijkstra), cached per source node; a pose is
taken to its nearest route node on the same level (straight-line, a planning estimate: the robot's
own navigator finds the real path).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

MAP_FORMAT = "medbot.map/1"


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


class SiteMap:
    def __init__(self, name: str, places: dict[str, SitePlace], graph: nx.Graph) -> None:
        self.name = name
        self.places = places
        self.graph = graph
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

    def distance_m(self, a: str, b: str) -> float:
        """Route length between two route nodes (places are nodes); inf when unreachable."""
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
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SiteError):
            raise
        raise SiteError(f"{source}: malformed map ({type(exc).__name__}: {exc})") from None
    return SiteMap(str(data.get("name", "site")), places, graph)


def load_site(path: str | Path) -> SiteMap:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SiteError(f"no site map at {path}") from None
    except json.JSONDecodeError as exc:
        raise SiteError(f"{path}: not JSON ({exc})") from None
    return site_from_json(data, str(path))
