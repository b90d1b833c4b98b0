"""Safety supervisor: the only path from velocity requests to the drive base.

Owns the latching e-stop, the command watchdog, protective stops (bumper), zone speed limits and
the battery reserve. It sits between missions/navigation and the actuators, and is updated first
in every tick so that an e-stop zeroes the drive on the same tick it is seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hal.drive_base import DriveBase
from hal.geometry import Pose2D, Twist2D
from hal.safety_status import SafetyState, SafetyStatus
from hal.site_map import SiteMap


@dataclass(frozen=True, slots=True)
class SafetyConfig:
    watchdog_timeout_s: float = 0.5
    max_speed_mps: float = 1.2
    max_angular_radps: float = 1.5
    #: energy the robot spends per metre driven, and its battery capacity, to turn a route
    #: length into a state-of-charge reserve
    energy_per_m_wh: float = 0.05
    battery_capacity_wh: float = 600.0
    #: multiply the estimated need (detours, ageing cells, waiting at doors)
    reserve_safety_factor: float = 2.0
    #: never plan below this charge, whatever the distance
    reserve_floor_soc_fraction: float = 0.15
    #: once the reserve is reached, it stays reached until charged back to this level
    reserve_release_soc_fraction: float = 0.9
    #: how often the route to the dock is re-measured (the charge falls slowly; routing is not free)
    reserve_check_period_s: float = 10.0

    def __post_init__(self) -> None:
        for name in ("watchdog_timeout_s", "max_speed_mps", "energy_per_m_wh", "battery_capacity_wh"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SafetyConfig.{name} must be > 0")
        if not 0 <= self.reserve_floor_soc_fraction < self.reserve_release_soc_fraction <= 1:
            raise ValueError("SafetyConfig: need 0 <= reserve_floor_soc_fraction < reserve_release_soc_fraction <= 1")


@dataclass(frozen=True, slots=True)
class SafetyInputs:
    """Everything read from the devices at the start of a tick."""

    estop_pressed: bool
    bumper_contact: bool
    battery_soc_fraction: float
    battery_charging: bool
    pose: Pose2D


class SafetySupervisor:
    def __init__(self, drive: DriveBase, site_map: SiteMap, home_dock: str, config: SafetyConfig) -> None:
        self._drive = drive
        self._site_map = site_map
        self._home_dock = home_dock
        self.config = config
        self._estop_latched = False
        self._estop_reason = ""
        self._remote_estop_source: str | None = None
        self._reserve_reached = False
        self._reserve_need_soc_fraction = 1.0
        self._reserve_checked_s = -math.inf
        self._reserve_pose: Pose2D | None = None
        self._limit_pose: Pose2D | None = None
        self._zone_limit_mps = config.max_speed_mps
        self._last_command_s = -math.inf
        self._status: SafetyStatus | None = None
        self._pose = Pose2D(0.0, 0.0, 0.0)
        self._now_s = 0.0

    # ---- inputs -------------------------------------------------------------------------

    def update(self, now_s: float, inputs: SafetyInputs) -> SafetyStatus:
        """First thing in a tick. An e-stop seen here stops the drive before anything else runs."""
        self._now_s = now_s
        self._pose = inputs.pose
        if inputs.estop_pressed and not self._estop_latched:
            self._latch_estop("e-stop button pressed")
        if self._remote_estop_source is not None and not self._estop_latched:
            self._latch_estop(f"remote e-stop by {self._remote_estop_source}")
        self._update_reserve(inputs)
        if inputs.pose != self._limit_pose:  # standing still (docked, measuring): same zone
            self._limit_pose = inputs.pose
            self._zone_limit_mps = self._site_map.speed_limit_at_mps(
                inputs.pose.x_m, inputs.pose.y_m, inputs.pose.level)
        speed_limit_mps = min(self.config.max_speed_mps, self._zone_limit_mps)
        if self._estop_latched:
            state, reason = SafetyState.ESTOP, self._estop_reason
        elif inputs.bumper_contact:
            state, reason = SafetyState.PROTECTIVE_STOP, "bumper contact"
        elif self._command_is_stale(now_s):
            state, reason = SafetyState.WATCHDOG_STOP, "no fresh velocity command"
        else:
            state, reason = SafetyState.NORMAL, ""
        if state is not SafetyState.NORMAL:
            self._drive.command_velocity(Twist2D.zero())
        self._status = SafetyStatus(
            state=state,
            reason=reason,
            speed_limit_mps=speed_limit_mps,
            estop_latched=self._estop_latched,
            battery_reserve_reached=self._reserve_reached,
            battery_soc_fraction=inputs.battery_soc_fraction,
            stamp_s=now_s,
        )
        return self._status

    def request_remote_estop(self, source: str) -> None:
        """Remote e-stop (operator command): latches at once, not only on the next update."""
        self._remote_estop_source = source
        self._latch_estop(f"remote e-stop by {source}")

    def reset_estop(self, *, estop_pressed: bool, by: str) -> tuple[bool, str]:
        """Explicit reset; refused while the physical button is still pressed."""
        if not self._estop_latched:
            return True, "e-stop was not latched"
        if estop_pressed:
            return False, "e-stop button is still pressed: release it first"
        self._estop_latched = False
        self._estop_reason = ""
        self._remote_estop_source = None
        return True, f"e-stop reset by {by}"

    # ---- output ---------------------------------------------------------------------------

    def command_velocity(self, twist: Twist2D) -> Twist2D:
        """Pass a velocity request through the limits; returns what was sent to the drive."""
        status = self._status
        if status is None or not status.motion_allowed or status.state is SafetyState.ESTOP:
            sent = Twist2D.zero()
        else:
            limit_mps = status.speed_limit_mps
            sent = Twist2D(
                max(-limit_mps, min(limit_mps, twist.linear_mps)),
                max(-self.config.max_angular_radps, min(self.config.max_angular_radps, twist.angular_radps)),
            )
        self._drive.command_velocity(sent)
        self._last_command_s = self._now_s
        return sent

    @property
    def status(self) -> SafetyStatus | None:
        return self._status

    @property
    def estop_latched(self) -> bool:
        return self._estop_latched

    # ---- internals ------------------------------------------------------------------------

    def _command_is_stale(self, now_s: float) -> bool:
        moving = not self._drive.commanded_velocity().is_zero
        return moving and now_s - self._last_command_s > self.config.watchdog_timeout_s

    def _latch_estop(self, reason: str) -> None:
        self._estop_latched = True
        self._estop_reason = reason
        self._drive.command_velocity(Twist2D.zero())

    def reserve_needed_soc_fraction(self, pose: Pose2D) -> float:
        distance_m = self._site_map.route_distance_m(pose, self._home_dock)
        if math.isinf(distance_m):
            return 1.0
        need = distance_m * self.config.energy_per_m_wh / self.config.battery_capacity_wh
        return self.config.reserve_floor_soc_fraction + need * self.config.reserve_safety_factor

    def _update_reserve(self, inputs: SafetyInputs) -> None:
        if self._reserve_reached:
            if inputs.battery_soc_fraction >= self.config.reserve_release_soc_fraction:
                self._reserve_reached = False
            return
        due = self._now_s - self._reserve_checked_s >= self.config.reserve_check_period_s
        if due and inputs.pose != self._reserve_pose:  # the route home only changes when it moves
            self._reserve_need_soc_fraction = self.reserve_needed_soc_fraction(inputs.pose)
            self._reserve_checked_s = self._now_s
            self._reserve_pose = inputs.pose
        if inputs.battery_soc_fraction <= self._reserve_need_soc_fraction:
            self._reserve_reached = True
