"""Robots see each other and people: the navigator slows, stops, goes round, re-plans; contacts counted."""

from __future__ import annotations

import math
from pathlib import Path

from hal.geometry import Pose2D, Twist2D
from hal.handle import HandleStatus
from hal.navigator import NavigationGoal
from sim.devices.navigator import HOLD_SHORT_M
from sim.people import PeopleConfig
from tests.sim.perception_rig import DT, Rig, corridor_world, ring_world


def test_two_robots_meeting_head_on_in_a_wide_corridor_both_arrive_without_contact(tmp_path: Path) -> None:
    rig = Rig(corridor_world(tmp_path, width_m=2.6))
    rig.add("nurse-a", "west")
    rig.add("nurse-b", "east")
    handles = rig.go({"nurse-a": "east", "nurse-b": "west"}, max_s=200.0)
    for rid, handle in handles.items():
        assert handle.poll() is HandleStatus.SUCCEEDED, (rid, handle.error)
    assert rig.env.contact_summary()["total"] == 0, rig.env.contacts


def test_a_robot_stops_for_a_person_crossing_and_goes_on(tmp_path: Path) -> None:
    # one visitor walking to and fro across the robot's corridor (the cross corridor's two ends
    # are the only places a visitor goes); the robot sets off as they leave the south end
    config = PeopleConfig(visitors_per_level=1, beds_per_level=0, pause_s=(1.0, 2.0))
    rig = Rig(corridor_world(tmp_path, cross=True), people=config)
    people = rig.env.people
    assert people is not None and len(people) == 1
    nav = rig.add("nurse-a", "west")
    rig.body("nurse-a").pose = Pose2D(10.2, 1.3, 0.0)
    rig.run_while(lambda: not (people.moving[0] and -6.9 < people.y_m[0] < -6.0 and people._uy[0] > 0), 120.0)
    handle = nav.start_go_to(NavigationGoal(place="east"))
    stopped_for_person = 0.0
    closest_m = math.inf
    t = 0.0
    while handle.poll() is HandleStatus.RUNNING and t < 120.0:
        rig.tick()
        t += DT
        body = rig.body("nurse-a")
        if nav_waits_for(rig, "visitor-0") and abs(body.velocity.linear_mps) < 0.05:
            stopped_for_person += DT
        closest_m = min(closest_m, math.hypot(people.x_m[0] - body.pose.x_m, people.y_m[0] - body.pose.y_m))
    assert handle.poll() is HandleStatus.SUCCEEDED, handle.error
    assert stopped_for_person > 0  # stopped until the person had crossed, then went on
    assert closest_m > 0.35 + 0.3
    assert rig.env.contact_summary() == {"robot-robot": 0, "robot-person": 0, "robot-wall": 0, "total": 0}


def nav_waits_for(rig: Rig, ident: str) -> bool:
    return rig.env.obstacles.waiting_for("nurse-a") == ident


def test_a_permanently_blocked_path_fails_with_what_blocked_it(tmp_path: Path) -> None:
    # a corridor too narrow to pass in, and a parked robot in the middle of it
    rig = Rig(corridor_world(tmp_path, width_m=1.2))
    nav = rig.add("nurse-a", "west", blocked_timeout_s=30.0)
    rig.add("nurse-b", "east")
    rig.body("nurse-b").pose = Pose2D(15.0, 0.6, 0.0)
    handles = rig.go({"nurse-a": "east"}, max_s=200.0)
    handle = handles["nurse-a"]
    assert handle.poll() is HandleStatus.FAILED
    assert (handle.error or "").startswith("path blocked by robot nurse-b for 30 s"), handle.error
    assert nav.velocity_request() == Twist2D.zero()
    assert rig.env.contact_summary()["total"] == 0


def test_a_blocked_edge_is_replanned_around(tmp_path: Path) -> None:
    # a ring: two ways from west to east; the short one is blocked by a parked robot in a narrow spot
    rig = Rig(ring_world(tmp_path))
    nav = rig.add("nurse-a", "west")
    rig.add("nurse-b", "east")
    rig.body("nurse-b").pose = Pose2D(8.0, 0.6, 0.0)  # parked on the edge sw → south-mid
    assert nav.start_go_to(NavigationGoal(place="east")) is not None
    assert "south-mid" in nav.route_nodes()
    rig.run_while(lambda: nav._goal is not None and "north-mid" not in nav.route_nodes(), 60.0)
    assert "north-mid" in nav.route_nodes() and "south-mid" not in nav.route_nodes()
    handle = nav._goal.handle if nav._goal is not None else None
    assert handle is not None
    rig.run_while(lambda: handle.poll() is HandleStatus.RUNNING, 200.0)
    assert handle.poll() is HandleStatus.SUCCEEDED, handle.error
    assert rig.env.contact_summary()["total"] == 0


# -- the hold hook for traffic reservations ------------------------------------------------------------


def test_hold_at_stops_short_of_the_node_and_resumes(tmp_path: Path) -> None:
    rig = Rig(corridor_world(tmp_path))
    nav = rig.add("nurse-a", "west", goal_timeout_s=40.0, stuck_timeout_s=10.0)
    handle = nav.start_go_to(NavigationGoal(place="east"))
    assert nav.route_nodes() == ["west", "w-05", "w-10", "w-15", "w-20", "w-25", "east"]  # from where it stands
    rig.tick()
    assert nav.route_nodes() == ["w-05", "w-10", "w-15", "w-20", "w-25", "east"]
    nav.hold_at("w-15")
    rig.run_while(lambda: not nav.holding(), 60.0)
    assert nav.holding()
    rig.run_while(lambda: not rig.body("nurse-a").velocity.is_zero, 5.0)
    pose = rig.body("nurse-a").pose
    # HOLD_SHORT_M before the node: the node stays free for a robot coming out of the resource
    assert math.hypot(pose.x_m - (15.0 - HOLD_SHORT_M), pose.y_m - 1.3) <= 0.3
    assert nav.route_nodes()[0] == "w-15"
    rig.run_while(lambda: True, 60.0)  # longer than the goal timeout and the stuck timer: held, not failed
    assert handle.poll() is HandleStatus.RUNNING and nav.holding()
    assert rig.body("nurse-a").pose == pose
    nav.hold_at(None)
    rig.run_while(lambda: handle.poll() is HandleStatus.RUNNING, 60.0)
    assert handle.poll() is HandleStatus.SUCCEEDED, handle.error
    assert not nav.holding() and nav.route_nodes() == []


def test_hold_at_a_node_not_ahead_is_ignored(tmp_path: Path) -> None:
    rig = Rig(corridor_world(tmp_path))
    nav = rig.add("nurse-a", "west")
    nav.hold_at("nowhere")
    handles = rig.go({"nurse-a": "east"}, max_s=120.0)
    assert handles["nurse-a"].poll() is HandleStatus.SUCCEEDED


# -- determinism -----------------------------------------------------------------------------------------


def _run_with_people(tmp_path: Path) -> tuple[list[list[tuple[str, int, float, float]]], list[tuple[float, float]]]:
    rig = Rig(corridor_world(tmp_path, cross=True, main_tag="corridor", width_m=3.2), seed=7,
              people=PeopleConfig(visitors_per_level=3, beds_per_level=1, pause_s=(1.0, 5.0)))
    assert rig.env.people is not None
    nav = rig.add("nurse-a", "west")
    seen = []
    for place in ("east", "west", "east"):
        handle = nav.start_go_to(NavigationGoal(place=place))
        t = 0.0
        while handle.poll() is HandleStatus.RUNNING and t < 300.0:
            rig.tick()
            t += DT
            seen.append(rig.env.people.positions())
    return seen, list(rig.body("nurse-a").track)


def test_same_seed_same_people_and_same_robot_track(tmp_path: Path) -> None:
    first = _run_with_people(tmp_path / "a")
    second = _run_with_people(tmp_path / "b")
    assert first == second
    people_moved = {p[0] for step in first[0] for p in step}
    assert len(people_moved) == 4


def test_waiting_for_an_obstacle_is_not_stuck_and_stops_the_goal_clock(tmp_path: Path) -> None:
    # parked in a corridor too narrow to pass for 45 s: longer than the stuck timer, and the wait
    # plus the drive is longer than the goal timeout; then it moves off and the robot goes on
    rig = Rig(corridor_world(tmp_path, width_m=1.2))
    nav = rig.add("nurse-a", "west", stuck_timeout_s=20.0, goal_timeout_s=60.0, blocked_timeout_s=90.0)
    rig.add("nurse-b", "east")
    rig.body("nurse-b").pose = Pose2D(15.0, 0.6, 0.0)
    handle = nav.start_go_to(NavigationGoal(place="east"))
    rig.run_while(lambda: rig.env.obstacles.waiting_for("nurse-a") is None, 60.0)
    rig.run_while(lambda: handle.poll() is HandleStatus.RUNNING, 45.0)
    assert handle.poll() is HandleStatus.RUNNING
    assert rig.env.obstacles.waiting_for("nurse-a") == "nurse-b"
    rig.body("nurse-b").pose = Pose2D(29.9, 0.6, 0.0, level=1)  # taken away (to another floor)
    rig.run_while(lambda: handle.poll() is HandleStatus.RUNNING, 60.0)
    assert handle.poll() is HandleStatus.SUCCEEDED, handle.error
    assert rig.env.obstacles.waiting_for("nurse-a") is None


def test_a_goal_occupied_by_a_parked_robot_fails_saying_so(tmp_path: Path) -> None:
    rig = Rig(corridor_world(tmp_path))
    nav = rig.add("nurse-a", "west", blocked_timeout_s=20.0)
    rig.add("nurse-b", "east")  # parked on nurse-a's goal
    handle = rig.go({"nurse-a": "east"}, max_s=120.0)["nurse-a"]
    assert handle.poll() is HandleStatus.FAILED
    assert (handle.error or "").startswith("east occupied by robot nurse-b for 20 s"), handle.error
    assert nav.route_nodes() == [] and rig.env.contact_summary()["total"] == 0


def test_a_robot_still_blocked_after_its_first_tries_goes_round_once_there_is_room(tmp_path: Path) -> None:
    # a robot parked mid-corridor, and a visitor standing either side of it: no way round. The
    # visitors walk off after 20 s, long after the first detours and re-plans were tried; the
    # robot keeps looking and goes round then, rather than wait out its blocked timeout (in the
    # day, four robots stood nose to tail in a ward corridor that two could pass in)
    import numpy as np

    from sim.obstacles import PeopleCircles

    rig = Rig(corridor_world(tmp_path, width_m=3.0), dt_s=0.5)  # room to pass a robot, not a robot and a visitor
    nav = rig.add("nurse-a", "west", blocked_timeout_s=60.0)
    rig.add("nurse-b", "east")
    rig.body("nurse-b").pose = Pose2D(15.0, 1.5, 0.0)
    xs, ys = np.array([15.0, 15.0]), np.array([0.6, 2.4])
    rig.env.obstacles.people = PeopleCircles(
        xs, ys, np.full(2, 0.3), np.zeros(2, dtype=np.int64), np.arange(2, dtype=np.int64), ["visitor-0", "visitor-1"],
        ["visitor", "visitor"], np.zeros(2, dtype=bool), np.zeros(2, dtype=bool), np.zeros(2), np.zeros(2))
    handle = nav.start_go_to(NavigationGoal(place="east"))
    rig.run_while(lambda: rig.env.obstacles.waiting_for("nurse-a") is None, 60.0)
    rig.run_while(lambda: handle.poll() is HandleStatus.RUNNING, 20.0)
    assert handle.poll() is HandleStatus.RUNNING and rig.env.obstacles.waiting_for("nurse-a") == "nurse-b"
    empty = np.zeros(0)
    rig.env.obstacles.people = PeopleCircles(empty, empty, empty, np.zeros(0, dtype=np.int64),
                                             np.zeros(0, dtype=np.int64), [], [], np.zeros(0, dtype=bool),
                                             np.zeros(0, dtype=bool), empty, empty)
    rig.run_while(lambda: handle.poll() is HandleStatus.RUNNING, 35.0)  # within its 60 s blocked timeout
    assert handle.poll() is HandleStatus.SUCCEEDED, handle.error
    assert rig.env.contact_summary()["total"] == 0


def test_a_robot_facing_its_path_with_a_robot_beside_the_corner_waits_for_it_and_goes_round() -> None:
    # at the pharmacy counter, its way out turns south round the patrol robot waiting a step
    # away: the path ahead looked passable, the arc straight on touched the robot, and turning
    # towards the path was no turn at all — a zero command nobody counted as a wait, for eight
    # minutes. It is a wait: the robot notes what it waits for, and goes round it
    from sim.world import load_world

    world = load_world(Path(__file__).resolve().parents[2] / "sim" / "worlds" / "default_hospital.yaml")
    rig = Rig(world, dt_s=0.5)
    nav = rig.add("nurse-b-x1", "pharmacy", blocked_timeout_s=30.0)
    rig.add("security-1", "dock-pharmacy")
    rig.body("nurse-b-x1").pose = Pose2D(7.68, 35.90, -0.20, level=-1)
    rig.body("security-1").pose = Pose2D(8.0, 35.14, -1.57, level=-1)  # waiting by the counter, not moving
    handle = nav.start_go_to(NavigationGoal(place="kitchen"))
    waited_for = set()
    for _ in range(round(120.0 / 0.5)):
        rig.tick()
        waited_for.add(rig.env.obstacles.waiting_for("nurse-b-x1"))
        if handle.poll() is not HandleStatus.RUNNING:
            break
    assert "security-1" in waited_for
    assert handle.poll() is HandleStatus.SUCCEEDED, handle.error
    assert rig.env.contact_summary()["total"] == 0
