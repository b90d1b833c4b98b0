"""The rig of the multi-floor journey tests: whole logistics robots riding the default hospital's
lifts, in process (tests/missions/test_journey_floors.py) or over Modbus
(tests/sim/test_modbus_journey.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hal.clock import SimClock
from missions.journey import JourneySettings, go_to
from missions.timing import Attempts, OpStatus
from robots.config import RobotKindConfig, kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from robots.robot import Robot, RobotIdentity, build_devices
from sim.building_controllers import Motion
from sim.building_model import BuildingModel, building_model
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.world import World
from telemetry.sinks import NullSink

START_S = 1767600000.0
DT = 0.2
SETTINGS = JourneySettings(lift_timeout_s=300.0)


class LiftRig:
    """Whole logistics robots (the kind's YAML, the sim devices) ticked by hand on a SimClock, with
    the building model's lifts; `go` starts a multi-floor `go_to`. Subclasses change a robot's
    devices (`_config`) and what follows each building step (`_after_building_step`)."""

    def __init__(self, world: World, robots: dict[str, str], tmp_path: Path) -> None:
        self.clock = SimClock(START_S)
        self.world = world
        self.env = SimEnvironment(world, PatientCensus(1, world.beds(), START_S), self.clock, 1)
        kind = load_robot_config(kind_config_path("logistics"))
        self.robots: dict[str, Robot] = {}
        for robot_id, start in robots.items():
            config = self._config(robot_id, kind)
            body = self.env.add_robot(robot_id, start)
            devices = build_devices(config, load_device_registry(), self.clock, robot_id,
                                    {"sim_env": self.env, "sim_body": body})
            robot = Robot(RobotIdentity(robot_id, "test-site", start), config, devices, self.clock,
                          site_map=world, telemetry=NullSink(), journal_dir=tmp_path / robot_id)
            robot.setup()
            self.robots[robot_id] = robot
        self.ops: dict[str, Attempts[Any]] = {}

    def _config(self, robot_id: str, kind: RobotKindConfig) -> RobotKindConfig:
        return kind

    def _after_building_step(self, now_s: float) -> None:
        pass

    @property
    def building(self) -> BuildingModel:
        return building_model(self.env)

    def go(self, robot_id: str, place: str, settings: JourneySettings = SETTINGS) -> Attempts[Any]:
        op = go_to(self.robots[robot_id].devices, place, nav_timeout_s=900.0, nav_attempts=3, nav_retry_wait_s=5.0,
                   journey=settings)
        self.ops[robot_id] = op
        return op

    def tick(self) -> None:
        now_s = self.clock.now_s() + DT
        self.clock.set(now_s)
        self.building.step(now_s)
        self._after_building_step(now_s)
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

    def level(self, robot_id: str) -> int:
        return self.env.body(robot_id).pose.level

    def riding(self, lift: str) -> bool:
        status = self.building.lift_status(lift)
        return status.session != 0 and status.motion is not Motion.IDLE

