"""The simulated environment the sim devices see: world, patients, robot bodies, people, e-stops, faults.

`step(dt_s)` integrates every body in robot-id order (deterministic), then walks the people
(`sim.people`, off unless enabled). It does not touch the clock: the runner owns time
(`clock.set(...)`, robots step, then `env.step(dt_s)`).

Other robots and people are obstacles (`obstacles_near`, `obstacle_circles`): a body refuses to
move into one as it refuses a wall, and every such contact is logged (`contacts`,
`contact_summary()`), never passed through.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hal.clock import SimClock
from hal.geometry import wrap_angle_rad
from sim.body import SimBody
from sim.obstacles import WALL, Contact, ContactLog, FloatArray, Obstacle, ObstacleField
from sim.occupancy import OccupancyGrid
from sim.patients import PatientCensus, PatientModel, stable_int
from sim.people import PeopleConfig, PeopleModel
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
    def __init__(
        self, world: World, census: PatientCensus, clock: SimClock, seed: int, *, people: PeopleConfig | None = None
    ) -> None:
        self.world = world
        self.census = census
        self.clock = clock
        self.seed = seed
        self._bodies: dict[str, SimBody] = {}
        self._ordered: list[SimBody] = []
        self._start_groups: dict[str, int] = {}
        self._field_index: list[int] = []  # position in the obstacle field of each body in `_ordered`
        self._max_speed_mps = 0.0
        self.obstacles = ObstacleField()
        self._contacts = ContactLog()
        self._inflated: dict[tuple[int, float], OccupancyGrid] = {}
        self.people: PeopleModel | None = None
        if people is not None:
            self.enable_people(people)
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
        self._ordered = [self._bodies[rid] for rid in sorted(self._bodies)]
        self._max_speed_mps = max(self._max_speed_mps, body.max_speed_mps)
        # robots placed on one start place are dock mates (see sim.obstacles)
        group = self._start_groups.setdefault(start_place, len(self._start_groups))
        self.obstacles.add_robot(robot_id, body.pose.x_m, body.pose.y_m, body.pose.level, body.radius_m, group)
        self._field_index = [self.obstacles.robot_ids.index(b.robot_id) for b in self._ordered]
        body.on_pose = self._on_pose
        return body

    def _on_pose(self, body: SimBody) -> None:
        pose = body.pose
        self.obstacles.move_robot(body.robot_id, pose.x_m, pose.y_m, pose.level)

    def body(self, robot_id: str) -> SimBody:
        if robot_id not in self._bodies:
            raise KeyError(f"no robot {robot_id!r} in the simulation (robots: {', '.join(sorted(self._bodies))})")
        return self._bodies[robot_id]

    def robot_ids(self) -> list[str]:
        return sorted(self._bodies)

    def step(self, dt_s: float) -> None:
        field = self.obstacles
        # A body further than two bodies' travel in one step from everything cannot touch
        # anything this step: skip its obstacle test (the walls it still checks).
        clear = field.clearances().copy()
        reach_m = 2.0 * self._max_speed_mps * dt_s + 0.01
        for i, body in enumerate(self._ordered):
            was_moving = not body.velocity.is_zero
            body.integrate(dt_s, self.world, field if clear[self._field_index[i]] < reach_m else None)
            if body.last_contact is not None:
                kind, other = body.last_contact
                pose = body.pose
                self._contacts.record(body.robot_id, kind, other if kind != WALL else None, self.clock.now_s(),
                                      pose.level, pose.x_m, pose.y_m)
            moving = not body.velocity.is_zero
            if moving != was_moving:
                field.set_moving(body.robot_id, moving)
            if moving or was_moving:
                v, yaw = body.velocity.linear_mps, body.pose.yaw_rad
                field.set_velocity(body.robot_id, v * math.cos(yaw), v * math.sin(yaw))
        if self.people is not None:
            rx, ry, rlevel = field.robot_xy_level()
            self.people.step(dt_s, rx, ry, rlevel, field.robot_radius_m(), *field.robot_velocity_mps())
            field.people = self.people.circles()

    # -- people ----------------------------------------------------------------------------------

    def enable_people(self, config: PeopleConfig | None = None) -> PeopleModel | None:
        """Walk people through the hospital from now on (`PeopleConfig()`: the default, modest
        density); a config with no people disables them. Seeded by the environment's seed."""
        config = config or PeopleConfig()
        self.people = PeopleModel(self.world, config, self.seed) if config.enabled else None
        field = self.obstacles
        if self.people is not None:
            field.people = self.people.circles()
        else:
            field.people = type(field.people).empty()
        return self.people

    # -- other robots and people, as obstacles ---------------------------------------------------

    def obstacles_near(
        self, level: int, x_m: float, y_m: float, radius_m: float, *, exclude: str | None = None
    ) -> list[Obstacle]:
        """Robots and people on `level` whose footprint comes within `radius_m` of the point,
        nearest first (`exclude`: the asking robot's own id)."""
        return self.obstacles.near(level, x_m, y_m, radius_m, exclude=exclude)

    def clearance_m(self, robot_id: str) -> float:
        """Free distance from the robot's footprint to the nearest other robot or person on its
        level (inf: none): when it exceeds a sensor's range, nothing is in range."""
        return self.obstacles.clearance(robot_id)

    def obstacle_circles(
        self, level: int, x_m: float, y_m: float, within_m: float, *, exclude: str | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(x, y, radius) arrays of the footprints within `within_m` of the point (the lidar's view)."""
        return self.obstacles.circles(level, x_m, y_m, within_m, exclude=exclude)

    def inflated_grid(self, level: int, radius_m: float) -> OccupancyGrid:
        """The level's grid with walls grown by `radius_m` (where a round robot's centre may go), cached."""
        key = (level, round(radius_m, 3))
        if key not in self._inflated:
            self._inflated[key] = self.world.grids[level].inflated(radius_m)
        return self._inflated[key]

    def note_waiting(self, robot_id: str, blocker: str | None) -> None:
        """A navigator says what it is stopped for (None: not waiting), so that others see it waits."""
        self.obstacles.set_waiting(robot_id, blocker)

    @property
    def contacts(self) -> list[Contact]:
        """Every contact so far, in the order they happened."""
        return list(self._contacts.records)

    def contact_summary(self) -> dict[str, int]:
        """Contacts by kind: robot-robot, robot-person, robot-wall, and the total."""
        return self._contacts.summary()

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
            occupant = self.census.occupant(bed.bed_id)  # None: an empty bed (a discharge)
            if occupant is not None:
                best, best_d = occupant, d
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
