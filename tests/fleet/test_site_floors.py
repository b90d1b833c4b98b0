"""The fleet's site map across floors: distances via the best lift, mutex groups for the arbiter."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest

from fleet.site import LIFT_EQUIVALENT_MPS, MAP_FORMAT, SiteError, SiteLift, lift_ride_s, site_from_json

MULTI_FLOOR_PATH = Path(__file__).resolve().parents[2] / "sim" / "worlds" / "default_hospital.yaml"


def _node(name: str, x: float, level: int) -> dict[str, Any]:
    return {"name": name, "x_m": x, "y_m": 0.0, "level": level}


def _edge(a: str, b: str, length_m: float) -> dict[str, Any]:
    return {"from": a, "to": b, "length_m": length_m, "door": None}


def two_floor_map() -> dict[str, Any]:
    """A corridor on each of two floors; lift "near" 10 m from the west end, "far" 40 m."""
    nodes, edges = [], []
    for level in (0, 1):
        for x in (0, 10, 40):
            nodes.append(_node(f"c{x}-{level}", x, level))
        edges += [_edge(f"c0-{level}", f"c10-{level}", 10.0), _edge(f"c10-{level}", f"c40-{level}", 30.0)]
        for lift, x in (("near", 10), ("far", 40)):
            nodes.append(_node(f"{lift}-car-{level}", x, level))
            edges.append(_edge(f"c{x}-{level}", f"{lift}-car-{level}", 2.0))
    lifts = [{"name": lift, "x_m": x, "y_m": 2.0, "levels": [0, 1],
              "lobbies": {"0": f"c{x}-0", "1": f"c{x}-1"}, "cars": {"0": f"{lift}-car-0", "1": f"{lift}-car-1"},
              "doors": {"0": f"{lift}-door-0", "1": f"{lift}-door-1"}, "travel_s_per_level": 5.0, "door_s": 3.0,
              "dwell_s": 6.0} for lift, x in (("near", 10), ("far", 40))]
    places = [{"name": "bed", "kind": "bed", "x_m": 0, "y_m": 0, "level": 1, "ward": "w", "bed_id": "W-1"},
              {"name": "dock", "kind": "dock", "x_m": 0, "y_m": 0, "level": 0}]
    nodes += [_node("bed", 0, 1), _node("dock", 0, 0)]
    edges += [_edge("bed", "c0-1", 1.0), _edge("dock", "c0-0", 1.0)]
    groups = [{"name": "lift:near", "kind": "lift", "nodes": ["near-car-0", "near-car-1"], "level": 0},
              {"name": "charger:dock", "kind": "charger", "nodes": ["dock"], "level": 0}]
    return {"format": MAP_FORMAT, "name": "two-floors", "places": places, "routes": {"nodes": nodes, "edges": edges},
            "lifts": lifts, "mutex_groups": groups}


def test_distance_between_floors_goes_via_the_best_lift() -> None:
    site = site_from_json(two_floor_map())
    near = site.lifts["near"]
    ride_s = lift_ride_s(near, 0, 1)
    assert ride_s == pytest.approx(5.0 + 3 * 3.0 + 5.0)  # half a round trip, three door moves, one floor
    # dock → c0 → c10 → car (13 m), ride, car → c10 → c0 → bed (13 m)
    assert site.distance_m("dock", "bed") == pytest.approx(26.0 + ride_s * LIFT_EQUIVALENT_MPS)
    assert site.distance_m("bed", "dock") == pytest.approx(site.distance_m("dock", "bed"))
    lift, drive_m, lift_s = site.lift_between("dock", "bed")  # type: ignore[misc]
    assert (lift.name, drive_m, lift_s) == ("near", pytest.approx(26.0), pytest.approx(ride_s))
    assert site.distance_m("c40-0", "c40-1") == pytest.approx(4.0 + ride_s)  # the far lift is nearer here
    assert site.distance_m("dock", "c40-0") == pytest.approx(41.0)  # one floor: as ever
    assert site.to_nearest_charger_m("bed") == pytest.approx(site.distance_m("bed", "dock"))
    assert site.distance_from_pose_m(0.0, 0.0, 1, "dock") == pytest.approx(site.distance_m("bed", "dock"))


def test_no_lift_between_the_floors_is_unreachable() -> None:
    data = two_floor_map()
    data["lifts"] = []
    site = site_from_json(data)
    assert site.distance_m("dock", "bed") == math.inf
    data = two_floor_map()
    for lift in data["lifts"]:
        lift["levels"], lift["cars"] = [0], {"0": lift["cars"]["0"]}
    assert site_from_json(data).distance_m("dock", "bed") == math.inf


def test_mutex_groups_and_groups_of_node() -> None:
    site = site_from_json(two_floor_map())
    assert sorted(site.mutex_groups) == ["charger:dock", "lift:near"]
    assert site.mutex_groups["lift:near"].kind == "lift"
    assert site.mutex_groups["lift:near"].nodes == {"near-car-0", "near-car-1"}
    assert site.groups_of_node("near-car-1") == ("lift:near",)
    assert site.groups_of_node("c0-0") == ()
    assert site.level_of("bed") == 1


def test_old_maps_without_lifts_or_groups_read_as_before() -> None:
    data = two_floor_map()
    del data["lifts"], data["mutex_groups"]
    site = site_from_json(data)
    assert site.lifts == {} and site.mutex_groups == {} and site.groups_of_node("dock") == ()
    assert site.distance_m("dock", "c10-0") == pytest.approx(11.0)
    assert site.distance_m("dock", "nowhere") == math.inf  # an unknown target is unreachable, as ever
    with pytest.raises(SiteError, match="unknown route node 'nowhere'"):
        site.distance_m("nowhere", "dock")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda d: d["lifts"][0]["cars"].update({"1": "ghost"}), r"lifts\[0\]\.cars\.1: unknown route node 'ghost'"),
        (lambda d: d["mutex_groups"][0].update(nodes=["ghost"]), r"mutex_groups\[0\]\.nodes: unknown route node"),
        (lambda d: d["lifts"][0].pop("x_m"), r"malformed map \(KeyError"),
        (lambda d: d["lifts"][0].update(lobbies=["c10-0"]), r"malformed map"),
    ],
)
def test_malformed_lifts_and_groups_are_site_errors(change: Any, match: str) -> None:
    data = copy.deepcopy(two_floor_map())
    change(data)
    with pytest.raises(SiteError, match=match):
        site_from_json(data, "two-floors.json")


def test_the_default_hospital_exported_for_the_fleet() -> None:
    from sim.world import load_world
    from sim.world_export import world_json

    world = load_world(MULTI_FLOOR_PATH)
    site = site_from_json(world_json(world))
    assert sorted(site.lifts) == ["lift-1", "lift-2"]
    assert isinstance(site.lifts["lift-1"], SiteLift) and site.lifts["lift-1"].cars[-1] == "lift-1-car-B1"
    assert set(site.mutex_groups) == set(world.mutex_groups)
    for name in ("lift-1-lobby-L0", "dock-ward-a", "spine-27", "isolation-room-1-anteroom"):
        assert site.groups_of_node(name) == world.groups_of_node(name)
    to_pharmacy = site.distance_m("ward-a-bed-01", "pharmacy")
    _, drive_m, ride_s = site.lift_between("ward-a-bed-01", "pharmacy")  # type: ignore[misc]
    assert to_pharmacy == pytest.approx(drive_m + ride_s * LIFT_EQUIVALENT_MPS)
    bed = world.places["ward-a-bed-01"]
    # the sim's drive length agrees with the fleet's (the fleet adds the lift trip as metres)
    assert world.route_distance_m(bed.pose, "pharmacy") == pytest.approx(drive_m, rel=0.02)
    assert site.distance_m("ward-a-bed-01", "ward-b-bed-01") < to_pharmacy
