"""Which lift a journey takes when other robots have reserved lifts through the fleet's traffic:
the free one, chosen when routing and again on the way to the lobby; its own when every lift is
reserved (no back and forth); the robot's traffic table is where the lift caller learns it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal.lift_caller import LiftCaller
from missions.journey import Journey
from missions.timing import OpStatus
from robots.traffic import TrafficClient, TrafficMap
from sim.scenario import WORLDS_DIR
from sim.world import World, load_world
from tests.sim.lift_rig import LiftRig as Rig


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(WORLDS_DIR / "default_hospital.yaml")


def _reserve(rig: Rig, robot_id: str, reserved: set[str]) -> None:
    rig.robots[robot_id].devices.require(LiftCaller).use_reservations(lambda: reserved)


def _heading_for_a_lobby(op: Journey) -> bool:
    return op._route is not None and op._held is None


def test_a_lift_reserved_by_another_robot_is_passed_over_when_routing(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    _reserve(rig, "r1", {"lift-1"})
    op = rig.go("r1", "ward-a-utility")
    assert rig.finish("r1").status is OpStatus.SUCCEEDED, op.reason
    assert [r.lift for r in rig.building.rides()] == ["lift-2"]


def test_on_the_way_to_the_lobby_a_robot_turns_to_the_free_lift(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    reserved: set[str] = set()
    _reserve(rig, "r1", reserved)
    op = rig.go("r1", "ward-a-utility")
    assert isinstance(op, Journey)
    rig.run_until(lambda: _heading_for_a_lobby(op))
    first = op._route
    assert first is not None and first.lift == "lift-1"  # both free: the first by name
    reserved.add("lift-1")  # another robot takes lift 1 before this one reached its lobby
    assert rig.finish("r1").status is OpStatus.SUCCEEDED, op.reason
    assert [r.lift for r in rig.building.rides()] == ["lift-2"] and op.lifts_switched == 1


def test_with_every_lift_reserved_the_robot_keeps_its_own(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    reserved: set[str] = set()
    _reserve(rig, "r1", reserved)
    op = rig.go("r1", "ward-a-utility")
    assert isinstance(op, Journey)
    rig.run_until(lambda: _heading_for_a_lobby(op))
    reserved.update({"lift-1", "lift-2"})
    assert rig.finish("r1").status is OpStatus.SUCCEEDED, op.reason
    assert [r.lift for r in rig.building.rides()] == ["lift-1"] and op.lifts_switched == 0


def test_the_robot_s_traffic_table_tells_its_lift_caller_what_others_reserved(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    robot = rig.robots["r1"]
    nodes = {"a": (0.0, 0.0, 0), "b": (1.0, 0.0, 0)}
    client = TrafficClient("r1", TrafficMap.build(nodes, {"lift:lift-1": ["a"], "lift:lift-2": ["b"]}, [("a", "b")]),
                           lambda body, now_s: None)
    robot.traffic = client
    lifts = robot.devices.require(LiftCaller)
    client.on_table({"seq": 1, "owners": {"lift:lift-1": "other", "lift:lift-2": "r1", "door:x": "other"}}, 0.0)
    assert lifts.reserved_elsewhere() == {"lift-1"}  # its own reservation and other kinds are not "busy"
    robot.traffic = None
    assert lifts.reserved_elsewhere() == frozenset()


def test_with_the_lift_reserved_for_it_the_robot_calls_the_car_on_its_way_to_the_lobby(
        world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    lifts = rig.robots["r1"].devices.require(LiftCaller)
    lifts.use_reservations(lambda: (), lambda: {"lift-1", "lift-2"})  # the fleet's table: both ours
    op = rig.go("r1", "ward-a-utility")
    assert isinstance(op, Journey)
    rig.run_until(lambda: rig.building.lift_status("lift-1").session != 0)  # the car is called ...
    route = op._route
    assert route is not None
    lobby = world.places[route.board_at]
    pose = rig.env.body("r1").pose
    assert ((pose.x_m - lobby.x_m) ** 2 + (pose.y_m - lobby.y_m) ** 2) ** 0.5 > 1.0  # ... before the lobby
    assert rig.finish("r1").status is OpStatus.SUCCEEDED, op.reason
    assert [(r.lift, r.outcome) for r in rig.building.rides()] == [("lift-1", "done")]


def test_without_the_reservation_the_call_waits_for_the_lobby(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    op = rig.go("r1", "ward-a-utility")
    assert isinstance(op, Journey)
    rig.run_until(lambda: rig.building.lift_status("lift-1").session != 0)
    route = op._route
    assert route is not None
    lobby = world.places[route.board_at]
    pose = rig.env.body("r1").pose
    assert ((pose.x_m - lobby.x_m) ** 2 + (pose.y_m - lobby.y_m) ** 2) ** 0.5 < 0.5


def test_an_early_call_is_taken_back_when_the_reservation_goes_before_the_lobby(
        world: World, tmp_path: Path) -> None:
    # the robot lost its reservation on the way (a blocked drive dropped its route); a car still
    # held for it would keep the robot the fleet now lets in waiting for the controller's timeout
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    ours: set[str] = {"lift-1", "lift-2"}
    rig.robots["r1"].devices.require(LiftCaller).use_reservations(lambda: (), lambda: ours)
    op = rig.go("r1", "ward-a-utility")
    assert isinstance(op, Journey)
    rig.run_until(lambda: rig.building.lift_status("lift-1").session != 0)
    route = op._route
    assert route is not None and route.lift == "lift-1"
    ours.clear()
    rig.tick()
    assert rig.building.lift_status("lift-1").session == 0 and op.early_calls_withdrawn == 1
    pose = rig.env.body("r1").pose
    lobby = world.places[route.board_at]
    assert ((pose.x_m - lobby.x_m) ** 2 + (pose.y_m - lobby.y_m) ** 2) ** 0.5 > 1.0  # still on its way
    ours.add("lift-1")  # the lift is the robot's again: it calls once more and rides
    assert rig.finish("r1").status is OpStatus.SUCCEEDED, op.reason
    assert [(r.lift, r.outcome) for r in rig.building.rides()] == [("lift-1", "cancelled"), ("lift-1", "done")]
