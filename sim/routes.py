"""Route graph of a hospital: named nodes (waypoints and places) joined by straight edges.

Robots in the simulator follow these routes the way Nav2 follows a route server's graph. Edge
weights are lengths computed from coordinates, never typed in, so they cannot drift from the map.
Shortest paths are cached per source node: the battery reserve asks "how far to my dock" every
tick, and the graph does not change once loaded.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterable, Iterator, Sequence

import networkx as nx
import numpy as np
import numpy.typing as npt

from sim.occupancy import OccupancyGrid

Point = tuple[float, float]

# How many of the nearest nodes to try for line of sight before giving up on walls, and how
# many to check at once.
_NEAREST_CANDIDATES = 12
_LOS_CHUNK = 3


class NoRoute(ValueError):
    """No path exists, or a named node is unknown."""


def polyline_length_m(points: Sequence[Point]) -> float:
    return float(sum(math.dist(a, b) for a, b in itertools.pairwise(points)))


def passable(graph: nx.DiGraph, shut_doors: Collection[str]) -> nx.DiGraph:
    """The route graph without the edges through `shut_doors` (the graph itself when none are)."""
    if not shut_doors:
        return graph
    view: nx.DiGraph = nx.subgraph_view(graph, filter_edge=lambda a, b: graph[a][b]["door"] not in shut_doors)
    return view


class RouteGraph:
    """A directed networkx graph; a bidirectional edge is stored as two arcs.

    Node attributes: `pos` (x_m, y_m), `level`. Edge attributes: `length_m`, `door` (name or None).
    Pass the level's occupancy grids so that `nearest_node` skips nodes behind a wall.
    """

    def __init__(self, graph: nx.DiGraph, grids: dict[int, OccupancyGrid] | None = None) -> None:
        self.graph = graph
        self._grids = grids or {}
        self._by_level: dict[int, tuple[list[str], np.ndarray]] = {}
        for level in sorted({int(d["level"]) for _, d in graph.nodes(data=True)}):
            names = sorted(n for n, d in graph.nodes(data=True) if int(d["level"]) == level)
            xy = np.array([graph.nodes[n]["pos"] for n in names], dtype=np.float64).reshape(-1, 2)
            self._by_level[level] = (names, xy)
        self._lengths: dict[str, dict[str, float]] = {}
        self._paths: dict[str, dict[str, list[str]]] = {}
        self._at: dict[Point, list[str]] | None = None  # position → the nodes there (`names_at`)

    @classmethod
    def build(
        cls,
        nodes: dict[str, tuple[float, float, int]],
        edges: Iterable[tuple[str, str, bool, str | None]],
        grids: dict[int, OccupancyGrid] | None = None,
    ) -> RouteGraph:
        """`nodes`: name → (x_m, y_m, level); `edges`: (a, b, bidirectional, door name or None)."""
        graph = nx.DiGraph()
        for name, (x, y, level) in nodes.items():
            graph.add_node(name, pos=(float(x), float(y)), level=int(level))
        for a, b, bidirectional, door in edges:
            length = math.dist(graph.nodes[a]["pos"], graph.nodes[b]["pos"])
            graph.add_edge(a, b, length_m=length, door=door)
            if bidirectional:
                graph.add_edge(b, a, length_m=length, door=door)
        return cls(graph, grids)

    # -- queries ----------------------------------------------------------------------------

    def __contains__(self, name: object) -> bool:
        return name in self.graph

    def pos(self, name: str) -> Point:
        self._require(name)
        x, y = self.graph.nodes[name]["pos"]
        return (float(x), float(y))

    def level_of(self, name: str) -> int:
        self._require(name)
        return int(self.graph.nodes[name]["level"])

    def position(self, name: str) -> Point:
        """Alias of `pos`, the spelling `sim.site_map` uses."""
        return self.pos(name)

    def nearest_node(self, x_m: float, y_m: float, level: int = 0) -> str:
        """Nearest node on `level` in line of sight (when a grid is known), else the nearest."""
        for name in self._nearest_candidates(x_m, y_m, level):
            return name
        raise NoRoute(f"no route nodes on level {level}")

    def shortest_path(self, from_node: str, to_node: str) -> list[str]:
        self._require(from_node)
        self._require(to_node)
        paths = self._from(from_node)[1]
        if to_node not in paths:
            raise NoRoute(f"no route from {from_node!r} to {to_node!r}")
        return list(paths[to_node])

    def distance_m(self, from_place: str, to_place: str) -> float:
        """Shortest route length between two nodes (places or waypoints); NoRoute if unreachable."""
        self._require(from_place)
        self._require(to_place)
        lengths = self._from(from_place)[0]
        if to_place not in lengths:
            raise NoRoute(f"no route from {from_place!r} to {to_place!r}")
        return lengths[to_place]

    def plan(self, start_x_m: float, start_y_m: float, goal_place: str, level: int = 0, *,
             shut_doors: Collection[str] = ()) -> list[Point]:
        """Waypoints from the nearest node that can reach the goal to the goal's coordinates.

        The robot's own position is not included: drive to the first waypoint, then follow.
        `shut_doors`: doors that cannot be passed (fire doors the alarm closed): their edges are left out.
        """
        start = self.start_node(start_x_m, start_y_m, goal_place, level, shut_doors=shut_doors)
        return [self.pos(n) for n in self._from(start, shut_doors)[1][goal_place]]

    def start_node(self, start_x_m: float, start_y_m: float, goal_place: str, level: int = 0, *,
                   shut_doors: Collection[str] = ()) -> str:
        """The node `plan` starts from: the nearest in line of sight that can reach the goal."""
        self._require(goal_place, what="goal")
        for start in self._nearest_candidates(start_x_m, start_y_m, level):
            if goal_place in self._from(start, shut_doors)[1]:
                return start
        through = f" with {', '.join(sorted(shut_doors))} shut" if shut_doors else ""
        raise NoRoute(
            f"no route to {goal_place!r} from ({start_x_m:.2f}, {start_y_m:.2f}) on level {level}{through}"
        )

    def passes_door(self, nodes: Sequence[str | None], doors: Collection[str]) -> str | None:
        """The first of `doors` that the path through `nodes` (None: not a node) passes, or None."""
        graph = self.graph
        for a, b in itertools.pairwise(nodes):
            if a is not None and b is not None and graph.has_edge(a, b) and graph[a][b]["door"] in doors:
                return str(graph[a][b]["door"])
        return None

    def path_length_m(self, start_x_m: float, start_y_m: float, goal_place: str, level: int = 0) -> float:
        """Distance a robot at the start point travels to the goal: to the first waypoint, then along."""
        waypoints = self.plan(start_x_m, start_y_m, goal_place, level)
        return math.dist((start_x_m, start_y_m), waypoints[0]) + polyline_length_m(waypoints)

    def names_at(self, points: Sequence[Point], level: int) -> list[str | None]:
        """The route node at each planned point (`plan` returns positions): the node at that
        position which the previous one has an edge to; None where none is."""
        graph = self.graph
        if self._at is None:
            self._at = {}
            for name, data in sorted(graph.nodes(data=True)):
                x, y = data["pos"]
                self._at.setdefault((float(x), float(y)), []).append(name)
        names: list[str | None] = []
        previous: str | None = None
        for point in points:
            candidates = self._at.get((float(point[0]), float(point[1])), [])
            if previous is not None:
                linked = [n for n in candidates if graph.has_edge(previous, n)]
            else:
                linked = [n for n in candidates if int(graph.nodes[n]["level"]) == level] or candidates
            previous = linked[0] if linked else None
            names.append(previous)
        return names

    def is_strongly_connected(self) -> bool:
        return self.graph.number_of_nodes() > 0 and nx.is_strongly_connected(self.graph)

    def unreachable_from(self, source: str) -> list[str]:
        """Nodes that cannot be reached from `source`, sorted (empty when all can)."""
        reached = self._from(source)[0]
        return sorted(n for n in self.graph.nodes if n not in reached)

    # -- internals --------------------------------------------------------------------------

    def _require(self, name: str, what: str = "node") -> None:
        if name not in self.graph:
            raise NoRoute(f"unknown {what} {name!r} (not a place or waypoint of the route graph)")

    def _from(self, source: str, shut_doors: Collection[str] = ()) -> tuple[dict[str, float], dict[str, list[str]]]:
        if shut_doors:  # only while an alarm lasts: not cached
            return nx.single_source_dijkstra(passable(self.graph, shut_doors), source, weight="length_m")
        if source not in self._lengths:
            lengths, paths = nx.single_source_dijkstra(self.graph, source, weight="length_m")
            self._lengths[source] = lengths
            self._paths[source] = paths
        return self._lengths[source], self._paths[source]

    def _nearest_candidates(self, x_m: float, y_m: float, level: int) -> Iterator[str]:
        """Nodes a robot here could drive to in a straight line, nearest first.

        With the level's grid: those of the nearest few in line of sight, checked a few at a time
        because the nearest usually is visible; the nearest alone when the point sees none (it is
        inside a wall cell). Without a grid: the nearest.
        """
        if level not in self._by_level:
            return
        names, xy = self._by_level[level]
        d2 = (xy[:, 0] - x_m) ** 2 + (xy[:, 1] - y_m) ** 2
        order = np.argsort(d2, kind="stable")[:_NEAREST_CANDIDATES]
        grid = self._grids.get(level)
        if grid is None:
            yield names[order[0]]
            return
        any_visible = False
        for chunk_start in range(0, len(order), _LOS_CHUNK):
            chunk = order[chunk_start : chunk_start + _LOS_CHUNK]
            for index, ok in zip(chunk, _line_of_sight(grid, (x_m, y_m), xy[chunk]), strict=True):
                if ok:
                    any_visible = True
                    yield names[index]
        if not any_visible:
            yield names[order[0]]


def _line_of_sight(grid: OccupancyGrid, start: Point, ends: np.ndarray) -> npt.NDArray[np.bool_]:
    """For each end point (K, 2), whether the straight line from `start` crosses no wall.

    One numpy gather for all candidates, since this runs on every plan and distance query."""
    start_xy = np.asarray(start, dtype=np.float64)
    longest = float(np.max(np.hypot(*(ends - start_xy).T))) if len(ends) else 0.0
    n = max(2, math.ceil(longest / (grid.resolution_m / 2)) + 1)
    t = np.linspace(0.0, 1.0, n)[None, :, None]  # (1, n, 1)
    pts = start_xy + (ends - start_xy)[:, None, :] * t  # (K, n, 2)
    cols = np.floor((pts[..., 0] - grid.origin_x_m) / grid.resolution_m).astype(np.int64)
    rows = np.floor((pts[..., 1] - grid.origin_y_m) / grid.resolution_m).astype(np.int64)
    inside = (rows >= 0) & (rows < grid.rows) & (cols >= 0) & (cols < grid.cols)
    blocked = grid.occupied[np.clip(rows, 0, grid.rows - 1), np.clip(cols, 0, grid.cols - 1)] | ~inside
    return np.logical_not(blocked.any(axis=1))
