"""A robot at full speed round corners, with beds parked where it cannot see them until late.

The real navigator, body and lidar, on the hospital day's 0.5 s control period, with the security
robot's 1.3 m/s: told to stop (a turn on the spot at a corner is one), a body brakes at 0.5 m/s²
and coasts v²/2a ≈ 1.7 m along its heading, past the corner, so the navigator must slow before
sharp corners and keep its braking envelope along the heading free, not only the path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hal.geometry import Pose2D
from hal.handle import HandleStatus
from hal.navigator import NavigationGoal
from hal.registry import BuildContext
from sim.obstacles import BED, PeopleCircles
from sim.people import PeopleConfig, PeopleModel
from sim.world import World, load_world
from tests.sim.perception_rig import Rig, corridor_world, set_walking

TICK_S = 0.5  # hospital-day's tick
FULL_SPEED = {"max_speed_mps": 1.3}  # the security robot's patrol pace
BED_RADIUS_M = 0.55  # sim.people's default bed: two circles 0.65 m either side of its centre
BED_HALF_M = 0.65
ROBOT_RADIUS_M = 0.35


def junction_world(tmp_path: Path) -> World:
    """A 2.4 m corridor along x (centre line y = 1.2) from x = 0 to 30, and a 2.4 m branch north
    from it at x = 14..16.4 (centre line x = 15.2) to y = 14: a T-junction whose inner corners
    hide the branch from a robot coming along the corridor. Fast zones (1.5 m/s) everywhere."""
    data: dict[str, Any] = {
        "name": "Blind-corner test junction",
        "walls": [{"points": [[0, 0], [30, 0], [30, 2.4], [16.4, 2.4], [16.4, 14], [14, 14], [14, 2.4], [0, 2.4]],
                   "closed": True}],
        "zones": [{"name": "main", "tag": "corridor", "rect": [0.1, 0.1, 29.9, 2.3], "speed_limit_mps": 1.5},
                  {"name": "branch", "tag": "corridor", "rect": [14.1, 2.3, 16.3, 13.9], "speed_limit_mps": 1.5}],
        "places": [
            {"name": "west", "x": 1.5, "y": 1.2, "yaw_deg": 0, "kind": "parking"},
            {"name": "east", "x": 28.5, "y": 1.2, "yaw_deg": 180, "kind": "parking"},
            {"name": "north", "x": 15.2, "y": 12.5, "yaw_deg": 90, "kind": "parking"},
        ],
        "routes": {
            "waypoints": [{"name": "w-05", "x": 5, "y": 1.2}, {"name": "w-10", "x": 10, "y": 1.2},
                          {"name": "junction", "x": 15.2, "y": 1.2}, {"name": "w-20", "x": 20, "y": 1.2},
                          {"name": "branch-mid", "x": 15.2, "y": 8}],
            "edges": [["west", "w-05"], ["w-05", "w-10"], ["w-10", "junction"], ["junction", "w-20"],
                      ["w-20", "east"], ["junction", "branch-mid"], ["branch-mid", "north"]],
        },
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "junction.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_world(path)


def park_bed(rig: Rig, x_m: float, y_m: float, yaw_rad: float) -> None:
    """A bed left standing (its porter gone): two circles along its heading, not moving."""
    ux, uy = math.cos(yaw_rad), math.sin(yaw_rad)
    rig.env.obstacles.people = PeopleCircles(
        np.array([x_m + ux * BED_HALF_M, x_m - ux * BED_HALF_M]),
        np.array([y_m + uy * BED_HALF_M, y_m - uy * BED_HALF_M]),
        np.full(2, BED_RADIUS_M), np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64), ["bed-0"], [BED],
        np.zeros(1, dtype=bool), np.zeros(1, dtype=bool), np.zeros(1), np.zeros(1))


def free_ahead_m(ranges: np.ndarray, angles: np.ndarray) -> float:
    """How far the footprint can move straight ahead before touching what the scan shows."""
    free = math.inf
    for r, a in zip(ranges, angles, strict=True):
        if not math.isfinite(r) or abs(a) >= math.pi / 2:
            continue
        lateral = abs(r * math.sin(a))
        if lateral < ROBOT_RADIUS_M:
            free = min(free, r * math.cos(a) - math.sqrt(ROBOT_RADIUS_M**2 - lateral**2))
    return free


def drive(rig: Rig, goal: str, max_s: float) -> tuple[HandleStatus, float, float]:
    """Drive security-1 to `goal`, checking every tick that its braking distance fits inside the
    free range its lidar sees ahead; (status, worst braking margin m, top speed m/s)."""
    body = rig.body("security-1")
    nav = rig.robots["security-1"][1]
    ctx = BuildContext(rig.clock, "security-1", extras={"sim_env": rig.env, "sim_body": body})
    lidar: Any = rig.registry.build("range_scanner", {"kind": "range_scanner", "model": "sim", "noise_sigma_m": 0.0},
                                    ctx, source="robot.yaml", field_path="devices.lidar")
    lidar.setup()
    handle = nav.start_go_to(NavigationGoal(place=goal))
    worst_margin, top_speed, t = math.inf, 0.0, 0.0
    while handle.poll() is HandleStatus.RUNNING and t < max_s:
        rig.tick()
        t += rig.dt_s
        scan = lidar.scan()
        angles = scan.angle_min_rad + scan.angle_increment_rad * np.arange(len(scan.ranges_m))
        v = body.velocity.linear_mps
        braking_m = v * v / (2 * body.max_accel_mps2)
        worst_margin = min(worst_margin, free_ahead_m(scan.ranges_m, angles) - braking_m)
        top_speed = max(top_speed, v)
    return handle.poll(), worst_margin, top_speed


def test_a_robot_turning_at_full_speed_does_not_coast_into_a_bed_parked_straight_on(tmp_path: Path) -> None:
    # the security robot's contact of the one-floor day: it turns north at the junction, and a
    # bed stands in the corridor straight on, 0.9 m past its side wall, off its path
    rig = Rig(junction_world(tmp_path), dt_s=TICK_S)
    rig.add("security-1", "west", body_kwargs=FULL_SPEED, **FULL_SPEED)
    park_bed(rig, 15.2 + 1.45 + BED_HALF_M, 1.2, 0.0)
    status, margin, top = drive(rig, "north", 120.0)
    assert status is HandleStatus.SUCCEEDED
    assert top > 1.2  # it did drive at full speed along the corridor
    assert margin >= 0.0  # it could always stop inside what its lidar saw ahead
    assert rig.env.contact_summary()["total"] == 0, rig.env.contacts


def test_a_robot_at_full_speed_stops_for_a_bed_parked_just_round_a_blind_corner(tmp_path: Path) -> None:
    # the bed stands across the branch right behind the inner corner: hidden from the corridor
    rig = Rig(junction_world(tmp_path), dt_s=TICK_S)
    rig.add("security-1", "west", body_kwargs=FULL_SPEED, blocked_timeout_s=20.0, **FULL_SPEED)
    bed_y = 2.4 + 1.3
    park_bed(rig, 15.2, bed_y, 0.0)
    status, margin, top = drive(rig, "north", 120.0)
    assert status is HandleStatus.FAILED  # the bed blocks the branch: it waited, then gave up
    assert top > 1.2
    assert margin >= 0.0
    body = rig.body("security-1")
    assert body.pose.y_m < bed_y - BED_RADIUS_M - ROBOT_RADIUS_M  # stopped short of it
    assert rig.env.contact_summary()["total"] == 0, rig.env.contacts


def test_a_robot_takes_a_sharp_corner_slowly_and_a_straight_fast(tmp_path: Path) -> None:
    rig = Rig(junction_world(tmp_path), dt_s=TICK_S)
    nav = rig.add("security-1", "west", body_kwargs=FULL_SPEED, **FULL_SPEED)
    body = rig.body("security-1")
    handle = nav.start_go_to(NavigationGoal(place="north"))
    at_corner, top, weave = math.inf, 0.0, 0.0
    while handle.poll() is HandleStatus.RUNNING:
        rig.tick()
        pose = body.pose
        if math.hypot(pose.x_m - 15.2, pose.y_m - 1.2) < 0.6:
            at_corner = min(at_corner, body.velocity.linear_mps)
        top = max(top, body.velocity.linear_mps)
        if pose.y_m > 4.0:  # on the branch's straight: no weaving across it at full speed
            weave = max(weave, abs(pose.x_m - 15.2))
    assert handle.poll() is HandleStatus.SUCCEEDED
    assert at_corner <= 0.5  # about CORNER_SPEED_MPS where it turns
    assert top > 1.25
    assert weave < 0.1
    assert rig.env.contact_summary()["total"] == 0


def test_a_bed_turning_at_a_junction_does_not_swing_its_end_into_a_robot(tmp_path: Path) -> None:
    # a bed pushed south reaches the junction and turns east, where a robot stands 1.3 m off:
    # turned at once, its front end would land 0.65 m from the robot's centre, inside it
    world = corridor_world(tmp_path, width_m=3.4, main_tag="corridor")  # wide enough for beds
    model = PeopleModel(world, PeopleConfig(visitors_per_level=0, beds_per_level=1), seed=1)
    assert len(model) == 1
    model._ax[0], model._ay[0] = 15.0, 1.7  # at the junction, its walk now heading east ...
    model._ux[0], model._uy[0] = 1.0, 0.0
    model._hx[0], model._hy[0] = 0.0, -1.0  # ... its footprint still lying north-south
    model._s[0], model._len[0], model._pause[0] = 0.0, 5.0, 0.0
    level = np.zeros(1, dtype=np.int64)
    radius = np.full(1, ROBOT_RADIUS_M)

    def footprint() -> set[tuple[float, float]]:
        c = model.circles()
        return {(round(float(x), 2), round(float(y), 2)) for x, y in zip(c.x_m, c.y_m, strict=True)}

    for _ in range(4):
        model.step(TICK_S, np.array([16.3]), np.array([1.7]), level, radius)
        assert footprint() == {(15.0, 1.05), (15.0, 2.35)}  # waits, still lying as it came
        assert not model.moving[0] and model.waiting[0]
    model.step(TICK_S, np.array([25.0]), np.array([1.7]), level, radius)  # the robot has gone
    assert footprint() == {(14.35, 1.7), (15.65, 1.7)}  # swung east
    model.step(TICK_S, np.array([25.0]), np.array([1.7]), level, radius)
    assert model.moving[0]


@pytest.mark.parametrize("start_x_m", [10.3, 12.0], ids=["just-past-the-node", "half-way-along-the-edge"])
def test_a_robot_past_its_nearest_node_drives_on_without_turning_back(tmp_path: Path, start_x_m: float) -> None:
    # the plan starts at the node nearest the robot, w-10, behind it: driving back to it would be
    # a turn on the spot towards whoever is behind. In the day: 0.3 m past it, a visitor waiting
    # for the robot to go on, and the robot, its carrot behind it, waiting for the visitor; 2 m
    # past it (3 m short of w-15), a nurse robot turned back into the robot following it along the
    # edge, and each waited for the other for an hour
    rig = Rig(corridor_world(tmp_path), dt_s=TICK_S)
    nav = rig.add("nurse-a", "west")
    body = rig.body("nurse-a")
    body.pose = Pose2D(start_x_m, 1.3, 0.0)
    handle = nav.start_go_to(NavigationGoal(place="east"))
    assert nav.route_nodes()[0] == "w-10"  # the node keeps its name in the plan (reservations)
    worst_yaw, least_x = 0.0, body.pose.x_m
    while handle.poll() is HandleStatus.RUNNING:
        rig.tick()
        least_x = min(least_x, body.pose.x_m)
        if body.pose.x_m < 27.0:  # before it turns round to the place's yaw
            worst_yaw = max(worst_yaw, abs(body.pose.yaw_rad))
    assert handle.poll() is HandleStatus.SUCCEEDED, handle.error
    assert worst_yaw < 0.2 and least_x >= start_x_m - 0.01


def test_a_visitor_a_robot_held_up_walks_on_by_another_way(tmp_path: Path) -> None:
    # a visitor walking east from the crossing meets a robot standing in the way; after their
    # patience they turn back, and walk on by a way that does not lead into the robot again
    world = corridor_world(tmp_path, cross=True, main_tag="corridor")
    model = PeopleModel(world, PeopleConfig(visitors_per_level=1, beds_per_level=0), seed=1)
    walker = model._walkers[0]
    set_walking(model, "w-15", ["w-20", "w-25"], 15.0, 1.3)
    # where they walk at x = 17.5 (kept right of the centre line)
    y = float(model._ay[0] + model._uy[0] * (17.5 - model._ax[0]) / model._ux[0])
    # the robot in the way, and another in the crossing (with a robot that near, nobody steps
    # round one: stepping out in front of the other is how people get hit)
    level = np.zeros(2, dtype=np.int64)
    robot = (np.array([17.5, 15.0]), np.array([y, 3.2]), level, np.full(2, ROBOT_RADIUS_M))
    for _ in range(round(2 * model.config.patience_s / TICK_S)):
        model.step(TICK_S, *robot)
        if walker.ahead[:1] != ["w-20"]:
            break  # their patience is up
    assert walker.ahead and walker.ahead[0] == "w-15"  # back to the crossing ...
    assert len(walker.ahead) > 1 and walker.ahead[1] != "w-20"  # ... and on, not into the robot again


def test_a_visitor_caught_between_two_waiting_robots_steps_to_the_wall_and_lets_them_pass(tmp_path: Path) -> None:
    # a robot in front and one behind, each waiting for the visitor: turning back only walks into
    # the other (a knot of visitors and two robots stood like that in a ward door for hours); the
    # visitor steps sideways out of the line the robots stand on and waits there a moment
    from sim.people import STAND_ASIDE_CLEAR_M

    world = corridor_world(tmp_path, width_m=3.0, main_tag="corridor")
    model = PeopleModel(world, PeopleConfig(visitors_per_level=1, beds_per_level=0), seed=1)
    walker = model._walkers[0]
    set_walking(model, "w-10", ["w-15", "w-20"], 10.0, 1.5)
    line_y = float(model._ay[0]) + 0.2  # the two robots stand (nearly) in the visitor's way
    level = np.zeros(2, dtype=np.int64)
    # the one behind close enough that walking round the one in front would step out before it
    robots = (np.array([12.5, 9.2]), np.array([line_y, line_y]), level, np.full(2, ROBOT_RADIUS_M))
    for _ in range(round(2 * model.config.patience_s / TICK_S)):
        model.step(TICK_S, *robots)
        if walker.standing_aside:
            break
    assert walker.standing_aside  # patience up: off to the wall, not back into the robot behind
    assert walker.ahead[:1] == ["w-15"]
    for _ in range(round(5.0 / TICK_S)):
        model.step(TICK_S, *robots)
    x, y = float(model.x_m[0]), float(model.y_m[0])
    assert 9.2 < x < 12.5 and abs(y - line_y) >= model.config.person_radius_m + ROBOT_RADIUS_M + STAND_ASIDE_CLEAR_M
    assert not model.waiting[0] and not model.moving[0]  # standing there, waiting for no one
    assert world.grids[0].inflated(model.config.person_radius_m).is_free(x, y)  # not in the wall


def stand_visitor(rig: Rig, x_m: float, y_m: float, *, waiting: bool) -> None:
    """A visitor standing still (waiting for the robot in front of them, or not)."""
    rig.env.obstacles.people = PeopleCircles(
        np.array([x_m]), np.array([y_m]), np.full(1, 0.3), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64),
        ["visitor-0"], ["visitor"], np.zeros(1, dtype=bool), np.full(1, waiting), np.zeros(1), np.zeros(1))


def test_a_robot_face_to_face_with_a_waiting_visitor_backs_off_once(tmp_path: Path) -> None:
    # a visitor who waits for the robot (it stands in their way) and a robot that waits for them:
    # after BACK_OFF_AFTER_S the robot reverses BACK_OFF_M along the way it came, without touching
    # anything, then waits again; a visitor who is only standing there (not waiting) gets no back-off
    from sim.devices.navigator_detours import BACK_OFF_AFTER_S, BACK_OFF_M

    def run(waiting: bool) -> list[float]:
        rig = Rig(junction_world(tmp_path / str(waiting)), dt_s=TICK_S)
        nav = rig.add("security-1", "west", blocked_timeout_s=60.0)
        stand_visitor(rig, 8.0, 1.2, waiting=waiting)
        handle = nav.start_go_to(NavigationGoal(place="east"))
        xs = []
        for _ in range(round(30.0 / TICK_S)):
            rig.tick()
            xs.append(rig.body("security-1").pose.x_m)
        handle.cancel()
        assert rig.env.contact_summary()["total"] == 0, rig.env.contacts
        return xs

    xs = run(True)
    stopped = max(xs)
    at = next(i for i, x in enumerate(xs) if x >= stopped - 0.01)  # where it first stopped
    assert stopped < 8.0 - 0.3 - ROBOT_RADIUS_M  # short of the visitor
    assert all(x >= stopped - 0.01 for x in xs[at:at + round(BACK_OFF_AFTER_S / TICK_S) - 2])  # waited there
    assert min(xs[at:]) == pytest.approx(stopped - BACK_OFF_M, abs=0.25)  # then backed off
    # came up again (the visitor did not move here) and waits: one back-off per blockage
    assert all(x == pytest.approx(stopped, abs=0.02) for x in xs[-round(4.0 / TICK_S):])
    still = run(False)
    assert min(still[still.index(max(still)):]) > max(still) - 0.05  # a visitor not waiting: it waits


def test_a_robot_standing_right_by_a_corner_off_its_path_turns_onto_the_next_leg_without_spinning(
        tmp_path: Path) -> None:
    # just past a corner and off the path, the point one lookahead along the path from the
    # robot's projection lies right beside it: steering at it, a robot spun on the spot for 25 s
    # (holding a lift all the while). Nearer the next leg than the one it has all but finished, it
    # follows the next leg
    rig = Rig(junction_world(tmp_path), dt_s=TICK_S)
    nav = rig.add("r1", "west")
    handle = nav.start_go_to(NavigationGoal(place="north"))
    rig.tick()  # planned from the west end; then, standing still, found by the corner
    corner_y = 1.2  # the junction's waypoint is at (15.2, 1.2)
    rig.body("r1").pose = Pose2D(15.16, corner_y + 0.54, 0.0, 0)  # beside the corner, facing east
    turned = 0.0
    last = rig.body("r1").pose.yaw_rad
    for _ in range(round(20.0 / TICK_S)):
        rig.tick()
        yaw = rig.body("r1").pose.yaw_rad
        turned += abs(math.remainder(yaw - last, math.tau))
        last = yaw
    assert turned < math.pi  # a quarter turn to the north, give or take: not round and round
    assert rig.body("r1").pose.y_m > corner_y + 5.0, rig.body("r1").pose  # and on its way up the leg
    assert handle.poll() in (HandleStatus.RUNNING, HandleStatus.SUCCEEDED), handle.error


def test_a_robot_still_rolling_at_a_corner_brakes_straight_rather_than_sweep_into_a_person(tmp_path: Path) -> None:
    # told to turn on the spot at a corner while still rolling, a body brakes along an arc; with a
    # person just round the corner that arc sweeps its front into them (a patrol robot did, at
    # 0.45 m/s). It brakes straight first, then turns
    from hal.geometry import Twist2D

    rig = Rig(junction_world(tmp_path), dt_s=TICK_S)
    nav = rig.add("r1", "east")
    handle = nav.start_go_to(NavigationGoal(place="north"))
    body = rig.body("r1")
    body.pose = Pose2D(15.59, 1.2, math.pi, 0)  # 0.39 m short of the junction, heading west
    body.velocity = Twist2D(0.7, 0.0)  # and still rolling
    stand_visitor(rig, 15.14, 1.95, waiting=False)  # just round the corner, on the way north
    for _ in range(round(6.0 / TICK_S)):
        rig.tick()
    assert rig.env.contact_summary()["total"] == 0, rig.env.contacts
    handle.cancel()

