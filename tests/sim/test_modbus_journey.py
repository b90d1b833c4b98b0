"""Whole logistics robots riding the multi-floor hospital's lifts over Modbus TCP: the kind's YAML
with its lift caller swapped for model `modbus`, talking to the building emulator on loopback,
which serves the simulation's own building model; one `emulator.sync` per step. The journey's
outcomes are the in-process device's: a ride done; a controller that stops answering ends the
journey with the unit named and nothing held, within the bounded timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hal.lift_caller import LiftCaller
from missions.journey import Journey
from missions.timing import OpStatus
from robots.config import RobotKindConfig
from sim.emulators.modbus_building import ModbusBuildingEmulator, lift_caller_config
from sim.scenario import WORLDS_DIR
from sim.world import World, load_world
from tests.sim.lift_rig import LiftRig

pytestmark = pytest.mark.timeout(120)



@pytest.fixture(scope="module")
def world() -> World:
    return load_world(WORLDS_DIR / "default_hospital.yaml")


class ModbusRig(LiftRig):
    """The journey rig with each robot's lift caller on the building emulator (model `modbus`),
    synced after every building step."""

    def __init__(self, world: World, robots: dict[str, str], tmp_path: Path) -> None:
        self.emulator: ModbusBuildingEmulator | None = None
        super().__init__(world, robots, tmp_path)

    def _config(self, robot_id: str, kind: RobotKindConfig) -> RobotKindConfig:
        if self.emulator is None:  # the env exists now (the base built it): serve its building
            self.emulator = ModbusBuildingEmulator(lifts=self.building, doors=self.building)
            self.emulator.start()
        lifts = {"kind": "lift_caller", "model": "modbus",
                 **lift_caller_config(self.world, self.emulator, session=self.building.session_for(robot_id))}
        return kind.model_copy(update={"devices": {**kind.devices, "lifts": lifts}})

    def _after_building_step(self, now_s: float) -> None:
        assert self.emulator is not None
        self.emulator.sync(now_s)

    def lifts(self, robot_id: str) -> LiftCaller:
        found = self.robots[robot_id].devices.find(LiftCaller)
        assert found is not None
        return found

    def close(self) -> None:
        for robot in self.robots.values():
            robot.close()
        if self.emulator is not None:
            self.emulator.stop()


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
