"""The multi-floor hospital's robot parking bays: enough for the 48-robot bench, each a leaf of the
route graph that no route passes, clear of chargers, mutex groups and one another."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from sim.world import World, load_world
from sim.world_parts import Place

MULTI_FLOOR_PATH = Path(__file__).resolve().parents[2] / "sim" / "worlds" / "default_hospital.yaml"
ROBOT_RADIUS_M = 0.35


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(MULTI_FLOOR_PATH)


def _robot_bays(world: World) -> list[Place]:
    """Parking places for robots: the car park's bays are for cars (and patrol checkpoints)."""
    tags = {z.name: z.tag for z in world.zones}
    return [p for p in world.places.values() if p.kind == "parking" and tags.get(p.zone or "") != "car_park"]


def _segment_distance_m(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length2))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def test_at_least_48_bays_over_all_three_floors(world: World) -> None:
    bays = _robot_bays(world)
    assert len(bays) >= 48
    per_level = {level: len([b for b in bays if b.level == level]) for level in world.levels}
    assert all(n >= 8 for n in per_level.values()), per_level
    # the isolation ward's confined robots park inside it
    assert len([b for b in bays if b.zone == "isolation"]) >= 10


def test_each_bay_is_a_leaf_on_a_short_spur(world: World) -> None:
    graph = world.routes.graph
    for bay in _robot_bays(world):
        (neighbour,) = set(graph.successors(bay.name))
        assert set(graph.predecessors(bay.name)) == {neighbour}, bay.name
        assert world.routes.distance_m(neighbour, bay.name) <= 3.0, bay.name
        assert neighbour not in world.places or world.places[neighbour].kind != "parking", bay.name


def test_bays_lie_outside_chargers_and_mutex_groups(world: World) -> None:
    for bay in _robot_bays(world):
        zone = world.zone_at(bay.x_m, bay.y_m, bay.level)
        assert zone is None or zone.tag != "charging", bay.name
        assert world.groups_of_node(bay.name) == (), bay.name
        (spur,) = set(world.routes.graph.successors(bay.name))
        assert world.groups_of_node(spur) == (), bay.name


def test_bays_stand_apart_and_clear_of_other_routes(world: World) -> None:
    bays = _robot_bays(world)
    for a, b in itertools.combinations(bays, 2):
        if a.level == b.level:
            assert math.hypot(a.x_m - b.x_m, a.y_m - b.y_m) >= 1.2, (a.name, b.name)
    routes = world.routes
    for bay in bays:
        # a robot parked here leaves room for one passing on any other edge (its own spur aside)
        nearest_m = min(_segment_distance_m((bay.x_m, bay.y_m), routes.pos(u), routes.pos(v))
                        for u, v in routes.graph.edges
                        if bay.name not in (u, v) and routes.level_of(u) == bay.level)
        assert nearest_m >= 2 * ROBOT_RADIUS_M + 0.5, bay.name


def test_every_bay_reachable_from_its_floors_docks(world: World) -> None:
    for bay in _robot_bays(world):
        for dock in world.docks():
            if dock.level == bay.level:
                assert math.isfinite(world.routes.distance_m(dock.name, bay.name)), (dock.name, bay.name)
                assert math.isfinite(world.routes.distance_m(bay.name, dock.name)), (bay.name, dock.name)


@pytest.mark.parametrize(("area", "leaving", "goal", "incoming_from"), [
    ("parking-ground-", "parking-ground-01", "clinical-lab", "main-entrance"),
    ("parking-isolation-", "parking-isolation-03", "isolation-room-2-approach", "isolation-utility"),
    ("parking-ward-a-", "parking-ward-a-02", "ward-a-bed-03", "ward-a-nurse-station"),
    ("parking-logistics-", "parking-logistics-04", "central-supply", "goods-in"),
    ("parking-robot-bay-", "parking-robot-bay-03", "ward-b-utility", "dock-first-floor-1"),
])
def test_a_full_park_lets_one_robot_out_and_another_into_its_last_bay(
        world: World, area: str, leaving: str, goal: str, incoming_from: str) -> None:
    """Robots parked on every other bay of the area are passed without a touch."""
    from sim.people import PeopleConfig
    from tests.sim.perception_rig import Rig

    rig = Rig(world, people=PeopleConfig(visitors_per_level=0, beds_per_level=0))
    bays = sorted(b.name for b in _robot_bays(world) if b.name.startswith(area))
    last = [b for b in bays if b != leaving][-1]
    for bay in bays:
        if bay != last:
            rig.add(f"r-{bay}", bay)
    rig.add("incoming", incoming_from)
    handles = rig.go({f"r-{leaving}": goal, "incoming": last}, max_s=600)
    assert {rid: h.poll().name for rid, h in handles.items()} == {f"r-{leaving}": "SUCCEEDED", "incoming": "SUCCEEDED"}
    assert rig.env.contact_summary()["total"] == 0, rig.env.contacts
    parked = world.places[last]
    assert math.hypot(rig.body("incoming").pose.x_m - parked.x_m, rig.body("incoming").pose.y_m - parked.y_m) < 0.3
