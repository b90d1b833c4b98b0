"""The lidar and the bumper see other robots and people; every contact is counted, by kind."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hal.geometry import Pose2D, Twist2D
from hal.registry import BuildContext
from sim.lidar import default_scan_angles, raycast_circles
from sim.people import PeopleConfig
from tests.sim.perception_rig import DT, Rig, corridor_world


def _beam(scan: object, angle_rad: float) -> float:
    index = round((angle_rad - scan.angle_min_rad) / scan.angle_increment_rad)  # type: ignore[attr-defined]
    return float(scan.ranges_m[index])  # type: ignore[attr-defined]


def test_raycast_circles_hits_the_near_face() -> None:
    angles = default_scan_angles(360)
    ranges = raycast_circles(0.0, 0.0, 0.0, angles, np.array([3.0, -2.0]), np.array([0.0, 0.0]),
                             np.array([0.5, 0.3]), 12.0)
    ahead = int(np.argmin(np.abs(angles)))
    behind = int(np.argmin(np.abs(np.abs(angles) - math.pi)))
    assert ranges[ahead] == pytest.approx(2.5, abs=1e-4)
    assert ranges[behind] == pytest.approx(1.7, abs=1e-4)
    assert np.isinf(ranges[ahead + 90])  # to the left: nothing
    assert np.isinf(raycast_circles(0.0, 0.0, 0.0, angles, np.array([3.0]), np.array([0.0]),
                                    np.array([0.5]), 2.0)).all()  # beyond range


def test_lidar_sees_another_robot_at_the_right_range(tmp_path: Path) -> None:
    rig = Rig(corridor_world(tmp_path))
    rig.add("nurse-a", "west")
    rig.add("nurse-b", "east")
    rig.body("nurse-a").pose = Pose2D(5.0, 1.3, 0.0)
    rig.body("nurse-b").pose = Pose2D(8.0, 1.3, math.pi)
    body = rig.body("nurse-a")
    ctx = BuildContext(rig.clock, "nurse-a", extras={"sim_env": rig.env, "sim_body": body})
    lidar: Any = rig.registry.build("range_scanner", {"kind": "range_scanner", "model": "sim", "noise_sigma_m": 0.0},
                               ctx, source="robot.yaml", field_path="devices.range_scanner")
    with lidar:
        scan = lidar.scan()
        assert _beam(scan, 0.0) == pytest.approx(3.0 - 0.35, abs=0.02)  # nurse-b's footprint, not the far wall
        assert _beam(scan, math.pi / 2) == pytest.approx(1.3 - 0.1, abs=0.15)  # the corridor wall
        rig.body("nurse-b").pose = Pose2D(8.0, 1.3, 0.0, level=1)  # another floor: not seen
        assert _beam(scan := lidar.scan(), 0.0) > 20.0
        assert scan.min_range_m() == pytest.approx(1.2, abs=0.15)


def test_driving_into_a_robot_is_one_contact_and_stops_the_body(tmp_path: Path) -> None:
    rig = Rig(corridor_world(tmp_path))
    rig.add("nurse-a", "west")
    rig.add("nurse-b", "east")
    a, b = rig.body("nurse-a"), rig.body("nurse-b")
    a.pose = Pose2D(5.0, 1.3, 0.0)
    b.pose = Pose2D(6.5, 1.3, 0.0)
    contact_seen = False
    for _ in range(round(6.0 / DT)):  # pressing on for seconds, as a bumper-stopped robot told to go would
        a.commanded = Twist2D(0.5, 0.0)
        rig.clock.advance(DT)
        rig.env.step(DT)
        contact_seen |= a.bumper_contact
        assert math.hypot(b.pose.x_m - a.pose.x_m, b.pose.y_m - a.pose.y_m) >= 0.7 - 1e-9  # never inside
    assert contact_seen and a.last_contact in (("robot", "nurse-b"), None)
    assert rig.env.contact_summary() == {"robot-robot": 1, "robot-person": 0, "robot-wall": 0, "total": 1}
    (contact,) = rig.env.contacts
    assert (contact.kind, contact.robot_id, contact.other_id, contact.level) == ("robot-robot", "nurse-a", "nurse-b", 0)
    assert contact.x_m == pytest.approx(a.pose.x_m) and contact.at_s > rig.clock.now_s() - 6.0
    assert set(contact.as_dict()) == {"kind", "robot_id", "other_id", "other_kind", "at_s", "level", "x_m", "y_m"}
    # backing away is allowed; a second push after a pause is a second contact
    a.commanded = Twist2D(-0.3, 0.0)
    for _ in range(round(3.0 / DT)):
        rig.clock.advance(DT)
        rig.env.step(DT)
    for _ in range(round(4.0 / DT)):
        a.commanded = Twist2D(0.5, 0.0)
        rig.clock.advance(DT)
        rig.env.step(DT)
    assert rig.env.contact_summary()["robot-robot"] == 2


def test_walls_and_people_are_counted_by_kind(tmp_path: Path) -> None:
    # one visitor standing at the end of the cross corridor (a long pause), the robot driven at them
    rig = Rig(corridor_world(tmp_path, cross=True),
              people=PeopleConfig(visitors_per_level=1, beds_per_level=0, pause_s=(1000.0, 1000.0)))
    people = rig.env.people
    assert people is not None
    rig.add("nurse-a", "west")
    a = rig.body("nurse-a")
    px, py = float(people.x_m[0]), float(people.y_m[0])
    toward = -1.0 if py > 0 else 1.0  # approach from the corridor side
    a.pose = Pose2D(px, py + toward * 1.5, -toward * math.pi / 2)
    for _ in range(round(5.0 / DT)):
        a.commanded = Twist2D(0.4, 0.0)
        rig.clock.advance(DT)
        rig.env.step(DT)
    assert math.hypot(px - a.pose.x_m, py - a.pose.y_m) >= 0.65 - 1e-9
    a.pose = Pose2D(5.0, 1.3, math.pi / 2)  # now into the corridor's wall
    for _ in range(round(5.0 / DT)):
        a.commanded = Twist2D(0.4, 0.0)
        rig.clock.advance(DT)
        rig.env.step(DT)
    assert rig.env.contact_summary() == {"robot-robot": 0, "robot-person": 1, "robot-wall": 1, "total": 2}
    person, wall = rig.env.contacts
    assert (person.other_kind, person.other_id) == ("person", "visitor-0")
    assert (wall.kind, wall.other_id) == ("robot-wall", None)


def test_obstacles_near_lists_robots_and_people_nearest_first(tmp_path: Path) -> None:
    rig = Rig(corridor_world(tmp_path))
    rig.add("nurse-a", "west")
    rig.add("nurse-b", "east")
    rig.body("nurse-b").pose = Pose2D(4.0, 1.3, 0.0)
    near = rig.env.obstacles_near(0, 1.5, 1.3, 3.0, exclude="nurse-a")
    assert [(o.kind, o.ident) for o in near] == [("robot", "nurse-b")]
    assert near[0].radius_m == 0.35 and not near[0].moving
    assert rig.env.obstacles_near(0, 1.5, 1.3, 2.0, exclude="nurse-a") == []  # its edge is 2.15 m away
    assert rig.env.obstacles_near(1, 4.0, 1.3, 3.0) == []


def test_robots_placed_on_one_dock_drive_off_without_contact(tmp_path: Path) -> None:
    rig = Rig(corridor_world(tmp_path))
    rig.add("nurse-a", "west")
    rig.add("nurse-b", "west")  # dock mates: a world with fewer docks than robots
    handles = rig.go({"nurse-a": "east"}, max_s=120.0)
    assert handles["nurse-a"].poll().value == "succeeded"
    assert rig.env.contact_summary()["total"] == 0


def test_people_walk_at_walking_speed_and_stay_on_their_level(tmp_path: Path) -> None:
    rig = Rig(corridor_world(tmp_path, cross=True, main_tag="corridor", width_m=3.2), seed=3,
              people=PeopleConfig(visitors_per_level=2, beds_per_level=1, pause_s=(1.0, 3.0)))
    people = rig.env.people
    assert people is not None and people.idents == ["visitor-0", "visitor-1", "bed-0"]
    before = people.positions()
    speeds: list[float] = []
    for _ in range(round(60.0 / DT)):
        rig.tick()
        after = people.positions()
        speeds += [math.dist(p[2:], q[2:]) / DT for p, q in zip(before, after, strict=True)]
        before = after
    moving = [s for s in speeds if s > 0]
    assert moving and max(moving) <= 1.3 + 1e-6 and min(moving) >= 0.0
    assert all(level == 0 for _, level, _, _ in before)
    circles = rig.env.obstacles.people
    assert len(circles.x_m) == 2 + 2  # a bed is two circles
    assert rig.env.enable_people(PeopleConfig(visitors_per_level=0, beds_per_level=0)) is None
    assert len(rig.env.obstacles.people.x_m) == 0


def test_a_body_moves_on_its_own_levels_grid() -> None:
    from sim.body import SimBody
    from sim.occupancy import OccupancyGrid

    bounds = (-1.0, -1.0, 11.0, 3.0)
    walled = OccupancyGrid.from_walls([((5.0, -1.0), (5.0, 3.0))], bounds=bounds)  # level 0: a wall at x = 5
    open_floor = OccupancyGrid.from_walls([], bounds=bounds)

    class TwoFloors:
        def __init__(self) -> None:
            self.grids = {0: walled, 1: open_floor}

        def docks(self) -> list[Any]:
            return []

    for level, passes in ((0, False), (1, True)):
        body = SimBody("r1", Pose2D(4.0, 1.0, 0.0, level))
        for _ in range(round(4.0 / DT)):
            body.commanded = Twist2D(0.5, 0.0)
            body.integrate(DT, TwoFloors())
        assert (body.pose.x_m > 5.0) is passes
        assert (body.last_contact == ("wall", "")) is not passes
