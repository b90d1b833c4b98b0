"""The world format's loader and the hospitals' required contents (the one-floor default and the
multi-floor hospital, so either can be the default)."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import yaml

from hal.geometry import Pose2D
from sim.world import World, WorldError, default_world_path, load_default_world, load_world

REQUIRED_DEPARTMENT_TAGS = {"pharmacy", "kitchen", "supply", "lab", "radiology", "isolation", "outpatient"}


ONE_FLOOR_PATH = Path(__file__).resolve().parents[2] / "sim" / "worlds" / "one_floor_hospital.yaml"


@pytest.fixture(scope="module", params=["default", "one-floor"])
def world(request: pytest.FixtureRequest) -> World:
    return load_default_world() if request.param == "default" else load_world(ONE_FLOOR_PATH)


# -- the default hospital ---------------------------------------------------------------------


def test_default_world_path_exists() -> None:
    assert default_world_path().is_file()


def test_two_wards_with_at_least_eight_beds_each(world: World) -> None:
    general = [w for w in world.wards() if w.startswith("ward-")]
    assert len(general) >= 2
    for ward in general:
        beds = world.beds(ward)
        assert len(beds) >= 8, ward
        assert all(b.bed_id and b.ward == ward for b in beds)
        assert [b.name for b in beds] == sorted(b.name for b in beds)


def test_bed_names_and_ids_follow_the_convention(world: World) -> None:
    bed = world.places["ward-a-bed-01"]
    assert (bed.kind, bed.ward, bed.bed_id) == ("bed", "ward-a", "A-01")
    assert len({b.bed_id for b in world.beds()}) == len(world.beds())


def test_every_ward_has_a_nurse_station_inside_it(world: World) -> None:
    stations = [p for p in world.places.values() if p.kind == "nurse_station"]
    for ward in world.wards():
        assert any(s.zone == ward for s in stations), ward


def test_departments_are_present(world: World) -> None:
    tags = {z.tag for z in world.zones}
    assert tags >= REQUIRED_DEPARTMENT_TAGS | {"car_park", "charging", "corridor", "ward"}
    assert {"radiology-xray", "radiology-ultrasound"} <= set(world.places)


def test_isolation_ward_has_four_rooms_behind_anterooms(world: World) -> None:
    iso_beds = world.beds("isolation")
    assert len(iso_beds) >= 4
    anterooms = [p for p in world.places.values() if p.kind == "anteroom"]
    assert len(anterooms) >= 4
    for bed in iso_beds:
        zone = world.zone_at(bed.x_m, bed.y_m, bed.level)
        assert zone is not None and zone.tag == "isolation"


def test_docks_sit_in_charging_zones_and_serve_every_department(world: World) -> None:
    docks = world.docks()
    assert len(docks) >= 6
    for dock in docks:
        zone = world.zone_at(dock.x_m, dock.y_m, dock.level)
        assert zone is not None and zone.tag == "charging", dock.name
    zone_tag = {z.name: z.tag for z in world.zones}
    for tag in ("ward", "isolation", "radiology", "pharmacy", "supply", "lab", "outpatient"):
        served = [p for p in world.places.values() if p.zone and zone_tag[p.zone] == tag]
        closest_m = min(world.routes.distance_m(d.name, p.name) for d in docks for p in served if d.level == p.level)
        assert closest_m < 30.0, tag


def test_route_graph_connected_every_place_reachable_from_every_dock(world: World) -> None:
    """On its own floor: no route edge joins two floors (lifts do)."""
    graph = world.routes.graph
    for level in world.levels:
        floor = graph.subgraph([n for n, d in graph.nodes(data=True) if d["level"] == level])
        assert nx.is_strongly_connected(floor), level
    for dock in world.docks():
        unreachable = [n for n in world.routes.unreachable_from(dock.name)
                       if n in world.places and world.places[n].level == dock.level]
        assert unreachable == [], dock.name
        for place in world.places.values():
            if place.level == dock.level:
                assert math.isfinite(world.routes.distance_m(dock.name, place.name))
    if len(world.levels) == 1:
        assert world.routes.is_strongly_connected()


def test_route_edges_and_places_lie_in_free_space(world: World) -> None:
    routes = world.routes
    blocked = [
        (a, b) for a, b in routes.graph.edges
        if not world.grids[routes.level_of(a)].segment_is_free(routes.pos(a), routes.pos(b))
    ]
    assert blocked == []
    robot_space = {level: grid.inflated(0.25) for level, grid in world.grids.items()}
    assert [p.name for p in world.places.values() if not robot_space[p.level].is_free(p.x_m, p.y_m)] == []


def test_doors_cut_gaps_in_walls(world: World) -> None:
    door = world.doors["ward-a-bay-1-door"]
    assert door.x_m is not None and door.y_m is not None
    grid = world.grids[door.level]
    assert grid.is_free(door.x_m, door.y_m)
    assert not grid.is_free(door.x_m + 2.0, door.y_m)  # the wall beside the gap stands


def test_speed_limits(world: World) -> None:
    bed = world.places["ward-b-bed-03"]
    assert world.speed_limit_at_mps(bed.x_m, bed.y_m, bed.level) == 0.5
    assert world.speed_limit_at_mps(20.0, 30.0) == pytest.approx(1.2)  # main corridor
    assert world.speed_limit_at_mps(112.0, 30.0) == 1.5  # car park
    assert world.speed_limit_at_mps(-50.0, -50.0, default_mps=0.9) == 0.9  # outside every zone


def test_zone_lookup_prefers_the_most_specific_zone(world: World) -> None:
    dock = world.places["dock-ward-a"]
    zone = world.zone_at(dock.x_m, dock.y_m, dock.level)
    assert zone is not None and zone.tag == "charging"
    assert world.zone_at(dock.x_m - 5.0, dock.y_m - 3.0, dock.level).name == "ward-a"  # type: ignore[union-attr]
    pharmacy = world.places["pharmacy"]
    assert world.zone_at(pharmacy.x_m + 2.0, pharmacy.y_m + 2.0, pharmacy.level).tag == "pharmacy"  # type: ignore[union-attr]
    assert world.zone_at(10.0, 38.0, level=5) is None  # no such floor


def test_place_pose_nearest_place_and_bounds(world: World) -> None:
    bed = world.places["ward-a-bed-01"]
    assert bed.pose == Pose2D(bed.x_m, bed.y_m, bed.yaw_rad, bed.level)
    assert world.nearest_place(bed.x_m + 0.1, bed.y_m, level=bed.level) == bed
    assert world.nearest_place(bed.x_m, bed.y_m, kind="dock", max_distance_m=1.0, level=bed.level) is None
    xmin, ymin, xmax, ymax = world.bounds_m()
    assert xmax - xmin >= 100 and ymax - ymin >= 55


def test_route_distance_for_the_battery_reserve(world: World) -> None:
    dock = world.places["dock-ward-a"]
    assert world.route_distance_m(dock.pose, "dock-ward-a") == pytest.approx(0.0)
    far = world.route_distance_m(world.places["main-entrance"].pose, "dock-ward-a")
    assert 60.0 < far < 150.0


# -- errors are located ----------------------------------------------------------------------

MINIMAL: dict[str, Any] = {
    "name": "Tiny",
    "walls": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]],
    "zones": [{"name": "ward-x", "tag": "ward", "rect": [0, 0, 10, 10], "speed_limit_mps": 0.5}],
    "places": [
        {"name": "bed-1", "x": 2, "y": 2, "kind": "bed", "ward": "ward-x", "bed_id": "X-1"},
        {"name": "dock-1", "x": 8, "y": 8, "kind": "dock"},
    ],
    "routes": {"waypoints": [{"name": "mid", "x": 5, "y": 5}], "edges": [["bed-1", "mid", "dock-1"]]},
}


def write(tmp_path: Path, data: dict[str, Any], name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(MINIMAL)
    change(data)
    return data


def test_minimal_world_loads(tmp_path: Path) -> None:
    world = load_world(write(tmp_path, MINIMAL))
    assert world.beds() == [world.places["bed-1"]]
    assert world.routes.distance_m("bed-1", "dock-1") == pytest.approx(2 * math.hypot(3, 3))


@pytest.mark.parametrize(
    ("change", "field_path", "detail"),
    [
        (lambda d: d["zones"][0].update(tag="morgue"), "zones[0].tag", "'charging'"),
        (lambda d: d["routes"]["edges"].append(["mid", "nowhere"]), "routes.edges[1].path[1]", "'nowhere'"),
        (lambda d: d["places"][1].pop("kind"), "places[1].kind", "Field required"),
        (lambda d: d["places"][0].update(x="left"), "places[0].x", "valid number"),
        (lambda d: d["places"][1].update(kind="sofa"), "places[1].kind", "'nurse_station'"),
        (lambda d: d["places"][0].pop("bed_id"), "places[0].bed_id", "required for kind 'bed'"),
        (lambda d: d["places"][0].update(ward="ward-z"), "places[0].ward", "ward-x"),
        (lambda d: d["places"].append(dict(d["places"][1])), "places[2].name", "duplicate"),
        (lambda d: d["places"][0].update(level=3), "places[0].level", "accepted: 0"),
        (lambda d: d.update(doors=[{"name": "d", "between": ["mid", "ghost"]}]), "doors[0].between[1]", "'ghost'"),
        (lambda d: d.update(doors=[{"name": "d", "between": ["mid", "bed-1"], "at": [5, 5]}]), "doors[0].at",
         "not on any wall"),
        (lambda d: d["zones"][0].pop("rect"), "zones[0]", "exactly one of polygon or rect"),
        (lambda d: d["walls"].append([[1, 1]]), "walls[1].points", "at least 2"),
        (lambda d: d.update(colour="blue"), "colour", "Extra inputs"),
    ],
)
def test_bad_world_files_give_located_errors(tmp_path: Path, change: Any, field_path: str, detail: str) -> None:
    path = write(tmp_path, broken(change), name="broken_world.yaml")
    with pytest.raises(WorldError) as caught:
        load_world(path)
    message = str(caught.value)
    assert "broken_world.yaml" in message
    assert f": {field_path}: " in message
    assert detail in message
    assert caught.value.field_path == field_path


def test_unknown_zone_tag_lists_the_accepted_tags(tmp_path: Path) -> None:
    path = write(tmp_path, broken(lambda d: d["zones"][0].update(tag="morgue")))
    with pytest.raises(WorldError, match=r"zones\[0\]\.tag") as caught:
        load_world(path)
    for tag in ("ward", "isolation", "radiology", "car_park", "charging"):
        assert f"'{tag}'" in str(caught.value)


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(WorldError, match=r"no_such_world\.yaml: cannot read world file"):
        load_world(tmp_path / "no_such_world.yaml")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nwalls: [[0, 0]\n", encoding="utf-8")
    with pytest.raises(WorldError, match=r"bad.yaml: line \d+"):
        load_world(path)


def test_world_error_is_a_value_error() -> None:
    assert issubclass(WorldError, ValueError)
