"""Where people walk and stop: each level's walkable route graph (one for visitors, one for beds)
and the nodes they walk to (`sim/people.py` walks them).

Visitors walk between the entrance, reception and waiting areas, the outpatient hall and the
wards' corridors and bays; porters push beds along corridors wide enough to keep well right.
Nobody walks through a private place (a bed, a dock, a room), and nobody stops inside one of the
fleet's shared resources or in a lift hall: they only walk through.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from sim.occupancy import OccupancyGrid
from sim.world import World

#: place kinds a visitor walks to (and through); every other place (beds, docks, rooms) is private
VISITOR_PLACE_KINDS = frozenset({"entrance", "reception", "waiting"})
#: zone tags whose waypoints visitors walk to
VISITOR_ZONE_TAGS = frozenset({"corridor", "ward", "outpatient"})
#: zone tags whose waypoints staff push beds to
BED_ZONE_TAGS = frozenset({"corridor", "ward"})
#: beds walk only where they can keep at least this far right
BED_MIN_RIGHT_M = 0.6


@dataclass(frozen=True)
class LevelWays:
    graph: nx.Graph  # where visitors walk
    bed_graph: nx.Graph  # where porters push beds
    visitor_destinations: list[str]
    bed_destinations: list[str]


def level_ways(world: World, level: int, bed_free: OccupancyGrid, pos: dict[str, tuple[float, float]],
               halls: set[str]) -> LevelWays:
    """The level's walkable graphs and where people stop on them; records every walkable node's
    position in `pos`. `bed_free`: the level's grid inflated by a bed's radius; `halls`: the
    world's `lift_halls`."""
    graph = nx.Graph()
    routes = world.routes.graph
    visitor: list[str] = []
    beds: list[str] = []
    for name, data in sorted(routes.nodes(data=True)):
        if int(data["level"]) != level:
            continue
        place = world.places.get(name)
        if place is not None and place.kind not in VISITOR_PLACE_KINDS and name not in world.waypoints:
            continue  # beds, docks, rooms: nobody walks through them
        x, y = (float(v) for v in data["pos"])
        pos[name] = (x, y)
        graph.add_node(name)
        zone = world.zone_at(x, y, level)
        tag = zone.tag if zone is not None else None
        is_waypoint = name in world.waypoints
        # Nobody stops inside a doorway's passage, a single-lane corridor or a lift lobby
        # (the fleet's mutex groups): they walk through. A visitor waiting at the clinical
        # lab's door boxed in a robot leaving it while another held for the door behind them,
        # for half an hour.
        # Nor in a lift hall: nobody here rides the lifts (a person who changes floor leaves
        # this model), and a visitor waiting there for no lift stands where robots queue.
        if world.groups_of_node(name) or name in halls:
            continue
        if (place is not None and place.kind in VISITOR_PLACE_KINDS) or (is_waypoint and tag in VISITOR_ZONE_TAGS):
            visitor.append(name)
        if name in world.waypoints and tag in BED_ZONE_TAGS:
            beds.append(name)
    for a, b, data in routes.edges(data=True):
        if a in graph and b in graph:
            graph.add_edge(a, b, length_m=float(data["length_m"]))
    # Beds only along corridors wide enough to keep well right (a robot can pass one there),
    # and only to nodes where the way goes on (a bed cannot turn round in a dead end with a
    # robot in it).
    bed_graph = nx.Graph()
    for a, b, data in graph.edges(data=True):
        if all(kept_right_free(bed_free, pos[u], pos[v], BED_MIN_RIGHT_M)
               for u, v in ((a, b), (b, a))):
            bed_graph.add_edge(a, b, **data)
    # keep destinations of the largest connected part only: every walk has a route
    visitor_part = largest_part(graph)
    visitor = [n for n in visitor if n in visitor_part]
    bed_part = largest_part(bed_graph)
    # a porter waits with a bed along a corridor, not in a junction: parked where ways cross,
    # a bed boxes in the robots queueing there for the doors (and they it), for minutes
    beds = [n for n in beds if n in bed_part and bed_graph.degree(n) >= 2 and graph.degree(n) <= 2]
    return LevelWays(graph, bed_graph, visitor, beds)


def kept_right_free(grid: OccupancyGrid, a: tuple[float, float], b: tuple[float, float], offset_m: float) -> bool:
    """Whether the way a → b moved `offset_m` to its right is free on the (inflated) grid."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = float(np.hypot(dx, dy))
    if length < 1e-6:
        return grid.is_free(*a)
    nx, ny = dy / length, -dx / length
    return grid.segment_is_free((a[0] + nx * offset_m, a[1] + ny * offset_m),
                                (b[0] + nx * offset_m, b[1] + ny * offset_m))


def lift_halls(world: World) -> set[str]:
    """Route nodes next to a lift's group (its lobbies): the lift halls' waiting and exit spots."""
    routes = world.routes.graph
    halls: set[str] = set()
    for group in world.mutex_groups.values():
        if group.kind != "lift":
            continue
        for node in group.nodes:
            if node in routes:
                halls.update(n for n in (*routes.successors(node), *routes.predecessors(node))
                             if not world.groups_of_node(n))
    return halls


def largest_part(graph: nx.Graph) -> set[str]:
    if not graph.number_of_nodes():
        return set()
    parts: list[set[str]] = [set(c) for c in nx.connected_components(graph)]
    return max(parts, key=lambda c: (len(c), sorted(c)[0]))
