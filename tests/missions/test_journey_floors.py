"""Journeys between floors on the multi-floor hospital: whole logistics robots (the kind's YAML,
the sim devices) ticked by hand on a SimClock, with the building model's lifts. A ride done; a car
taken out of service mid-ride (leave at that floor, take the other lift, or fail with the reason);
a car already open at the robot's floor (no call wait); the fire alarm with a robot in a car and
before a ride; two robots for one car; release on cancel; the same run twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hal.lift_caller import LiftCaller
from missions.journey import FIRE_NO_RIDES, Journey, JourneySettings
from missions.timing import OpStatus
from sim.building_controllers import DoorPosition
from sim.scenario import WORLDS_DIR
from sim.world import World, load_world
from tests.sim.lift_rig import START_S
from tests.sim.lift_rig import LiftRig as Rig


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(WORLDS_DIR / "default_hospital.yaml")




def test_same_floor_is_plain_navigation(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    op = rig.go("r1", "kitchen")
    assert not isinstance(op, Journey)  # same floor: exactly the drive it always was
    assert rig.finish("r1").status is OpStatus.SUCCEEDED
    assert rig.building.rides() == []


def test_a_ride_between_floors_is_done(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    op = rig.go("r1", "ward-a-utility")
    assert isinstance(op, Journey)
    assert rig.finish("r1").status is OpStatus.SUCCEEDED, op.reason
    assert rig.level("r1") == 1
    (ride,) = rig.building.rides()
    assert (ride.robot, ride.from_level, ride.to_level, ride.outcome) == ("r1", -1, 1, "done")
    assert ride.requested_s <= ride.answered_s <= ride.boarded_s <= ride.arrived_s  # type: ignore[operator]
    assert rig.building.lift_status(ride.lift).session == 0  # released after leaving
    assert op.lifts_ridden == [ride.lift]


def test_out_of_service_mid_ride_leaves_at_that_floor_and_takes_the_other_lift(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    op = rig.go("r1", "ward-a-utility")
    rig.run_until(lambda: any(rig.riding(lift) for lift in world.lifts))
    lift = next(name for name in world.lifts if rig.riding(name))
    rig.building.take_out_of_service(lift, rig.clock.now_s())  # between B1 and ground: stops at ground
    assert rig.finish("r1").status is OpStatus.SUCCEEDED, op.reason
    assert isinstance(op, Journey) and op.lifts_avoided == [lift]
    rides = rig.building.rides()
    assert [(r.lift, r.from_level, r.outcome, r.stopped_level) for r in rides] == [
        (lift, -1, "failed", 0), (next(n for n in world.lifts if n != lift), 0, "done", 1)]
    assert rides[0].reason == "taken out of service"
    assert rig.level("r1") == 1
    assert rig.building.lift_status(lift).session == 0  # released where it stopped


def test_out_of_service_with_no_other_lift_fails_with_the_reason(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    op = rig.go("r1", "ward-a-utility")
    rig.run_until(lambda: any(rig.riding(lift) for lift in world.lifts))
    for lift in sorted(world.lifts):
        rig.building.take_out_of_service(lift, rig.clock.now_s())
    assert rig.finish("r1").status is OpStatus.FAILED
    assert op.reason is not None and "out of service" in op.reason, op.reason
    assert "lift-1" in op.reason and "lift-2" in op.reason  # both lifts' reasons
    assert rig.level("r1") == 0  # got off where the car stopped
    assert all(rig.building.lift_status(lift).session == 0 for lift in world.lifts)


def test_a_car_already_open_at_the_robots_floor_is_boarded_without_a_call_wait(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    building, lobby = rig.building, world.places["lift-1-lobby-B1"]  # both cars wait in the basement: lift-1
    op = rig.go("r1", "ward-a-utility")
    rig.run_until(lambda: rig.env.body("r1").pose.distance_to_m(lobby.pose) < 4.0)
    visitor = building.session_for("visitor")  # someone rides down and gets off just before the robot comes
    building.hall_call("lift-1", -1, visitor)
    building.release("lift-1", visitor)
    rig.run_until(lambda: any(r.robot == "r1" for r in building.rides()))
    ride = next(r for r in building.rides() if r.robot == "r1")
    assert building.lift_status("lift-1").door is DoorPosition.OPEN
    assert ride.answered_s == ride.requested_s  # no call wait: the car was there with its doors open
    assert rig.finish("r1").status is OpStatus.SUCCEEDED, op.reason


def test_fire_alarm_with_a_robot_in_a_lift(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    op = rig.go("r1", "ward-a-utility")
    rig.run_until(lambda: any(rig.riding(lift) for lift in world.lifts))
    rig.building.set_fire_alarm(True)
    assert rig.finish("r1").status is OpStatus.FAILED
    assert op.reason is not None and op.reason.startswith(FIRE_NO_RIDES), op.reason
    assert rig.level("r1") == 0  # left at the next floor
    (ride,) = rig.building.rides()
    assert ride.outcome == "failed" and ride.stopped_level == 0 and ride.reason is not None and "fire" in ride.reason
    assert all(rig.building.lift_status(lift).session == 0 for lift in world.lifts)
    again = rig.go("r1", "ward-a-utility")  # no new rides while the alarm rings
    assert rig.finish("r1").status is OpStatus.FAILED and again.reason == FIRE_NO_RIDES
    assert len(rig.building.rides()) == 1


def test_a_robot_riding_when_the_building_alarm_parks_it_leaves_the_car_first(world: World, tmp_path: Path) -> None:
    # as the fleet does it: the robot's mission is pre-empted by a park while it rides; the car is
    # recalled with it inside. The robot must not drive the park's way from the car before the car
    # opens (a plan of the floor it left leads through walls), nor give the car up while inside
    rig = Rig(world, {"r1": "dock-ward-a"}, tmp_path)
    robot = rig.robots["r1"]
    robot.dispatch("return_to_dock", {"dock": "dock-supply", "resume_soc_fraction": 0.05})
    lifts = robot.devices.require(LiftCaller)
    rig.run_until(lambda: lifts.aboard is not None and any(rig.riding(lift) for lift in world.lifts))
    rig.run_until(lambda: rig.level("r1") == 0 and any(rig.riding(lift) for lift in world.lifts))  # on its way down
    robot.set_building_alarm(True, park_at="dock-radiology")  # the fleet's spot for a robot on level 0
    rig.building.set_fire_alarm(True)
    rig.tick()
    park = robot.runner.current
    assert park is not None and park.kind == "park"
    assert any(rig.building.lift_status(lift).session != 0 for lift in world.lifts)  # still held for it
    rig.run_until(lambda: rig.level("r1") != 0 or park.finished, max_s=120)
    assert rig.level("r1") == -1 and not park.finished  # stopped at the next floor, with it inside
    robot.set_building_alarm(True, park_at="dock-kitchen")  # the fleet's new spot, on level -1
    rig.run_until(lambda: park.step.value == "hold", max_s=600)
    spot = world.places["dock-kitchen"]
    pose = rig.env.body("r1").pose
    assert pose.level == -1 and ((pose.x_m - spot.x_m) ** 2 + (pose.y_m - spot.y_m) ** 2) ** 0.5 < 0.5
    assert rig.env.contact_summary()["total"] == 0, rig.env.contacts
    assert all(rig.building.lift_status(lift).session == 0 for lift in world.lifts)  # released once out
    assert robot.devices.require(LiftCaller).aboard is None


def test_a_lift_that_does_not_come_in_time_is_given_up_for_the_other(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    building = rig.building
    other = building.session_for("porter-robot")
    for lift in ("lift-1", "lift-2"):  # both busy: lift-1 (first by name) is called
        building.hall_call(lift, 1, other)
    op = rig.go("r1", "ward-a-utility", JourneySettings(lift_timeout_s=60.0, lift_attempts=1))
    rig.run_until(lambda: rig.clock.now_s() >= START_S + 10)
    building.release("lift-2", other)  # lift-2 is free now, lift-1 stays held
    assert rig.finish("r1").status is OpStatus.SUCCEEDED, op.reason
    assert isinstance(op, Journey) and op.lifts_avoided == ["lift-1"] and op.lifts_ridden == ["lift-2"]
    assert building.lift_status("lift-1").session == other


def test_capacity_one_second_robot_waits_for_the_car(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply", "r2": "dock-kitchen"}, tmp_path)
    building = rig.building
    building.take_out_of_service("lift-2", rig.clock.now_s())  # one car for everyone
    other = building.session_for("porter-robot")  # another robot holds the car upstairs
    building.hall_call("lift-1", 1, other)
    rig.go("r1", "ward-a-utility")
    rig.run_until(lambda: rig.env.body("r1").pose.distance_to_m(world.places["lift-1-lobby-B1"].pose) < 0.5)
    rig.run_until(lambda: rig.clock.now_s() >= START_S + 300)
    assert building.lift_status("lift-1").session == other and not any(r.robot == "r1" for r in building.rides())
    building.release("lift-1", other)
    op2 = rig.go("r2", "ward-b-utility")  # comes to the car while r1 rides: waits for it too
    rig.run_until(lambda: all(op.status is not OpStatus.RUNNING for op in rig.ops.values()), 3600.0)
    assert rig.ops["r1"].status is OpStatus.SUCCEEDED and op2.status is OpStatus.SUCCEEDED, op2.reason
    done = [r for r in building.rides() if r.outcome == "done"]
    assert [r.robot for r in done] == ["r1", "r2"]
    assert done[1].boarded_s is not None and done[0].arrived_s is not None and done[1].boarded_s > done[0].arrived_s
    waits = [w for w in building.waits() if w.robot == "r1"]
    assert [(w.lift, w.level) for w in waits] == [("lift-1", -1)] and waits[0].until_s == pytest.approx(START_S + 300.2)
    assert building.refusals == []  # waiting calls are not refusals
    assert rig.level("r1") == 1 and rig.level("r2") == 1


def test_cancel_releases_the_lift(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    op = rig.go("r1", "ward-a-utility")
    rig.run_until(lambda: any(rig.building.lift_status(n).session != 0 for n in world.lifts))
    op.cancel()
    assert all(rig.building.lift_status(n).session == 0 for n in world.lifts)
    robot_lifts = rig.robots["r1"].devices.require(LiftCaller)
    for lift in world.lifts:
        assert not robot_lifts.status(lift).held


def _trace(world: World, tmp_path: Path) -> list[tuple[Any, ...]]:
    rig = Rig(world, {"r1": "dock-supply", "r2": "dock-kitchen"}, tmp_path)
    rig.go("r1", "ward-a-utility")
    rig.go("r2", "ward-b-utility")
    rig.run_until(lambda: all(op.status is not OpStatus.RUNNING for op in rig.ops.values()), 3600.0)
    pose = [rig.env.body(r).pose for r in ("r1", "r2")]
    return [tuple(r.as_dict().values()) for r in rig.building.rides()] + [(p.x_m, p.y_m, p.level) for p in pose]


def test_the_same_run_gives_the_same_rides(world: World, tmp_path: Path) -> None:
    first = _trace(world, tmp_path / "a")
    assert first == _trace(world, tmp_path / "b")
    assert len(first) == 4


# ---- missions across floors -------------------------------------------------------------------


def _mission_result(rig: Rig, robot_id: str, max_s: float = 1800.0) -> Any:
    robot = rig.robots[robot_id]
    rig.run_until(lambda: bool(robot.runner.history), max_s)
    return robot.runner.history[-1]


def test_return_to_dock_on_another_floor_rides_the_lift(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-ward-a"}, tmp_path)
    assert rig.level("r1") == 1 and world.places["dock-supply"].level == -1
    rig.robots["r1"].dispatch("return_to_dock", {"dock": "dock-supply", "resume_soc_fraction": 0.05})
    result = _mission_result(rig, "r1")
    assert result.outcome == "succeeded", result.reason
    assert rig.level("r1") == -1
    assert [(r.from_level, r.to_level, r.outcome) for r in rig.building.rides()] == [(1, -1, "done")]


def test_during_a_fire_alarm_a_mission_needing_a_lift_fails_on_its_floor(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-ward-a"}, tmp_path)
    rig.building.set_fire_alarm(True)
    rig.robots["r1"].dispatch("return_to_dock", {"dock": "dock-supply"})
    result = _mission_result(rig, "r1")
    assert result.outcome == "failed" and FIRE_NO_RIDES in (result.reason or ""), result.reason
    assert rig.level("r1") == 1 and rig.building.rides() == []


def test_a_paused_or_cancelled_mission_releases_the_lift_and_resumes_by_lift(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-ward-a"}, tmp_path)
    robot = rig.robots["r1"]
    robot.dispatch("return_to_dock", {"dock": "dock-supply", "resume_soc_fraction": 0.05})
    rig.run_until(lambda: any(rig.building.lift_status(n).session != 0 for n in world.lifts))
    robot.pause()
    rig.tick()
    assert all(rig.building.lift_status(n).session == 0 for n in world.lifts)
    for _ in range(50):
        rig.tick()
    robot.resume()
    result = _mission_result(rig, "r1")
    assert result.outcome == "succeeded", result.reason
    assert rig.level("r1") == -1 and rig.building.rides()[-1].outcome == "done"
    robot.dispatch("return_to_dock", {"dock": "dock-ward-a", "resume_soc_fraction": 0.05})
    rig.run_until(lambda: any(rig.building.lift_status(n).session != 0 for n in world.lifts))
    robot.cancel()
    rig.tick()
    assert all(rig.building.lift_status(n).session == 0 for n in world.lifts)


def test_a_fire_door_closed_by_the_alarm_stops_a_journey_through_it(world: World, tmp_path: Path) -> None:
    rig = Rig(world, {"r1": "dock-ward-a"}, tmp_path)
    settings = JourneySettings(door_attempts=1, door_retry_wait_s=0.0)
    through = Journey(rig.robots["r1"].devices, "ward-a-bed-01", settings)
    rig.ops["r1"] = through
    assert rig.finish("r1").status is OpStatus.SUCCEEDED, through.reason
    assert through.doors_opened == ["ward-a-fire-door"]  # held open on its magnets: passes at once
    rig.building.set_fire_alarm(True)
    blocked = Journey(rig.robots["r1"].devices, "dock-ward-a", settings)  # back through it
    rig.ops["r1"] = blocked
    assert rig.finish("r1").status is OpStatus.FAILED
    assert blocked.reason == "fire door ward-a-fire-door closed by the alarm"


def test_a_failure_naming_only_the_level_still_gets_the_robot_off_there(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the Modbus backend reports it: the route's lobbies say where to drive out."""
    import sim.devices.lift_caller as sim_lift_caller
    from hal.lift_caller import LiftFailure

    def level_only(lift: str, kind: Any, reason: str, level: int | None = None, leave_at: str | None = None) -> Any:
        return LiftFailure(lift, kind, reason, level)

    monkeypatch.setattr(sim_lift_caller, "LiftFailure", level_only)
    rig = Rig(world, {"r1": "dock-supply"}, tmp_path)
    op = rig.go("r1", "ward-a-utility")
    rig.run_until(lambda: any(rig.riding(lift) for lift in world.lifts))
    lift = next(name for name in world.lifts if rig.riding(name))
    rig.building.take_out_of_service(lift, rig.clock.now_s())
    assert rig.finish("r1").status is OpStatus.SUCCEEDED, op.reason
    assert rig.level("r1") == 1 and [r.outcome for r in rig.building.rides()] == ["failed", "done"]
