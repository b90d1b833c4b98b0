"""The building's fire alarm, as the fleet handles it.

Raised by a fire that a robot confirms (an `alerts` message, category fire, `data.confirmed`) or by
the building's fire panel (`FleetService.fire_panel`, the HTTP API); cleared only by the fire panel
(the fire team). While it is on, every online robot is told to park at its nearest free safe spot
(a dock or parking place, by route length, robots in id order so that the assignment is
reproducible) and the fleet dispatches nothing; each robot keeps its interrupted mission and
resumes it when the alarm clears (the robot re-queues it with its progress).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleet.robots import RobotView
from fleet.site import SiteMap
from telemetry.envelope import iso_timestamp


@dataclass
class AlarmEpisode:
    started_s: float
    reason: str
    ended_s: float | None = None
    robots: int = 0
    parked: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"from": iso_timestamp(self.started_s), "reason": self.reason}
        if self.ended_s is not None:
            slowest = max(self.parked.values(), default=self.ended_s) - self.started_s
            out.update({"to": iso_timestamp(self.ended_s), "robots": self.robots, "parked": len(self.parked),
                        "slowest_to_park_s": round(slowest, 1)})
        return out


class BuildingAlarm:
    def __init__(self) -> None:
        self.active = False
        self.history: list[AlarmEpisode] = []

    @property
    def current(self) -> AlarmEpisode | None:
        return self.history[-1] if self.active and self.history else None

    def raise_alarm(self, reason: str, now_s: float, robots: int) -> bool:
        """True if this started an alarm (False: it was already on)."""
        if self.active:
            return False
        self.active = True
        self.history.append(AlarmEpisode(now_s, reason, robots=robots))
        return True

    def clear(self, now_s: float) -> bool:
        if not self.active:
            return False
        self.active = False
        self.history[-1].ended_s = now_s
        return True

    def on_parked(self, robot_id: str, now_s: float) -> None:
        episode = self.current
        if episode is not None:
            episode.parked.setdefault(robot_id, now_s)

    def summary(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.history]


def is_confirmed_fire(alert_body: dict[str, Any]) -> bool:
    return alert_body.get("category") == "fire" and bool((alert_body.get("data") or {}).get("confirmed"))


def park_spots(site: SiteMap, robots: list[RobotView]) -> dict[str, str]:
    """Nearest free safe spot per robot, by route length, robots in id order — on the robot's own
    floor: there are no lift rides during a fire alarm (a floor without a spot falls back to all)."""
    spots = [p for p in site.places_of_kind("dock", "parking")]
    taken: set[str] = set()
    out: dict[str, str] = {}
    for robot in sorted(robots, key=lambda r: r.robot_id):
        floor = [p.name for p in spots if p.level == robot.level] or [p.name for p in spots]
        free = [s for s in floor if s not in taken] or floor
        best = min(free, key=lambda s: (site.distance_from_pose_m(robot.x_m, robot.y_m, robot.level, s), s))
        taken.add(best)
        out[robot.robot_id] = best
    return out
