"""The simulated environment the sim devices see: world, patients, robot bodies, e-stops, faults.

`step(dt_s)` integrates every body in robot-id order (deterministic). It does not touch the
clock: the runner owns time (`clock.set(...)`, robots step, then `env.step(dt_s)`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hal.clock import SimClock
from hal.geometry import wrap_angle_rad
from sim.body import SimBody
from sim.patients import PatientCensus, PatientModel, stable_int
from sim.world import World

#: a bed is "faced" when the robot's heading is within this of the bed place's yaw (the bed
#: place is where a robot stands beside the bed, facing it)
FACING_TOLERANCE_RAD = 0.6


@dataclass(frozen=True, slots=True)
class Fault:
    reason: str
    from_s: float | None = None
    until_s: float | None = None

    def active(self, now_s: float) -> bool:
        return (self.from_s is None or now_s >= self.from_s) and (self.until_s is None or now_s < self.until_s)


class SimEnvironment:
    def __init__(self, world: World, census: PatientCensus, clock: SimClock, seed: int) -> None:
        self.world = world
        self.census = census
        self.clock = clock
        self.seed = seed
        self._bodies: dict[str, SimBody] = {}
        self._rngs: dict[tuple[str, str], np.random.Generator] = {}
        self._faults: dict[tuple[str, str], list[Fault]] = {}
        self._faulted_robots: set[str] = set()
        self._estops: dict[str, str] = {}  # robot_id → source, while pressed

    # -- robots --------------------------------------------------------------------------------

    def add_robot(self, robot_id: str, start_place: str, **body_kwargs: Any) -> SimBody:
        if robot_id in self._bodies:
            raise ValueError(f"robot {robot_id!r} is already in the simulation")
        place = self.world.place(start_place)
        body = SimBody(robot_id, place.pose, **body_kwargs)
        self._bodies[robot_id] = body
        return body

    def body(self, robot_id: str) -> SimBody:
        if robot_id not in self._bodies:
            raise KeyError(f"no robot {robot_id!r} in the simulation (robots: {', '.join(sorted(self._bodies))})")
        return self._bodies[robot_id]

    def robot_ids(self) -> list[str]:
        return sorted(self._bodies)

    def step(self, dt_s: float) -> None:
        for robot_id in sorted(self._bodies):
            self._bodies[robot_id].integrate(dt_s, self.world)

    # -- what a robot's sensors see ------------------------------------------------------------

    def patient_facing(self, body: SimBody, max_distance_m: float = 1.5) -> PatientModel | None:
        """The patient in the bed whose place is nearest the body, within range and faced."""
        pose = body.pose
        best: PatientModel | None = None
        best_d = max_distance_m
        for bed in self.world.beds():
            if bed.level != pose.level or bed.bed_id is None:
                continue
            d = math.hypot(bed.x_m - pose.x_m, bed.y_m - pose.y_m)
            if d > best_d or abs(wrap_angle_rad(pose.yaw_rad - bed.yaw_rad)) > FACING_TOLERANCE_RAD:
                continue
            best, best_d = self.census.patient_at_bed(bed.bed_id), d
        return best

    def rng_for(self, robot_id: str, device_name: str) -> np.random.Generator:
        """One random stream per (seed, robot, device), the same every run."""
        key = (robot_id, device_name)
        if key not in self._rngs:
            seq = np.random.SeedSequence([self.seed & 0xFFFFFFFF, stable_int(robot_id), stable_int(device_name)])
            self._rngs[key] = np.random.Generator(np.random.PCG64(seq))
        return self._rngs[key]

    # -- e-stop buttons --------------------------------------------------------------------------

    def press_estop(self, robot_id: str, source: str = "button") -> None:
        self._estops[robot_id] = source

    def release_estop(self, robot_id: str) -> None:
        self._estops.pop(robot_id, None)

    def estop_pressed(self, robot_id: str) -> str | None:
        """The source of a pressed e-stop, or None when released."""
        return self._estops.get(robot_id)

    # -- faults ----------------------------------------------------------------------------------

    def inject_fault(
        self,
        robot_id: str,
        device_name: str,
        reason: str,
        until_s: float | None = None,
        *,
        from_s: float | None = None,
    ) -> None:
        """Break a device (by its configured name or its kind) from `from_s` (default: now)
        until `until_s` (default: until cleared)."""
        self._faults.setdefault((robot_id, device_name), []).append(Fault(reason, from_s, until_s))
        self._faulted_robots.add(robot_id)

    def clear_fault(self, robot_id: str, device_name: str) -> None:
        self._faults.pop((robot_id, device_name), None)

    def has_faults(self, robot_id: str) -> bool:
        """Whether any fault was ever injected for this robot (a cheap check for every tick)."""
        return robot_id in self._faulted_robots

    def fault_for(self, robot_id: str, device_name: str, now_s: float) -> str | None:
        for fault in self._faults.get((robot_id, device_name), []):
            if fault.active(now_s):
                return fault.reason
        return None
