"""Where the fire alarm parks robots: on their side of the fire doors, which the alarm shuts."""

from __future__ import annotations

from pathlib import Path

import yaml

from fleet.alarm import park_spots
from fleet.robots import RobotView
from fleet.site import site_from_json
from sim.world import load_world
from sim.world_export import world_json


def corridor_with_fire_door(tmp_path: Path) -> Path:
    """A 40 m corridor, a fire door at x = 12 (between w-10 and w-14); a dock just past the door
    (x = 16) and a parking bay on the near side, far off (x = 1.5)."""
    data = {
        "name": "fire door corridor",
        "walls": [{"points": [[0, 0], [40, 0], [40, 3], [0, 3]], "closed": True}, {"points": [[12, 0], [12, 3]]}],
        "zones": [],
        "places": [
            {"name": "parking-west", "x": 1.5, "y": 1.5, "yaw_deg": 0, "kind": "parking"},
            {"name": "room", "x": 9.0, "y": 1.5, "yaw_deg": 0, "kind": "room"},
            {"name": "dock-east", "x": 16.0, "y": 1.5, "yaw_deg": 0, "kind": "dock"},
        ],
        "doors": [{"name": "fire-12", "at": [12, 1.5], "between": ["w-10", "w-14"], "auto": False, "fire": True,
                   "width_m": 1.6}],
        "routes": {"waypoints": [{"name": "w-10", "x": 10, "y": 1.5}, {"name": "w-14", "x": 14, "y": 1.5}],
                   "edges": [["parking-west", "room", "w-10"], ["w-14", "dock-east"]]},
    }
    path = tmp_path / "corridor.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_a_robot_is_parked_on_its_side_of_the_fire_doors_even_when_a_spot_past_one_is_nearer(tmp_path: Path) -> None:
    site = site_from_json(world_json(load_world(corridor_with_fire_door(tmp_path))), "corridor")
    assert site.fire_doors == {"fire-12"}
    near_the_door = RobotView("r1", x_m=9.0, y_m=1.5, level=0)
    # the dock is 7 m away through the door, the parking bay 7.5 m on this side
    assert site.distance_from_pose_m(9.0, 1.5, 0, "dock-east") < site.distance_from_pose_m(9.0, 1.5, 0, "parking-west")
    assert park_spots(site, [near_the_door]) == {"r1": "parking-west"}
    # a robot past the door parks on its own side too
    beyond = RobotView("r2", x_m=15.0, y_m=1.5, level=0)
    assert park_spots(site, [near_the_door, beyond]) == {"r1": "parking-west", "r2": "dock-east"}


def test_with_every_spot_on_its_side_taken_a_robot_is_not_sent_through_a_shut_door(tmp_path: Path) -> None:
    site = site_from_json(world_json(load_world(corridor_with_fire_door(tmp_path))), "corridor")
    # the free dock lies past the door the alarm has shut: the robot could not get there
    assert park_spots(site, [RobotView("r1", x_m=9.0, y_m=1.5, level=0)], taken={"parking-west"}) == {
        "r1": "parking-west"}
