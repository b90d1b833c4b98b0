"""Charging as the fleet plans it: chargers are shared, and a robot is never given work below its
threshold.

A free robot (no task on it, no mission of its own) whose charge is below the work threshold — or
whose next planned task would not leave it enough to reach a charger — is sent to a charger: its
home dock when free, else the nearest free one by route. It takes work again when that charging
mission ends (the robot's `return_to_dock` holds until `resume_soc`). A charger holds one robot at
a time; a lost robot's charger is freed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from fleet.config import FleetConfig
from fleet.robots import RobotView
from fleet.site import SiteMap

#: a robot this close to a charger stands on it
ON_DOCK_M = 1.0


class ChargePlanner:
    def __init__(self, site: SiteMap, config: FleetConfig) -> None:
        self._site = site
        self._config = config
        #: charging mission id -> (robot, charger)
        self._missions: dict[str, tuple[str, str]] = {}
        self._count = 0
        self.sent = 0

    def owns(self, mission_id: str) -> bool:
        return mission_id in self._missions

    def missions(self) -> list[str]:
        return sorted(self._missions)

    def occupied(self) -> dict[str, str]:
        return {charger: robot for robot, charger in self._missions.values()}

    def charging(self, robot_id: str) -> bool:
        return any(r == robot_id for r, _ in self._missions.values())

    def needs_charge(self, robot: RobotView) -> bool:
        return robot.soc_fraction < self._config.work_threshold_soc and not self.charging(robot.robot_id)

    def choose_charger(self, robot: RobotView, others: Iterable[RobotView] = ()) -> str | None:
        """Its home dock when free, else the nearest free charger. Taken: booked for a charging
        mission, or another robot stands on it (`others`: a robot that finished charging, or was
        left there, keeps the dock until it drives off — the one sent there would wait for it)."""
        chargers = [c for c in self._site.chargers() if c.name in self._site.graph]
        taken = set(self.occupied())
        for other in others:
            if other.robot_id == robot.robot_id or not other.online:
                continue
            taken |= {c.name for c in chargers if c.level == other.level
                      and math.hypot(c.x_m - other.x_m, c.y_m - other.y_m) <= ON_DOCK_M}
        free = [c.name for c in chargers if c.name not in taken]
        if robot.home_dock in free:
            return robot.home_dock
        if not free:
            return None
        return min(free, key=lambda c: (self._site.distance_from_pose_m(robot.x_m, robot.y_m, robot.level, c), c))

    def start(self, robot: RobotView, charger: str, *, counted: bool = True) -> str:
        """Book `charger` for `robot`; returns the charging mission's id. `counted`: a charge
        (`sent`), not a robot only sent back to its dock."""
        self._count += 1
        if counted:
            self.sent += 1
        mission_id = f"{'charge' if counted else 'dock'}-{robot.robot_id}-{self._count:04d}"
        self._missions[mission_id] = (robot.robot_id, charger)
        robot.charging_planned = True
        return mission_id

    def finished(self, robot: RobotView, mission_id: str) -> None:
        self._missions.pop(mission_id, None)
        robot.charging_planned = self.charging(robot.robot_id)

    def robot_lost(self, robot: RobotView) -> None:
        for mission_id in [m for m, (r, _) in self._missions.items() if r == robot.robot_id]:
            del self._missions[mission_id]
        robot.charging_planned = False

    def snapshot(self) -> dict[str, Any]:
        return {"count": self._count, "sent": self.sent,
                "missions": {m: list(rc) for m, rc in sorted(self._missions.items())}}

    def restore(self, state: dict[str, Any]) -> None:
        self._count = int(state.get("count", 0))
        self.sent = int(state.get("sent", 0))
        self._missions = {str(m): (str(rc[0]), str(rc[1])) for m, rc in state.get("missions", {}).items()}

    def mark_views(self, robots: list[RobotView]) -> None:
        """After a restart the views are new: flag the robots whose charging is still booked."""
        for robot in robots:
            robot.charging_planned = self.charging(robot.robot_id)
