"""Scaled hospital days: every robot on a spot of its own (a free dock of its department, else the
nearest free parking bay on its original's floor), the same every run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.scaled import scaled_robots, scaled_scenario, start_places, write_scaled_scenario
from sim.scenario import SCENARIOS_DIR, load_scenario
from sim.world import World, load_world

MULTI_FLOOR_PATH = Path(__file__).resolve().parents[2] / "sim" / "worlds" / "default_hospital.yaml"


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(MULTI_FLOOR_PATH)


def _fleet(n_robots: int) -> list[dict[str, Any]]:
    """hospital-day's robots and their copies, as scaled_scenario makes them."""
    originals = yaml.safe_load((SCENARIOS_DIR / "hospital-day.yaml").read_text(encoding="utf-8"))["robots"]
    return scaled_robots(originals, n_robots)


def test_48_robots_start_on_48_distinct_places_on_their_floors(world: World) -> None:
    robots = _fleet(48)
    spots = start_places(world, robots, strict=True)
    assert [s.robot_id for s in spots] == [r["id"] for r in robots]
    assert len({s.start for s in spots}) == 48
    by_id = {s.robot_id: s for s in spots}
    for robot in robots:
        spot = by_id[robot["id"]]
        original = by_id[robot.get("copy_of", robot["id"])]
        # the copy works where its original does: the same floor, its home dock a charger there
        assert spot.level == world.level_of(spot.start) == world.level_of(original.dock), robot["id"]
        assert world.places[spot.dock].kind == "dock"
        assert world.places[spot.start].kind in ("dock", "parking")
        if spot.start != spot.dock:  # on a bay: it goes home to its original's dock
            assert spot.dock == original.dock
            assert world.places[spot.start].zone != "car-park"
        if robot.get("confined"):  # the isolation ward's own robots never start outside it
            zone = world.places[spot.start].zone or ""
            assert zone == "isolation" or zone.startswith("charging-isolation"), zone


def test_a_free_dock_first_then_the_nearest_bay(world: World) -> None:
    by_id = {s.robot_id: s for s in start_places(world, _fleet(48))}
    # the file's robots keep their docks; epi-1 shares nurse-iso's in the file and gets the second one
    assert (by_id["nurse-a"].start, by_id["nurse-iso"].start) == ("dock-ward-a", "dock-isolation")
    assert by_id["epi-1"].start == by_id["epi-1"].dock == "dock-isolation-2"
    # a copy takes a free dock of its floor: the robot bay's (no department) or its department's kind
    assert {by_id["nurse-a-x1"].dock, by_id["nurse-b-x1"].dock} == {"dock-first-floor-1", "dock-first-floor-2"}
    assert by_id["logistics-1-x1"].start.startswith("dock-logistics-")
    # then a bay near its work
    assert by_id["nurse-a-x2"].start.startswith("parking-ward-a-")
    assert by_id["nurse-b-x2"].start.startswith("parking-ward-b-")
    # the isolation ward's four chargers: its own two robots, then the confined copies first; the
    # next ones wait on bays inside the ward
    assert (by_id["nurse-iso-x1"].dock, by_id["nurse-iso-x2"].dock) == ("dock-isolation-3", "dock-isolation-4")
    assert by_id["nurse-iso-x3"].start.startswith("parking-isolation-")
    assert by_id["epi-1-x1"].start.startswith("parking-isolation-")
    assert by_id["logistics-1-x3"].start.startswith("parking-logistics-")
    assert by_id["lab-1-x1"].start.startswith("parking-ground-")
    # the confined robot's dock is never given to another department, nor a bay outside its ward
    assert by_id["nurse-iso-x3"].dock == "dock-isolation"


def test_placement_is_deterministic_and_bounded(world: World) -> None:
    assert start_places(world, _fleet(48)) == start_places(world, _fleet(48))
    # more robots than spots: the rest share their original's dock (dock mates) unless strict
    spots = start_places(world, _fleet(200))
    assert len({s.start for s in spots}) < 200
    with pytest.raises(ValueError, match="no free dock or parking bay on level"):
        start_places(world, _fleet(200), strict=True)


def test_scaled_scenario_loads_with_the_placed_docks(tmp_path: Path) -> None:
    path = write_scaled_scenario(12, tmp_path, world="default_hospital")
    scenario = load_scenario(str(path))
    assert scenario.world == "default_hospital" and len(scenario.robots) == 12
    docks = {r.id: r.dock for r in scenario.robots}
    assert docks["epi-1"] == "dock-isolation-2" and docks["nurse-a-x1"] == "dock-first-floor-1"
    data = scaled_scenario(12, world="default_hospital")
    assert all("copy_of" not in r for r in data["robots"])
