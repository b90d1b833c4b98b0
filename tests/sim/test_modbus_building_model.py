"""The simulator's own building (sim/building_model.py) behind the Modbus gateway emulator, driven
by the robot's Modbus lift caller and door opener over loopback: the multi-floor hospital's lifts
and doors, stepped on the sim clock one `sync` per step."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hal.clock import SimClock
from hal.drivers.modbus_building import (
    ModbusDoorOpener,
    ModbusDoorOpenerConfig,
    ModbusLiftCaller,
    ModbusLiftCallerConfig,
)
from hal.handle import Handle, HandleStatus
from hal.lift_caller import LiftFailureKind, LiftUnavailable
from sim.emulators.modbus_building import ModbusBuildingEmulator, door_opener_config, lift_caller_config
from sim.world import load_world

building_model = pytest.importorskip("sim.building_model")

pytestmark = pytest.mark.timeout(60)

WORLD = Path(__file__).resolve().parents[2] / "sim" / "worlds" / "default_hospital.yaml"
STEP_S = 0.5


@dataclass
class Hospital:
    model: Any
    emulator: ModbusBuildingEmulator
    clock: SimClock
    lifts: ModbusLiftCaller
    doors: ModbusDoorOpener

    def tick(self) -> None:
        now_s = self.clock.advance(STEP_S)
        self.model.step(now_s)
        self.emulator.sync(now_s)

    def run(self, handle: Handle[Any, Any], *, max_steps: int = 600) -> HandleStatus:
        for _ in range(max_steps):
            if handle.poll().done:
                return handle.poll()
            self.tick()
        raise AssertionError(f"still running after {max_steps} steps: {handle.feedback}")


@pytest.fixture(scope="module")
def world() -> Any:
    return load_world(WORLD)


@pytest.fixture
def hospital(world: Any) -> Iterator[Hospital]:
    clock = SimClock(0.0)
    model = building_model.BuildingModel(world, clock)
    with ModbusBuildingEmulator(lifts=model, doors=model) as emulator:
        session = model.session_for("tug-1")
        lifts = ModbusLiftCaller("lifts", clock, ModbusLiftCallerConfig.model_validate(
            lift_caller_config(world, emulator, session=session)), session=session)
        doors = ModbusDoorOpener("doors", clock, ModbusDoorOpenerConfig.model_validate(door_opener_config(
            emulator, session=session, routes={"pharmacy": [["pharmacy-door"]]})), session=session)
        with lifts, doors:
            yield Hospital(model, emulator, clock, lifts, doors)


def test_a_ride_from_the_basement_to_the_first_floor(hospital: Hospital) -> None:
    assert hospital.lifts.place_level("pharmacy") == -1
    route = hospital.lifts.route(-1, 1)
    assert route.board_at == f"{route.lift}-lobby-B1" and route.leave_at == f"{route.lift}-lobby-L1"
    call = hospital.lifts.start_call(route)
    assert hospital.run(call) is HandleStatus.SUCCEEDED, call.error
    ride = hospital.lifts.start_travel(route)
    assert hospital.run(ride) is HandleStatus.SUCCEEDED, ride.error
    assert ride.result is not None and ride.result.level == 1
    hospital.lifts.release(route.lift)
    assert hospital.lifts.status(route.lift).free
    rides = hospital.model.rides()
    assert [(r.robot, r.from_level, r.to_level, r.outcome) for r in rides] == [("tug-1", -1, 1, "done")]


def test_a_car_held_by_another_robot_refuses_a_ride_in_words(hospital: Hospital) -> None:
    other = hospital.model.session_for("tug-2")
    hospital.model.hall_call("lift-1", 0, other)
    hospital.tick()
    route = hospital.lifts.route(0, 1, avoid={"lift-2"})
    with pytest.raises(LiftUnavailable, match=rf"lift lift-1: car held by another robot \(session {other}\)"):
        hospital.lifts.start_travel(route)


def test_the_fire_alarm_recalls_a_riding_car_and_the_ride_fails_where_it_opens(hospital: Hospital) -> None:
    route = hospital.lifts.route(-1, 1)
    assert hospital.run(hospital.lifts.start_call(route)) is HandleStatus.SUCCEEDED
    ride = hospital.lifts.start_travel(route)
    for _ in range(4):
        hospital.tick()
    hospital.model.set_fire_alarm(True)
    assert hospital.run(ride) is HandleStatus.FAILED
    assert ride.failure is not None and ride.failure.kind is LiftFailureKind.FIRE_SERVICE
    assert ride.failure.level is not None
    assert ride.failure.leave_at == hospital.model.world.lifts[route.lift].lobbies[ride.failure.level]
    with pytest.raises(LiftUnavailable) as refused:
        hospital.lifts.route(0, 1)
    assert refused.value.kind is LiftFailureKind.FIRE_SERVICE


def test_a_powered_door_opens_and_a_fire_door_stays_shut_in_the_alarm(hospital: Hospital) -> None:
    assert hospital.doors.doors_on_route("pharmacy") == ["pharmacy-door"]
    opening = hospital.doors.start_open("pharmacy-door")
    assert hospital.run(opening) is HandleStatus.SUCCEEDED, opening.error
    hospital.model.set_fire_alarm(True)
    hospital.tick()
    fire_door = hospital.doors.start_open("ground-fire-door-east")
    assert hospital.run(fire_door) is HandleStatus.FAILED
    assert fire_door.error == "door ground-fire-door-east is fire-closed by the alarm"


def test_a_silent_lift_controller_fails_the_call_with_the_unit_named(hospital: Hospital) -> None:
    route = hospital.lifts.route(-1, 1)
    call = hospital.lifts.start_call(route)
    hospital.emulator.silence(hospital.emulator.units[route.lift])
    assert call.poll() is HandleStatus.FAILED
    assert call.failure is not None and call.failure.kind is LiftFailureKind.FAULT
    assert f"unit {hospital.emulator.units[route.lift]}" in call.failure.reason
