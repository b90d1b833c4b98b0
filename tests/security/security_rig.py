"""A security robot in the default hospital, on the real simulated devices, ticked by hand.

`SecurityRig` builds what `sim.runner.SimulationRun` builds for one robot (world, environment,
devices from `robots/kinds/security.yaml`, `Robot` with a journal) without its loop, so a test
can seed hazards, press the e-stop, break a sensor or restart the robot between ticks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hal.clock import SimClock
from missions import events as ev
from missions.events import MissionEvent
from robots.config import kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from robots.robot import Robot, RobotIdentity, build_devices
from sim.body import SimBody
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.security_world import Hazard, HazardKind, SecurityWorld, security_world_for
from sim.world import World, default_world_path, load_world
from telemetry.sinks import NullSink

MIDNIGHT_S = 1767571200.0  # 2026-01-05 00:00 UTC, the simulator's day
DT_S = 0.2
ROBOT = "security-1"
DOCK = "dock-car-park"


@functools.lru_cache(maxsize=1)
def hospital() -> World:
    return load_world(default_world_path())


def at(hour: float) -> float:
    return MIDNIGHT_S + hour * 3600.0


class SecurityRig:
    def __init__(self, tmp_path: Path, *, hour: float = 10.0, seed: int = 1, start: str = DOCK) -> None:
        self.world = hospital()
        self.clock = SimClock(at(hour))
        self.env = SimEnvironment(self.world, PatientCensus(seed, self.world.beds(), self.clock.now_s()), self.clock,
                                  seed)
        self.body: SimBody = self.env.add_robot(ROBOT, start, max_speed_mps=1.3)
        self.security: SecurityWorld = security_world_for(self.env)
        self.journal_dir = tmp_path / "journal"
        self.events: list[MissionEvent] = []
        self.robot = self._build_robot()

    def _build_robot(self) -> Robot:
        config = load_robot_config(kind_config_path("security"))
        devices = build_devices(config, load_device_registry(), self.clock, ROBOT,
                                {"sim_env": self.env, "sim_body": self.body})
        robot = Robot(RobotIdentity(ROBOT, "general-hospital", DOCK), config, devices, self.clock,
                      site_map=self.world, telemetry=NullSink(), journal_dir=self.journal_dir)
        robot.add_listener(self.events.append)
        robot.setup()
        return robot

    def restart(self) -> Robot:
        """Kill and restart the robot process: new devices and runner on the same journal."""
        self.robot.close()
        self.robot = self._build_robot()
        return self.robot

    # ---- world --------------------------------------------------------------------------------

    def hazard(self, kind: HazardKind, place: str, *, from_hour: float | None = None, **kw: Any) -> Hazard:
        start = self.clock.now_s() if from_hour is None else at(from_hour)
        return self.security.add_hazard(Hazard(kind, place, start, **kw))

    def device(self, name: str) -> Any:
        return next(d for d in self.robot.devices if d.name == name)

    # ---- time ---------------------------------------------------------------------------------

    def tick(self) -> None:
        now_s = self.clock.now_s() + DT_S
        self.clock.set(now_s)
        self.robot.step(now_s)
        self.env.step(DT_S)

    def run_until(self, done: Callable[[], bool], *, max_s: float = 3600.0) -> None:
        for _ in range(round(max_s / DT_S)):
            if done():
                return
            self.tick()
        raise AssertionError(f"condition not reached within {max_s:g} simulated s")

    def run_mission(self, kind: str, params: dict[str, Any], *, mission_id: str = "m1",
                    max_s: float = 3600.0) -> dict[str, Any]:
        self.robot.dispatch(kind, params, mission_id=mission_id)
        self.run_until(lambda: self.finished(mission_id), max_s=max_s)
        result = next(r for r in self.robot.runner.history if r.mission_id == mission_id)
        return {"outcome": result.outcome, "reason": result.reason, **result.data}

    def finished(self, mission_id: str) -> bool:
        return any(r.mission_id == mission_id for r in self.robot.runner.history)

    # ---- what happened ------------------------------------------------------------------------

    def alerts(self, category: str | None = None) -> list[dict[str, Any]]:
        return [e.data for e in self.events
                if e.kind == ev.ALERT and (category is None or e.data["category"] == category)]

    def steps(self) -> list[str]:
        return [str(e.step) for e in self.events if e.kind == ev.MISSION_STEP]


def patrol(*places: str, closed: tuple[float, float] | None = None, door: bool = False,
           **extra: Any) -> dict[str, Any]:
    """Params of a patrol over these places (checkpoint name = place), no return to the dock."""
    checkpoints = [{"name": p, "place": p, "closed_hours": closed, "check_door": door} for p in places]
    return {"checkpoints": checkpoints, "return_to_dock": False, **extra}
