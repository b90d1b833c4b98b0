"""A simulated robot body: differential-drive kinematics, contact, battery and charging.

The sim drive base writes `commanded`; `integrate()` moves the body toward it within acceleration
limits along an exact arc, refuses to enter an occupied cell of its own level's grid or another
body's or a person's footprint (stop + bumper contact for that tick, and `last_contact` says what
it touched), drains the battery by a simple power model and charges it when parked on a dock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from hal.geometry import Pose2D, Twist2D, wrap_angle_rad

#: a robot stopped within this distance of a dock place is on the charging contacts
DOCK_RADIUS_M = 0.3
#: a charging session that adds at least this much charge counts as one cycle
CHARGE_CYCLE_MIN_GAIN = 0.05
#: the report's track keeps a point every this many metres
RECHARGE_BELOW_FRACTION = 0.97
TRACK_SPACING_M = 0.5
_COLLISION_STEP_M = 0.05


class _Grid(Protocol):
    def is_free(self, x_m: float, y_m: float) -> bool: ...


class _DockPlace(Protocol):
    @property
    def x_m(self) -> float: ...
    @property
    def y_m(self) -> float: ...


class BodyWorld(Protocol):
    """What a body needs of the world (`sim.world.World` satisfies it)."""

    @property
    def grids(self) -> Mapping[int, _Grid]: ...

    def docks(self) -> Sequence[_DockPlace]: ...


class BodyObstacles(Protocol):
    """What else a body can bump into (`sim.obstacles.ObstacleField` satisfies it)."""

    def blocker(
        self, robot_id: str, level: int, x0_m: float, y0_m: float, x1_m: float, y1_m: float, radius_m: float
    ) -> tuple[str, str] | None: ...


def _approach(current: float, target: float, max_step: float) -> float:
    return current + max(-max_step, min(max_step, target - current))


class SimBody:
    def __init__(
        self,
        robot_id: str,
        pose: Pose2D,
        *,
        max_speed_mps: float = 1.0,
        max_angular_radps: float = 1.5,
        max_accel_mps2: float = 0.5,
        max_angular_accel_radps2: float = 2.0,
        battery_capacity_wh: float = 600.0,
        soc_fraction: float = 1.0,
        idle_power_w: float = 25.0,
        motion_power_w_per_mps: float = 60.0,
        charge_power_w: float = 200.0,
        bumper_reach_m: float = 0.15,
        radius_m: float = 0.35,
    ) -> None:
        if battery_capacity_wh <= 0:
            raise ValueError(f"battery_capacity_wh must be > 0, got {battery_capacity_wh}")
        self.robot_id = robot_id
        #: called with the body whenever its pose is set (the environment keeps footprints current)
        self.on_pose: Callable[[SimBody], None] | None = None
        self._pose = pose
        self.radius_m = radius_m  # the footprint other robots and people see
        self.max_speed_mps = max_speed_mps
        self.max_angular_radps = max_angular_radps
        self.max_accel_mps2 = max_accel_mps2
        self.max_angular_accel_radps2 = max_angular_accel_radps2
        self.battery_capacity_wh = battery_capacity_wh
        self.soc_fraction = min(1.0, max(0.0, soc_fraction))
        self.idle_power_w = idle_power_w
        self.motion_power_w_per_mps = motion_power_w_per_mps
        self.charge_power_w = charge_power_w
        self.bumper_reach_m = bumper_reach_m

        self.commanded = Twist2D.zero()  # set by the sim drive base
        self.velocity = Twist2D.zero()  # actual, after acceleration limits
        self.bumper_contact = False
        #: what the last refused move pressed into: ("wall", "") or (kind, ident) of a robot or person
        self.last_contact: tuple[str, str] | None = None
        self.distance_travelled_m = 0.0
        self.is_charging = False
        self.battery_power_w = 0.0  # positive while charging
        self.charge_cycles = 0
        self.charged_wh = 0.0  # energy put into the pack over the run (top-ups included)
        self.track: list[tuple[float, float]] = [(pose.x_m, pose.y_m)]
        self._dock_checked_at: Pose2D | None = None
        self._at_dock = False
        self._session_start_soc: float | None = None
        self._session_counted = False

    @property
    def pose(self) -> Pose2D:
        return self._pose

    @pose.setter
    def pose(self, pose: Pose2D) -> None:
        self._pose = pose
        if self.on_pose is not None:
            self.on_pose(self)

    # -- battery readings ----------------------------------------------------------------------

    @property
    def voltage_v(self) -> float:
        """A 24 V LiFePO4-like pack: 22.0 V empty to 27.0 V full."""
        return 22.0 + 5.0 * self.soc_fraction

    @property
    def equivalent_full_cycles(self) -> float:
        """Charge put in, in full-capacity units: counts short top-ups that `charge_cycles` skips."""
        return self.charged_wh / self.battery_capacity_wh

    @property
    def current_a(self) -> float:
        return self.battery_power_w / self.voltage_v

    # -- the step ------------------------------------------------------------------------------

    def integrate(self, dt_s: float, world: BodyWorld, obstacles: BodyObstacles | None = None) -> None:
        if dt_s <= 0:
            return
        self.bumper_contact = False
        self.last_contact = None
        self._move(dt_s, world, obstacles)
        self._update_battery(dt_s, world)

    def _move(self, dt_s: float, world: BodyWorld, obstacles: BodyObstacles | None) -> None:
        if self.velocity.is_zero and self.commanded.is_zero:
            return  # standing and told to stand: most robots most of the time (docked, measuring)
        target_v = max(-self.max_speed_mps, min(self.max_speed_mps, self.commanded.linear_mps))
        target_w = max(-self.max_angular_radps, min(self.max_angular_radps, self.commanded.angular_radps))
        if self.soc_fraction <= 0.0:  # a flat battery: the motor controllers cut out
            target_v = target_w = 0.0
        v = _approach(self.velocity.linear_mps, target_v, self.max_accel_mps2 * dt_s)
        w = _approach(self.velocity.angular_radps, target_w, self.max_angular_accel_radps2 * dt_s)
        x, y, yaw = self.pose.x_m, self.pose.y_m, self.pose.yaw_rad
        # Exact unicycle integration over dt with constant (v, w): an arc, or a line when w ~ 0.
        if abs(w) < 1e-9:
            nx, ny = x + v * dt_s * math.cos(yaw), y + v * dt_s * math.sin(yaw)
        else:
            radius = v / w
            nx = x + radius * (math.sin(yaw + w * dt_s) - math.sin(yaw))
            ny = y - radius * (math.cos(yaw + w * dt_s) - math.cos(yaw))
        nyaw = wrap_angle_rad(yaw + w * dt_s)
        step_m = math.hypot(nx - x, ny - y)
        if step_m > 0:
            level = self.pose.level
            hit: tuple[str, str] | None = None
            if not self._path_is_free(world.grids[level], x, y, nx, ny, nyaw, v):
                hit = ("wall", "")
            elif obstacles is not None:
                hit = obstacles.blocker(self.robot_id, level, x, y, nx, ny, self.radius_m)
            if hit is not None:
                self.velocity = Twist2D.zero()
                self.bumper_contact = True
                self.last_contact = hit
                return
        self.velocity = Twist2D(v, w)
        self.pose = Pose2D(nx, ny, nyaw, self.pose.level)
        self.distance_travelled_m += step_m
        last_x, last_y = self.track[-1]
        if math.hypot(nx - last_x, ny - last_y) >= TRACK_SPACING_M:
            self.track.append((nx, ny))

    def _path_is_free(self, grid: _Grid, x: float, y: float, nx: float, ny: float, nyaw: float, v: float) -> bool:
        n = max(1, math.ceil(math.hypot(nx - x, ny - y) / _COLLISION_STEP_M))
        for i in range(1, n + 1):
            if not grid.is_free(x + (nx - x) * i / n, y + (ny - y) * i / n):
                return False
        # The bumper sits ahead of the centre in the direction of travel.
        reach = math.copysign(self.bumper_reach_m, v)
        return grid.is_free(nx + reach * math.cos(nyaw), ny + reach * math.sin(nyaw))

    def _on_dock(self, world: BodyWorld) -> bool:
        if not (self.velocity.is_zero and self.commanded.is_zero):
            return False
        # a robot standing still stays on (or off) its dock: look the docks up once per stop
        if self._dock_checked_at != self.pose:
            self._dock_checked_at = self.pose
            self._at_dock = any(math.hypot(d.x_m - self.pose.x_m, d.y_m - self.pose.y_m) <= DOCK_RADIUS_M
                                for d in world.docks())
        return self._at_dock

    def _update_battery(self, dt_s: float, world: BodyWorld) -> None:
        load_w = self.idle_power_w + self.motion_power_w_per_mps * abs(self.velocity.linear_mps)
        # Like a real charger: charge to full, then only top up once the charge has fallen below
        # RECHARGE_BELOW_FRACTION (otherwise the charging flag flickers with the hotel load).
        needs_charge = self.soc_fraction < (1.0 if self.is_charging else RECHARGE_BELOW_FRACTION)
        charging = self._on_dock(world) and needs_charge
        if charging:
            # Constant power, tapering linearly above 90 % (constant-voltage phase); the charger
            # also carries the hotel load.
            taper = 1.0 if self.soc_fraction < 0.9 else max(0.05, (1.0 - self.soc_fraction) / 0.1)
            power_w = self.charge_power_w * taper
        else:
            power_w = -load_w
        self.battery_power_w = power_w
        if charging:
            self.charged_wh += power_w * dt_s / 3600.0
        self.soc_fraction = min(1.0, max(0.0, self.soc_fraction + power_w * dt_s / 3600.0 / self.battery_capacity_wh))
        self._track_charge_session(charging)
        self.is_charging = charging

    def _track_charge_session(self, charging: bool) -> None:
        if charging and self._session_start_soc is None:
            self._session_start_soc, self._session_counted = self.soc_fraction, False
        elif not charging:
            self._session_start_soc = None
        if (
            self._session_start_soc is not None
            and not self._session_counted
            and self.soc_fraction - self._session_start_soc >= CHARGE_CYCLE_MIN_GAIN - 1e-12
        ):
            self.charge_cycles += 1
            self._session_counted = True
