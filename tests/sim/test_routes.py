"""Route planning over the world's graph agrees with networkx and fails clearly."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import pytest
import yaml

from sim.routes import NoRoute, RouteGraph, polyline_length_m
from sim.world import World, load_one_floor_world, load_world


@pytest.fixture(scope="module")
def world() -> World:
    return load_one_floor_world()


def test_plan_ends_at_the_goal_and_matches_networkx(world: World) -> None:
    start = (97.0, 30.2)  # just inside the main entrance
    goal = "ward-a-bed-07"
    waypoints = world.routes.plan(*start, goal)
    place = world.places[goal]
    assert waypoints[-1] == (place.x_m, place.y_m)
    first = world.routes.nearest_node(*start)
    assert waypoints[0] == world.routes.pos(first)
    expected = nx.shortest_path_length(world.routes.graph, first, goal, weight="length_m")
    assert polyline_length_m(waypoints) == pytest.approx(expected)
    assert world.routes.path_length_m(*start, goal) == pytest.approx(
        expected + math.dist(start, waypoints[0])
    )


def test_distance_is_cached_and_symmetric_on_two_way_edges(world: World) -> None:
    routes = world.routes
    d1 = routes.distance_m("dock-ward-b", "isolation-bed-03")
    assert routes.distance_m("dock-ward-b", "isolation-bed-03") == d1
    assert routes.distance_m("isolation-bed-03", "dock-ward-b") == pytest.approx(d1)
    assert d1 == pytest.approx(nx.dijkstra_path_length(routes.graph, "dock-ward-b", "isolation-bed-03",
                                                       weight="length_m"))


def test_nearest_node_does_not_see_through_walls(world: World) -> None:
    # Just inside bay 1 of ward A, south of its aisle: the corridor node is nearer but behind a wall.
    node = world.routes.nearest_node(2.0, 47.6)
    assert node.startswith("ward-a-bay-1") or node.startswith("ward-a-bed")


def test_unknown_goal_raises_no_route(world: World) -> None:
    with pytest.raises(NoRoute, match="unknown goal 'ward-z-bed-01'"):
        world.routes.plan(50.0, 30.0, "ward-z-bed-01")
    assert issubclass(NoRoute, ValueError)


def test_one_way_edges_and_unreachable_goals(tmp_path: Path) -> None:
    data = {
        "name": "One way",
        "walls": [{"points": [[8, 8], [10, 8], [10, 10], [8, 10]], "closed": True}],  # island's room
        "places": [
            {"name": "a", "x": 0, "y": 0, "kind": "waypoint"},
            {"name": "b", "x": 3, "y": 4, "kind": "waypoint"},
            {"name": "island", "x": 9, "y": 9, "kind": "room"},
        ],
        "routes": {"edges": [{"path": ["a", "b"], "bidirectional": False}]},
    }
    path = tmp_path / "oneway.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    routes = load_world(path).routes
    assert routes.distance_m("a", "b") == pytest.approx(5.0)
    with pytest.raises(NoRoute, match="no route from 'b' to 'a'"):
        routes.distance_m("b", "a")
    with pytest.raises(NoRoute, match="no route to 'island'"):
        routes.plan(0.0, 0.0, "island")
    assert not routes.is_strongly_connected()


def test_build_without_a_grid_uses_plain_distance() -> None:
    routes = RouteGraph.build({"p": (0.0, 0.0, 0), "q": (10.0, 0.0, 0)}, [("p", "q", True, None)])
    assert routes.nearest_node(7.0, 1.0) == "q"
    assert routes.plan(0.5, 0.0, "q") == [(0.0, 0.0), (10.0, 0.0)]
    with pytest.raises(NoRoute, match="level 2"):
        routes.nearest_node(0.0, 0.0, level=2)


def test_position_of_a_node(world: World) -> None:
    bed = world.places["ward-a-bed-02"]
    assert world.routes.position("ward-a-bed-02") == world.routes.pos(bed.name) == (bed.x_m, bed.y_m)
    with pytest.raises(NoRoute, match="unknown node 'nowhere'"):
        world.routes.position("nowhere")
