"""Where people stop and when they step off: never in a doorway or a single-lane stretch, and
never into a robot rolling by."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sim.people import PeopleConfig, PeopleModel
from sim.world import load_world
from tests.sim.perception_rig import corridor_world, set_walking

WORLD = Path(__file__).resolve().parents[2] / "sim" / "worlds" / "default_hospital.yaml"
TICK_S = 0.5
ROBOT_RADIUS_M = 0.35


def test_nobody_stops_in_a_doorway_a_lane_or_a_lift_hall_but_they_walk_through_them() -> None:
    # a visitor waiting in the clinical lab's doorway boxed in a robot leaving the lab while
    # another held for that door behind them, for half an hour: people pause only where robots
    # do not queue for a shared resource (the fleet's mutex groups)
    world = load_world(WORLD)
    model = PeopleModel(world, PeopleConfig(visitors_per_level=6, beds_per_level=2), seed=3)
    none = np.zeros(0)
    stood_at: set[str] = set()
    passed: set[str] = set()
    for _ in range(round(3 * 3600 / TICK_S)):  # no robots: every stop is an arrival
        model.step(TICK_S, none, none, np.zeros(0, dtype=np.int64), none)
        for i, walker in enumerate(model._walkers):
            if model._len[i] <= 0.0 and model._pause[i] > 0.0:
                stood_at.add(walker.node)
            else:
                passed.add(walker.node)
    assert stood_at  # they did stop somewhere
    assert not [n for n in stood_at if world.groups_of_node(n)]
    # nor in a lift hall, next to a lift's lobby (nobody in this model rides a lift)
    routes = world.routes.graph
    lobbies = {n for g in world.mutex_groups.values() if g.kind == "lift" for n in g.nodes}
    assert not [n for n in stood_at if lobbies & {*routes.successors(n), *routes.predecessors(n)}]
    # and still walk through the doors' passages and the lanes
    assert any(g.startswith("door:") for n in passed for g in world.groups_of_node(n))


def test_a_visitor_does_not_step_off_into_a_robot_rolling_across_their_way(tmp_path: Path) -> None:
    # a visitor sets off north across the main corridor as a robot comes along it at 0.7 m/s; it
    # is not in front of them yet, but it will be in a second, and could not stop short: they wait
    # for it to pass, then cross
    world = corridor_world(tmp_path, cross=True, main_tag="corridor")
    model = PeopleModel(world, PeopleConfig(visitors_per_level=1, beds_per_level=0), seed=1)
    set_walking(model, "south", ["w-15", "north"], 15.3, -1.0)
    robot_x, robot_y, speed = 13.0, 1.3, 0.7
    level, radius = np.zeros(1, dtype=np.int64), np.full(1, ROBOT_RADIUS_M)
    closest = np.inf
    waited = False
    for _ in range(round(20.0 / TICK_S)):
        model.step(TICK_S, np.array([robot_x]), np.array([robot_y]), level, radius,
                   np.array([speed]), np.zeros(1))
        waited |= bool(model.waiting[0])
        closest = min(closest, float(np.hypot(model.x_m[0] - robot_x, model.y_m[0] - robot_y)))
        robot_x += speed * TICK_S
    assert waited
    assert closest > model.config.person_radius_m + ROBOT_RADIUS_M + 0.1
    assert model.y_m[0] > robot_y + 1.0  # crossed once it had passed


def test_a_visitor_does_not_walk_into_a_single_lane_corridor_while_a_robot_is_in_it() -> None:
    # the ground spine narrows to one 1.6 m lane: a visitor meeting a robot half-way down it held
    # up that robot, and the one queued at the far end for the lane. They stop at its mouth while
    # a robot is in it, and soon walk elsewhere; with the lane free, they walk in
    from sim.people_lanes import LANE_MOUTH_M

    world = load_world(WORLD)

    def heading_into_the_lane() -> PeopleModel:
        model = PeopleModel(world, PeopleConfig(visitors_per_level=1, beds_per_level=0, levels=(0,)), seed=1)
        x, y = model._pos["junction-main"]
        set_walking(model, "junction-main", ["spine-27", "spine-18", "spine-14"], x, y)
        return model

    mouth_y = world.routes.pos("spine-27")[1]
    model = heading_into_the_lane()
    robot = (np.array([50.0]), np.array([22.0]), np.zeros(1, dtype=np.int64), np.full(1, ROBOT_RADIUS_M))
    waited, lowest = False, np.inf
    for _ in range(round(20.0 / TICK_S)):
        model.step(TICK_S, *robot)
        waited |= bool(model.waiting[0])
        lowest = min(lowest, float(model.y_m[0]))
    assert waited  # stopped at the mouth ...
    assert lowest > mouth_y + LANE_MOUTH_M - 0.7  # ... short of the lane, never in it
    model = heading_into_the_lane()
    gone = (np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0))
    for _ in range(round(15.0 / TICK_S)):
        model.step(TICK_S, *gone)
    assert model.y_m[0] < mouth_y - 2.0  # the lane free: walked in, and on down it



def test_a_visitor_walks_on_into_a_single_lane_corridor_with_a_robot_behind_them() -> None:
    # a robot following a visitor into the lane is no reason for them to stop at its mouth: one who
    # did stood in the imaging robot's way, each waiting for the other, for 45 minutes
    world = load_world(WORLD)
    model = PeopleModel(world, PeopleConfig(visitors_per_level=1, beds_per_level=0, levels=(0,)), seed=1)
    x, y = model._pos["junction-main"]
    set_walking(model, "junction-main", ["spine-27", "spine-18", "spine-14"], x, y)
    mouth_y = world.routes.pos("spine-27")[1]
    for _ in range(round(15.0 / TICK_S)):
        # the robot 1 m behind them, on the way into the lane too
        robot = (np.array([x]), np.array([float(model.y_m[0]) + 1.0]), np.zeros(1, dtype=np.int64),
                 np.full(1, ROBOT_RADIUS_M))
        model.step(TICK_S, *robot)
    assert model.y_m[0] < mouth_y - 2.0  # walked in, and on down it
