"""Whole logistics robots riding the multi-floor hospital's lifts over Modbus TCP: the kind's YAML
with its lift caller swapped for model `modbus`, talking to the building emulator on loopback,
which serves the simulation's own building model; one `emulator.sync` per step. The journey's
outcomes are the in-process device's: a ride done; a controller that stops answering ends the
journey with the unit named and nothing held, within the bounded timeouts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hal.clock import SimClock
from hal.lift_caller import LiftCaller
from missions.journey import Journey, JourneySettings, go_to
from missions.timing import Attempts, OpStatus
from robots.config import kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from robots.robot import Robot, RobotIdentity, build_devices
from sim.building_controllers import Motion
from sim.building_model import BuildingModel, building_model
from sim.emulators.modbus_building import ModbusBuildingEmulator, lift_caller_config
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.scenario import WORLDS_DIR
from sim.world import World, load_world
from telemetry.sinks import NullSink

pytestmark = pytest.mark.timeout(120)

START_S = 1767600000.0
DT = 0.2
SETTINGS = JourneySettings(lift_timeout_s=300.0)


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(WORLDS_DIR / "default_hospital.yaml")


class ModbusRig:
    def __init__(self, world: World, robots: dict[str, str], tmp_path: Path) -> None:
        self.clock = SimClock(START_S)
        self.world = world
        self.env = SimEnvironment(world, PatientCensus(1, world.beds(), START_S), self.clock, 1)
        self.emulator = ModbusBuildingEmulator(lifts=self.building, doors=self.building)
        self.emulator.start()
        kind = load_robot_config(kind_config_path("logistics"))
        self.robots: dict[str, Robot] = {}
        for robot_id, start in robots.items():
            session = self.building.session_for(robot_id)
            lifts = {"kind": "lift_caller", "model": "modbus",
                     **lift_caller_config(world, self.emulator, session=session)}
            config = kind.model_copy(update={"devices": {**kind.devices, "lifts": lifts}})
            body = self.env.add_robot(robot_id, start)
            devices = build_devices(config, load_device_registry(), self.clock, robot_id,
                                    {"sim_env": self.env, "sim_body": body})
            robot = Robot(RobotIdentity(robot_id, "test-site", start), config, devices, self.clock,
                          site_map=world, telemetry=NullSink(), journal_dir=tmp_path / robot_id)
            robot.setup()
            self.robots[robot_id] = robot
        self.ops: dict[str, Attempts[Any]] = {}

    @property
    def building(self) -> BuildingModel:
        return building_model(self.env)

    def lifts(self, robot_id: str) -> LiftCaller:
        found = self.robots[robot_id].devices.find(LiftCaller)
        assert found is not None
        return found

    def close(self) -> None:
        for robot in self.robots.values():
            robot.close()
        self.emulator.stop()

    def go(self, robot_id: str, place: str) -> Attempts[Any]:
        op = go_to(self.robots[robot_id].devices, place, nav_timeout_s=900.0, nav_attempts=3, nav_retry_wait_s=5.0,
                   journey=SETTINGS)
        self.ops[robot_id] = op
        return op

    def tick(self) -> None:
        now_s = self.clock.now_s() + DT
        self.clock.set(now_s)
        self.building.step(now_s)
        self.emulator.sync(now_s)
        for robot_id, robot in self.robots.items():
            op = self.ops.get(robot_id)
            if op is not None and op.status is OpStatus.RUNNING:
                op.poll(now_s)
            robot.step(now_s)
        self.env.step(DT)

    def run_until(self, done: Callable[[], bool], max_s: float = 1800.0) -> None:
        end_s = self.clock.now_s() + max_s
        while not done():
            assert self.clock.now_s() < end_s, "condition not reached in time"
            self.tick()

    def finish(self, robot_id: str, max_s: float = 1800.0) -> Attempts[Any]:
        op = self.ops[robot_id]
        self.run_until(lambda: op.status is not OpStatus.RUNNING, max_s)
        return op

    def riding(self, lift: str) -> bool:
        status = self.building.lift_status(lift)
        return status.session != 0 and status.motion is not Motion.IDLE


@pytest.fixture
def rig(world: World, tmp_path: Path) -> Iterator[ModbusRig]:
    rig = ModbusRig(world, {"r1": "dock-supply"}, tmp_path)
    yield rig
    rig.close()


def test_a_ride_between_floors_over_modbus_is_done(rig: ModbusRig) -> None:
    assert type(rig.lifts("r1")).__name__ == "ModbusLiftCaller"
    op = rig.go("r1", "ward-a-utility")
    assert isinstance(op, Journey)
    assert rig.finish("r1").status is OpStatus.SUCCEEDED, op.reason
    assert rig.env.body("r1").pose.level == 1
    (ride,) = rig.building.rides()
    assert (ride.robot, ride.from_level, ride.to_level, ride.outcome) == ("r1", -1, 1, "done")
    assert rig.building.lift_status(ride.lift).session == 0  # released after leaving
    assert rig.lifts("r1").health().status.value == "ok"


def test_a_lift_controller_that_stops_answering_mid_ride_fails_the_journey_naming_it(rig: ModbusRig) -> None:
    op = rig.go("r1", "ward-a-utility")
    rig.run_until(lambda: any(rig.riding(lift) for lift in rig.world.lifts))
    lift = next(name for name in rig.world.lifts if rig.riding(name))
    unit = rig.emulator.units[lift]
    rig.emulator.silence(unit)
    rig.tick()
    assert op.status is OpStatus.FAILED
    assert op.reason is not None and f"unit {unit}" in op.reason and "did not answer" in op.reason, op.reason
    assert rig.lifts("r1").health().status.value == "error"


def test_the_same_run_over_modbus_twice_gives_the_same_rides(world: World, tmp_path: Path) -> None:
    records = []
    for run in ("a", "b"):
        rig = ModbusRig(world, {"r1": "dock-supply"}, tmp_path / run)
        try:
            rig.go("r1", "ward-a-utility")
            assert rig.finish("r1").status is OpStatus.SUCCEEDED
            records.append(([r.as_dict() for r in rig.building.rides()], rig.env.body("r1").pose))
        finally:
            rig.close()
    assert records[0] == records[1]
