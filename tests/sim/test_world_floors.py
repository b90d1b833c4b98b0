"""Multi-floor worlds: lifts, stairs, fire doors and traffic mutex groups, and the multi-floor hospital."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import yaml

from hal.geometry import Pose2D
from sim.world import World, WorldError, load_one_floor_world, load_world, one_floor_world_path
from sim.world_export import world_json
from sim.world_floors import GROUP_KINDS, level_tag, lift_ride_s

MULTI_FLOOR_PATH = Path(__file__).resolve().parents[2] / "sim" / "worlds" / "default_hospital.yaml"


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(MULTI_FLOOR_PATH)


def _level_graph(world: World, level: int) -> nx.DiGraph:
    graph = world.routes.graph
    return graph.subgraph([n for n, d in graph.nodes(data=True) if d["level"] == level])


# -- the multi-floor hospital -------------------------------------------------------------------


def test_three_floors_two_lifts_serving_all_of_them(world: World) -> None:
    assert world.levels == {-1: "basement", 0: "ground floor", 1: "first floor"}
    assert sorted(world.lifts) == ["lift-1", "lift-2"]
    for lift in world.lifts.values():
        assert lift.levels == (-1, 0, 1)
        assert lift.lobbies == {lv: f"{lift.name}-lobby-{level_tag(lv)}" for lv in lift.levels}
        assert lift.cars == {-1: f"{lift.name}-car-B1", 0: f"{lift.name}-car-L0", 1: f"{lift.name}-car-L1"}
        assert lift.doors == {lv: f"{lift.name}-door-{level_tag(lv)}" for lv in lift.levels}
        assert (lift.travel_s_per_level, lift.door_s, lift.dwell_s) == (5.0, 3.0, 6.0)
        for level in lift.levels:
            car, lobby = world.places[lift.cars[level]], world.places[lift.lobbies[level]]
            assert (car.kind, lobby.kind, car.level, lobby.level) == ("lift_car", "lift_lobby", level, level)
            assert (car.x_m, car.y_m) == (lift.x_m, lift.y_m)  # the same shaft on every floor
            # the lobby faces the doors, i.e. the car
            assert math.atan2(car.y_m - lobby.y_m, car.x_m - lobby.x_m) == pytest.approx(lobby.yaw_rad)
            door = world.doors[lift.doors[level]]
            assert (door.node_a, door.node_b, door.auto, door.level) == (lobby.name, car.name, False, level)
            assert world.level_of(car.name) == level


def test_every_place_name_of_the_one_floor_hospital_is_kept(world: World) -> None:
    one_floor = load_one_floor_world()
    assert set(one_floor.places) <= set(world.places)
    for name, place in one_floor.places.items():
        kept = world.places[name]
        assert (kept.kind, kept.ward, kept.bed_id) == (place.kind, place.ward, place.bed_id), name
    # the doors scenarios name (a stuck ward entrance) are there too
    assert {"ward-b-entrance", "ward-a-entrance", "main-entrance-door", "pharmacy-door"} <= set(world.doors)


def test_departments_are_on_their_floors(world: World) -> None:
    level = {name: world.places[name].level for name in world.places}
    assert level["pharmacy"] == level["kitchen"] == level["central-supply"] == -1
    assert level["clinical-lab"] == level["radiology-xray"] == level["radiology-ultrasound"] == 0
    assert level["isolation-bed-01"] == level["outpatient-reception"] == level["main-entrance"] == 0
    assert level["car-park-bay-1"] == 0
    assert {b.level for b in world.beds("ward-a")} == {b.level for b in world.beds("ward-b")} == {1}
    assert level["ward-a-nurse-station"] == level["ward-b-nurse-station"] == 1
    assert {d.level for d in world.docks()} == {-1, 0, 1}
    assert len([d for d in world.docks() if d.level == -1]) >= 4  # logistics docks


def test_no_route_edge_joins_two_floors_and_lift_cars_are_leaves(world: World) -> None:
    graph = world.routes.graph
    assert [(a, b) for a, b in graph.edges if graph.nodes[a]["level"] != graph.nodes[b]["level"]] == []
    for lift in world.lifts.values():
        for level, car in lift.cars.items():
            lobby = lift.lobbies[level]
            assert set(graph.successors(car)) == set(graph.predecessors(car)) == {lobby}
            assert graph[lobby][car]["door"] == lift.doors[level]


def test_every_place_reachable_on_its_own_floor(world: World) -> None:
    for level in world.levels:
        sub = _level_graph(world, level)
        assert nx.is_strongly_connected(sub), level
        places = [p for p in world.places.values() if p.level == level]
        assert places and all(p.name in sub for p in places)


def test_route_edges_and_places_lie_in_free_space_on_every_floor(world: World) -> None:
    routes = world.routes
    for level, grid in world.grids.items():
        blocked = [(a, b) for a, b in _level_graph(world, level).edges
                   if not grid.segment_is_free(routes.pos(a), routes.pos(b))]
        assert blocked == [], level
        robot_space = grid.inflated(0.25)
        assert [p.name for p in world.places.values()
                if p.level == level and not robot_space.is_free(p.x_m, p.y_m)] == [], level


def test_lift_shafts_are_walled_with_the_landing_door_open(world: World) -> None:
    lift = world.lifts["lift-1"]
    for level in lift.levels:
        grid = world.grids[level]
        door = world.doors[lift.doors[level]]
        assert door.x_m is not None and door.y_m is not None
        assert grid.is_free(door.x_m, door.y_m)
        assert not grid.is_free(door.x_m + 1.0, door.y_m)  # the shaft wall beside the door
        assert not grid.is_free(lift.x_m, lift.y_m + 1.3)  # the back wall


def test_fire_doors_on_every_floor_and_stairs_drawn_only(world: World) -> None:
    for level in world.levels:
        fire = [d for d in world.doors.values() if d.fire and d.level == level]
        assert len(fire) >= 2, level
        assert not any(d.auto for d in fire)  # held open on magnets, not a powered door robots open
    assert world.stairs and set(world.stairs[0].levels) == set(world.levels)
    assert not any("stairs" in n for n in world.routes.graph)


def test_mutex_groups_of_every_kind(world: World) -> None:
    kinds = {g.kind for g in world.mutex_groups.values()}
    assert kinds == {"door", "lane", "lift", "charger", "anteroom"}
    lift = world.lifts["lift-2"]
    group = world.mutex_groups["lift:lift-2"]
    assert group.nodes == frozenset(lift.lobbies.values()) | frozenset(lift.cars.values())
    assert world.groups_of_node("lift-2-car-L1") == ("lift:lift-2",)
    assert world.groups_of_node("junction-main") == ()
    assert world.groups_of_node("dock-ward-a") == ("charger:dock-ward-a",)
    assert len([g for g in world.mutex_groups.values() if g.kind == "anteroom"]) == 4
    assert len([g for g in world.mutex_groups.values() if g.kind == "lane"]) == 2


def test_no_workplace_inside_a_group(world: World) -> None:
    for group in world.mutex_groups.values():
        for node in group.nodes:
            assert node in world.routes, (group.name, node)
            place = world.places.get(node)
            assert place is None or place.kind in GROUP_KINDS, (group.name, node)


def test_door_groups_hold_at_the_doors_own_nodes(world: World) -> None:
    """A powered door's group is its two passage nodes: the holding points are its `between` nodes."""
    graph = world.routes.graph
    for name, door in world.doors.items():
        if not door.auto:
            continue
        group = world.mutex_groups[f"door:{name}"]
        assert group.nodes == {f"{name}-side-a", f"{name}-side-b"}
        outside = {n for node in group.nodes for n in nx.all_neighbors(graph, node)} - group.nodes
        assert outside == {door.node_a, door.node_b}, name
        assert graph[f"{name}-side-a"][f"{name}-side-b"]["door"] == name


def test_anteroom_group_is_the_whole_airlock(world: World) -> None:
    group = world.mutex_groups["anteroom:isolation-room-2"]
    assert "isolation-room-2-anteroom" in group.nodes
    for door in ("isolation-room-2-outer-door", "isolation-room-2-inner-door"):
        assert {f"{door}-side-a", f"{door}-side-b"} <= group.nodes
    path = world.routes.shortest_path("isolation-corridor-18", "isolation-bed-02")
    inside = [n for n in path if world.groups_of_node(n)]
    first, last = path.index(inside[0]), path.index(inside[-1])
    assert path[first - 1] == "isolation-room-2-approach"  # the holding point: in front of the door
    assert path[last + 1] == "isolation-room-2"  # and out into the room, free of every group
    assert all(world.groups_of_node(n) for n in path[first:last + 1])


def test_cross_floor_route_distance_and_time(world: World) -> None:
    start = world.places["dock-ward-a"].pose
    same_floor = world.route_distance_m(start, "ward-a-bed-03")
    assert same_floor == pytest.approx(world.routes.path_length_m(start.x_m, start.y_m, "ward-a-bed-03", 1))
    to_pharmacy = world.route_distance_m(start, "pharmacy")
    expected = min(
        world.routes.path_length_m(start.x_m, start.y_m, lift.cars[1], 1) + world.routes.distance_m(lift.cars[-1],
                                                                                                     "pharmacy")
        for lift in world.lifts.values())
    assert to_pharmacy == pytest.approx(expected)
    assert 40.0 < to_pharmacy < 200.0
    lift = world.lifts["lift-1"]
    ride_s = lift_ride_s(lift, 1, -1)
    assert ride_s == pytest.approx(2 * 5.0 + 3 * 3.0 + 2 * 5.0)  # half a round trip + doors + travel
    time_s = world.route_time_s(start, "pharmacy", speed_mps=1.0)
    assert to_pharmacy + ride_s - 1e-6 <= time_s <= to_pharmacy + ride_s + 20.0
    assert world.route_time_s(start, "ward-a-bed-03", speed_mps=0.5) == pytest.approx(2 * same_floor)
    assert world.lifts_between(-1, 1) == [world.lifts["lift-1"], world.lifts["lift-2"]]


def test_export_has_lifts_groups_and_stairs(world: World) -> None:
    data = world_json(world)
    lift = next(lf for lf in data["lifts"] if lf["name"] == "lift-1")
    assert lift["levels"] == [-1, 0, 1]
    assert lift["lobbies"]["-1"] == "lift-1-lobby-B1" and lift["cars"]["1"] == "lift-1-car-L1"
    assert lift["doors"]["0"] == "lift-1-door-L0" and lift["travel_s_per_level"] == 5.0
    groups = {g["name"]: g for g in data["mutex_groups"]}
    assert groups["lane:ground-spine"] == {"name": "lane:ground-spine", "kind": "lane",
                                           "nodes": ["spine-18", "spine-27"], "level": 0}
    assert data["stairs"][0]["name"] == "stairs-core"
    assert any(d["fire"] for d in data["doors"])


# -- the one-floor hospital is unchanged ---------------------------------------------------------


def test_one_floor_hospital_has_no_lifts_or_groups_and_its_declared_graph() -> None:
    one_floor = load_one_floor_world()
    assert one_floor.lifts == {} and one_floor.mutex_groups == {} and one_floor.stairs == []
    raw = yaml.safe_load(one_floor_world_path().read_text(encoding="utf-8"))
    declared = {p["name"] for p in raw["places"]} | {w["name"] for w in raw["routes"]["waypoints"]}
    assert set(one_floor.routes.graph.nodes) == declared
    assert not any(d.fire for d in one_floor.doors.values())
    data = world_json(one_floor)
    assert (data["lifts"], data["mutex_groups"], data["stairs"]) == ([], [], [])


# -- errors are located ----------------------------------------------------------------------------

TWO_FLOORS: dict[str, Any] = {
    "name": "Two floors",
    "levels": [{"index": 0, "name": "ground"}, {"index": 1, "name": "first"}],
    "walls": [
        {"points": [[0, 0], [20, 0], [20, 10], [0, 10]], "closed": True},
        {"points": [[0, 0], [20, 0], [20, 10], [0, 10]], "closed": True, "level": 1},
    ],
    "zones": [{"name": "ward-x", "tag": "ward", "rect": [0, 0, 12, 10], "speed_limit_mps": 0.5, "level": 1}],
    "places": [
        {"name": "dock-0", "x": 2, "y": 2, "kind": "dock"},
        {"name": "bed-1", "x": 2, "y": 8, "kind": "bed", "ward": "ward-x", "bed_id": "X-1", "level": 1},
        {"name": "store", "x": 14, "y": 2, "kind": "storage"},
    ],
    "doors": [{"name": "store-door", "between": ["hall-0", "store"], "auto": True}],
    "routes": {
        "waypoints": [
            {"name": "hall-0", "x": 10, "y": 4},
            {"name": "hall-1", "x": 10, "y": 4, "level": 1},
            {"name": "mid-0", "x": 6, "y": 4},
        ],
        "edges": [["dock-0", "mid-0", "hall-0"], ["hall-1", "bed-1"]],
    },
    "lifts": [{"name": "lift-a", "x": 10, "y": 8.5, "car_size": [1.6, 2.0], "door_side": "south", "lobby_m": 1.2,
               "levels": {0: "hall-0", 1: "hall-1"}}],
    "traffic": {"lanes": [{"name": "mid", "path": ["mid-0", "hall-0"]}]},
}


def write(tmp_path: Path, data: dict[str, Any], name: str = "floors.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(TWO_FLOORS)
    change(data)
    return data


def test_a_small_two_floor_world_loads(tmp_path: Path) -> None:
    world = load_world(write(tmp_path, TWO_FLOORS))
    lift = world.lifts["lift-a"]
    assert lift.cars == {0: "lift-a-car-L0", 1: "lift-a-car-L1"}
    assert world.places["lift-a-lobby-L1"].zone == "ward-x"
    assert set(world.mutex_groups) == {"lift:lift-a", "charger:dock-0", "door:store-door", "lane:mid"}
    assert world.mutex_groups["lane:mid"].nodes == {"mid-0", "hall-0"}
    far = world.route_distance_m(world.places["dock-0"].pose, "bed-1")
    assert math.isfinite(far)
    assert far == pytest.approx(world.routes.distance_m("dock-0", "lift-a-car-L0")
                                + world.routes.distance_m("lift-a-car-L1", "bed-1"))


def test_basement_levels_are_named_with_b(tmp_path: Path) -> None:
    def to_basement(d: dict[str, Any]) -> None:
        d["levels"][1]["index"] = -1
        for section in ("walls", "zones", "places"):
            for item in d[section]:
                if item.get("level") == 1:
                    item["level"] = -1
        d["routes"]["waypoints"][1]["level"] = -1
        d["lifts"][0]["levels"] = {0: "hall-0", -1: "hall-1"}

    world = load_world(write(tmp_path, broken(to_basement)))
    lift = world.lifts["lift-a"]
    assert lift.levels == (-1, 0)
    assert lift.lobbies == {-1: "lift-a-lobby-B1", 0: "lift-a-lobby-L0"}


def test_a_world_without_traffic_section_has_only_lift_groups(tmp_path: Path) -> None:
    world = load_world(write(tmp_path, broken(lambda d: d.pop("traffic"))))
    assert set(world.mutex_groups) == {"lift:lift-a"}
    assert "store-door-side-a" not in world.routes


@pytest.mark.parametrize(
    ("change", "field_path", "detail"),
    [
        (lambda d: d["lifts"][0].update(levels={0: "hall-0", 3: "hall-1"}), "lifts[0].levels[3]",
         "unknown level 3 (accepted: 0, 1)"),
        (lambda d: d["lifts"][0].update(levels={0: "hall-0", 1: "mid-0"}), "lifts[0].levels[1].connect",
         "'mid-0' is on level 0, not level 1"),
        (lambda d: d["lifts"][0].update(levels={0: "hall-0", 1: "hall-9"}), "lifts[0].levels[1].connect",
         "unknown node 'hall-9'"),
        (lambda d: d["lifts"][0].update(levels={0: {"connect": "hall-0", "exit": "bed-1"}, 1: "hall-1"}),
         "lifts[0].levels[0].exit", "on level 1, not level 0"),
        (lambda d: d["lifts"][0].update(levels={0: "hall-0"}), "lifts[0].levels", "at least 2"),
        (lambda d: d["lifts"].append(dict(d["lifts"][0])), "lifts[1].name", "duplicate lift name 'lift-a'"),
        (lambda d: d["lifts"][0].update(car_size=[1.0, 2.0], door_width_m=1.2), "lifts[0]", "wider than"),
        (lambda d: d["traffic"]["lanes"].append({"name": "beds", "path": ["hall-1", "bed-1"]}),
         "traffic.lanes[1]", "bed 'bed-1' would lie inside mutex group 'lane:beds'"),
        (lambda d: d["traffic"].update(anterooms=[{"name": "store", "nodes": ["store"]}]),
         "traffic.anterooms[0]", "storage 'store' would lie inside"),
        (lambda d: d["traffic"]["lanes"].append({"name": "gap", "path": ["dock-0", "hall-0"]}),
         "traffic.lanes[1].path[1]", "not joined by a route edge"),
        (lambda d: d["traffic"]["lanes"].append({"name": "two", "path": ["hall-0", "hall-1"]}),
         "traffic.lanes[1].path[1]", "a group lies on one floor"),
        (lambda d: d["routes"]["edges"].append(["hall-0", "hall-1"]), "routes.edges[2].path[1]",
         "route edges stay on one floor"),
        (lambda d: d["places"].append({"name": "fake-car", "x": 5, "y": 5, "kind": "lift_car"}),
         "places[3].kind", "generated for a lift"),
        (lambda d: d["doors"][0].update(between=["hall-1", "store"]), "doors[0].between[0]",
         "on level 1, the door on level 0"),
        (lambda d: d.update(stairs=[{"name": "s", "rect": [0, 0, 2, 2], "levels": [0, 4]}]), "stairs[0].levels[1]",
         "unknown level 4"),
    ],
)
def test_bad_floors_give_located_errors(tmp_path: Path, change: Any, field_path: str, detail: str) -> None:
    path = write(tmp_path, broken(change), name="broken_floors.yaml")
    with pytest.raises(WorldError) as caught:
        load_world(path)
    message = str(caught.value)
    assert "broken_floors.yaml" in message
    assert f": {field_path}: " in message
    assert detail in message


def test_route_distance_across_floors_without_a_lift_is_infinite(tmp_path: Path) -> None:
    world = load_world(write(tmp_path, broken(lambda d: d.pop("lifts"))))
    assert world.route_distance_m(Pose2D(2.0, 2.0, 0.0, 0), "bed-1") == math.inf
    assert world.route_time_s(Pose2D(2.0, 2.0, 0.0, 0), "bed-1") == math.inf
