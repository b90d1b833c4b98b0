"""The building model on the multi-floor hospital: cars, doors, sessions, modes, riders, doors."""

from __future__ import annotations

from typing import Any

import pytest

from hal.clock import SimClock
from hal.device import DeviceError
from sim.building_controllers import DoorPosition, LiftMode, LiftRefused, Motion
from sim.building_model import BuildingModel, building_model, set_building_model
from sim.devices.door_opener import SimDoorOpener, SimDoorOpenerConfig
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.scenario import WORLDS_DIR
from sim.world import World, load_world

START_S = 1000.0


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(WORLDS_DIR / "default_hospital.yaml")


@pytest.fixture
def env(world: World) -> SimEnvironment:
    return SimEnvironment(world, PatientCensus(1, world.beds(), START_S), SimClock(START_S), 1)


def run(env: SimEnvironment, model: BuildingModel, until_s: float, dt_s: float = 0.5) -> None:
    while env.clock.now_s() < until_s:
        env.clock.set(env.clock.now_s() + dt_s)
        model.step(env.clock.now_s())


def test_a_call_and_a_ride_carry_the_body_and_are_recorded(env: SimEnvironment, world: World) -> None:
    body = env.add_robot("r1", "lift-1-car-B1")  # inside the car, which waits in the basement
    model = building_model(env)
    session = model.session_for("r1")
    model.hall_call("lift-1", -1, session)
    status = model.lift_status("lift-1")
    assert (status.car_level, status.door, status.session) == (-1, DoorPosition.OPENING, session)
    run(env, model, START_S + 3.0)
    assert model.lift_status("lift-1").door is DoorPosition.OPEN
    model.car_call("lift-1", 1, session)
    run(env, model, START_S + 8.0)
    assert model.lift_status("lift-1").motion is Motion.UP and body.pose.level == -1
    run(env, model, START_S + 30.0)
    status = model.lift_status("lift-1")
    assert (status.car_level, status.door, status.motion) == (1, DoorPosition.OPEN, Motion.IDLE)
    car = world.places["lift-1-car-L1"]
    assert (body.pose.x_m, body.pose.y_m, body.pose.level) == (car.x_m, car.y_m, 1)
    model.release("lift-1", session)
    run(env, model, START_S + 60.0)
    assert model.lift_status("lift-1").door is DoorPosition.CLOSED  # a free car closes after its dwell
    (ride,) = model.rides()
    # 3 s doors, 3 s closing, 2 floors x 5 s, 3 s opening
    assert (ride.answered_s, ride.boarded_s, ride.arrived_s, ride.outcome) == (1003.0, 1003.0, 1019.0, "done")
    assert model.summary()["done"] == 1 and model.summary()["call_wait_s"]["max"] == 3.0


def test_capacity_one_refuses_another_session(env: SimEnvironment) -> None:
    model = building_model(env)
    a, b = model.session_for("a"), model.session_for("b")
    model.hall_call("lift-1", 0, a)
    with pytest.raises(LiftRefused, match="held by another robot"):
        model.hall_call("lift-1", 1, b)
    with pytest.raises(LiftRefused, match="not held"):
        model.car_call("lift-1", 1, b)
    model.release("lift-1", b)  # not held by b: nothing happens
    assert model.lift_status("lift-1").session == a
    model.release("lift-1", a)
    model.hall_call("lift-1", 1, b)
    assert model.lift_status("lift-1").session == b


def test_out_of_service_mid_ride_stops_at_the_next_floor_open(env: SimEnvironment) -> None:
    model = building_model(env)
    s = model.session_for("r1")
    model.hall_call("lift-1", -1, s)
    run(env, model, START_S + 3.0)
    model.car_call("lift-1", 1, s)
    run(env, model, START_S + 7.0)  # moving up from the basement
    model.take_out_of_service("lift-1", env.clock.now_s())
    run(env, model, START_S + 60.0)
    status = model.lift_status("lift-1")
    assert (status.car_level, status.door, status.mode) == (0, DoorPosition.OPEN, LiftMode.OUT_OF_SERVICE)
    (ride,) = model.rides()
    assert (ride.outcome, ride.stopped_level, ride.reason) == ("failed", 0, "taken out of service")
    with pytest.raises(LiftRefused, match="out of service"):
        model.hall_call("lift-1", 0, model.session_for("r2"))
    model.release("lift-1", s)
    model.return_to_service("lift-1")
    run(env, model, START_S + 80.0)
    assert model.lift_status("lift-1").door is DoorPosition.CLOSED
    assert model.expected_wait_s("lift-1", 0, s) < float("inf")


def test_fire_alarm_recalls_cars_takes_no_calls_and_closes_fire_doors(env: SimEnvironment) -> None:
    model = building_model(env)
    fire_door = "ward-a-fire-door"
    assert model.door_status(fire_door).position is DoorPosition.OPEN  # on its magnets
    s = model.session_for("r1")
    model.hall_call("lift-2", -1, s)
    run(env, model, START_S + 3.0)
    model.car_call("lift-2", 1, s)
    run(env, model, START_S + 7.0)
    model.set_fire_alarm(True)
    run(env, model, START_S + 30.0)
    status = model.lift_status("lift-2")
    assert (status.car_level, status.door, status.mode) == (0, DoorPosition.OPEN, LiftMode.FIRE_SERVICE)
    with pytest.raises(LiftRefused, match="fire"):
        model.hall_call("lift-1", 0, model.session_for("r2"))
    door = model.door_status(fire_door)
    assert door.position is DoorPosition.CLOSED and door.fire_closed
    model.request_open(fire_door, s)
    run(env, model, START_S + 40.0)
    assert model.door_status(fire_door).position is DoorPosition.CLOSED  # refuses while the alarm rings
    model.set_fire_alarm(False)
    run(env, model, START_S + 50.0)
    assert model.door_status(fire_door).position is DoorPosition.OPEN
    assert model.lift_status("lift-2").mode is LiftMode.NORMAL


def test_powered_doors_open_on_request_close_after_hold_and_jam(env: SimEnvironment, world: World) -> None:
    model = BuildingModel(world, env.clock, env, door_open_s=4.0, door_hold_open_s=10.0)
    set_building_model(env, model)
    door = next(n for n, d in sorted(world.doors.items()) if d.auto)
    model.request_open(door, 1)
    assert model.door_status(door).position is DoorPosition.OPENING
    run(env, model, START_S + 4.0)
    assert model.door_status(door).position is DoorPosition.OPEN
    run(env, model, START_S + 20.0)
    assert model.door_status(door).position is DoorPosition.CLOSED
    model.jam_door(door, START_S + 100.0)
    model.request_open(door, 1)
    run(env, model, START_S + 30.0)
    status = model.door_status(door)
    assert status.position is DoorPosition.CLOSED and status.fault


def test_the_door_opener_refuses_a_fire_closed_door(env: SimEnvironment) -> None:
    body = env.add_robot("r1", "dock-ward-a")
    opener = SimDoorOpener("doors", env.clock, env, body, SimDoorOpenerConfig())
    opener.setup()
    building_model(env).set_fire_alarm(True)
    with pytest.raises(DeviceError, match="fire door ward-a-fire-door closed by the alarm"):
        opener.start_open("ward-a-fire-door")
    assert "lift-1-door-L1" not in (opener.doors_on_route("lift-1-car-L1") or [])  # the car's, not the opener's


def test_an_idle_held_car_is_freed_after_the_session_timeout(env: SimEnvironment, world: World) -> None:
    model = BuildingModel(world, env.clock, env, session_timeout_s=60.0)
    s = model.session_for("r1")
    model.hall_call("lift-1", -1, s)
    run(env, model, START_S + 60.0)
    assert model.lift_status("lift-1").session == s  # opened at 1003: held until 1063
    run(env, model, START_S + 80.0)
    assert model.lift_status("lift-1").session == 0
    assert "timed out" in (model.rides()[0].reason or "")


def test_outcomes_do_not_depend_on_the_step_size(env: SimEnvironment, world: World) -> None:
    def ride(dt_s: float) -> list[dict[str, Any]]:
        clock = SimClock(START_S)
        model = BuildingModel(world, clock)
        s = model.session_for("r1")
        model.hall_call("lift-1", 0, s)
        for i in range(1, round(60 / dt_s) + 1):
            clock.set(START_S + i * dt_s)
            model.step(clock.now_s())
            if clock.now_s() == START_S + 20:
                model.car_call("lift-1", 1, s)
        return [r.as_dict() for r in model.rides()]

    first = ride(0.1)
    assert first == ride(2.5) == ride(0.1)
    assert [r["outcome"] for r in first] == ["done"]
