"""A nursing robot on simulated devices in the default hospital, ticked by hand.

The real `Robot` (safety supervisor, mission runner, journal) with the sim backends from
`robots/kinds/nursing.yaml`; the test owns the SimClock. `restart()` drops the robot object
without closing anything (a kill) and builds a new one on the same devices and journal.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from hal.clock import SimClock
from hal.device_set import DeviceSet
from missions.events import MissionEvent
from robots.config import kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from robots.robot import Robot, RobotIdentity, build_devices
from sim.devices.badge_reader import SimBadgeReader
from sim.devices.drawer import SimDrawer
from sim.devices.patient_terminal import SimPatientTerminal
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.runner import SIM_DAY_START_S
from sim.scenario import WORLDS_DIR
from sim.world import World, load_world
from telemetry.sinks import NullSink

ROBOT = "nurse-t"
DOCK = "dock-ward-a"


@lru_cache(maxsize=1)
def hospital() -> World:
    return load_world(WORLDS_DIR / "default_hospital.yaml")


def at(hhmm: str) -> float:
    hours, minutes = hhmm.split(":")
    return SIM_DAY_START_S + int(hours) * 3600 + int(minutes) * 60


class WardRig:
    def __init__(self, journal_dir: Path, *, start: str = "07:55", seed: int = 5,
                 deteriorating_fraction: float = 0.0) -> None:
        self.world = hospital()
        self.clock = SimClock(at(start))
        self.census = PatientCensus(seed, self.world.beds(), self.clock.now_s(),
                                    deteriorating_fraction=deteriorating_fraction)
        self.env = SimEnvironment(self.world, self.census, self.clock, seed)
        self.config = load_robot_config(kind_config_path("nursing"))
        body = self.env.add_robot(ROBOT, DOCK)
        self.devices: DeviceSet = build_devices(self.config, load_device_registry(), self.clock, ROBOT,
                                                {"sim_env": self.env, "sim_body": body})
        self.journal_dir = journal_dir
        self.events: list[MissionEvent] = []
        self.robot = self._new_robot()

    def _new_robot(self) -> Robot:
        robot = Robot(RobotIdentity(ROBOT, "test-site", DOCK), self.config, self.devices, self.clock,
                      site_map=self.world, telemetry=NullSink(), journal_dir=self.journal_dir)
        robot.add_listener(self.events.append)
        robot.setup()
        return robot

    def restart(self) -> None:
        """A kill and a restart: the robot object is dropped as it is; devices keep their state."""
        self.robot = self._new_robot()

    # -- devices -------------------------------------------------------------------------------

    @property
    def drawer(self) -> SimDrawer:
        assert isinstance(self.devices.drawer, SimDrawer)
        return self.devices.drawer

    @property
    def terminal(self) -> SimPatientTerminal:
        found = self.devices.find(SimPatientTerminal)
        assert found is not None
        return found

    @property
    def badge(self) -> SimBadgeReader:
        found = self.devices.find(SimBadgeReader)
        assert found is not None
        return found

    def unlocks(self, drawer_id: str | None = None, *, by_prefix: str = "") -> list[Any]:
        return [e for e in self.drawer.log if e.action == "unlock" and (drawer_id is None or e.drawer_id == drawer_id)
                and (e.by or "").startswith(by_prefix)]

    # -- time ----------------------------------------------------------------------------------

    def tick(self, dt_s: float = 0.5) -> None:
        now_s = self.clock.now_s() + dt_s
        self.clock.set(now_s)
        self.robot.step(now_s)
        self.env.step(dt_s)

    def run_until(self, done: Callable[[], bool], *, max_s: float = 4 * 3600, dt_s: float = 0.5) -> None:
        for _ in range(int(max_s / dt_s)):
            if done():
                return
            self.tick(dt_s)
        raise AssertionError(f"condition not reached within {max_s:g} simulated seconds")

    def idle(self) -> bool:
        runner = self.robot.runner
        return runner.current is None and not runner.queue_snapshot()

    def run_mission(self, kind: str, params: dict[str, Any], *, mission_id: str = "m-1",
                    max_s: float = 4 * 3600) -> Any:
        self.robot.dispatch(kind, params, mission_id=mission_id)
        self.run_until(self.idle, max_s=max_s)
        return self.robot.runner.history[-1]

    def kinds(self, kind: str) -> list[MissionEvent]:
        return [e for e in self.events if e.kind == kind]

    def records(self, record_type: str) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self.kinds("clinical.record") if e.data.get("record_type") == record_type]

    # -- orders --------------------------------------------------------------------------------

    def bed(self, bed_id: str) -> tuple[str, str]:
        """(place, patient_ref the ward's census gives) of a bed."""
        place = next(p.name for p in self.world.beds() if p.bed_id == bed_id)
        return place, self.census.expected_ref(bed_id)

    def doses(self, bed_id: str, *, due_s: float | None = None, **dose: Any) -> dict[str, Any]:
        place, ref = self.bed(bed_id)
        order = {"order_id": f"rx-{bed_id}-paracetamol".lower(), "patient_ref": ref, "drug": "paracetamol",
                 "dose_mg": 1000.0, "route": "oral", "due_s": due_s if due_s is not None else at("08:00"), **dose}
        return {"bed_id": bed_id, "place": place, "patient_ref": ref, "doses": [order]}
