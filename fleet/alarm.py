"""The building's fire alarm, as the fleet handles it.

Raised by a fire that a robot confirms (an `alerts` message, category fire, `data.confirmed`) or by
the building's fire panel (`FleetService.fire_panel`, the HTTP API); cleared only by the fire panel
(the fire team). While it is on, every online robot is told to park at a free safe spot — its own
dock when that is about as near, else the nearest free dock or parking place by route length,
robots in id order so that the assignment is reproducible — and the fleet dispatches nothing; each
robot keeps its interrupted mission and resumes it when the alarm clears (the robot re-queues it
with its progress), and one that had nothing to resume drives back to its own dock.
"""

from __future__ import annotations

import math
from collections.abc import Collection
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
    spots: dict[str, str] = field(default_factory=dict)  # robot -> the spot it was sent to

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


#: a robot's own dock is its spot while the alarm is on when it is no more than this much further
#: than the nearest free one: parked at home, it is home once the alarm clears — parked on another
#: robot's dock, it keeps that one's owner waiting outside at the end of its next mission
HOME_DOCK_SLACK_M = 15.0


def park_spots(site: SiteMap, robots: list[RobotView], *, taken: Collection[str] = ()) -> dict[str, str]:
    """A free safe spot per robot on its own floor — there are no lift rides during a fire alarm (a
    floor without a spot falls back to all) — and, where there is one, on its side of the fire
    doors, which the alarm shuts (distances then go round them). First every robot whose home dock is on its floor and
    at most `HOME_DOCK_SLACK_M` further than its nearest spot gets its home dock; then the others,
    in id order, the nearest free spot by route length (reproducible). `taken`: spots robots not
    in `robots` were sent to already."""
    spots = [p for p in site.places_of_kind("dock", "parking")]
    taken = set(taken)
    out: dict[str, str] = {}

    def floor_of(robot: RobotView) -> list[str]:
        floor = [p.name for p in spots if p.level == robot.level]
        inside = [s for s in floor if math.isfinite(site.within_fire_doors_m(robot.x_m, robot.y_m, robot.level, s))]
        return inside or floor or [p.name for p in spots]

    def distance_m(robot: RobotView, spot: str) -> float:
        inside = site.within_fire_doors_m(robot.x_m, robot.y_m, robot.level, spot)
        return inside if math.isfinite(inside) else site.distance_from_pose_m(robot.x_m, robot.y_m, robot.level, spot)

    ordered = sorted(robots, key=lambda r: r.robot_id)
    for robot in ordered:
        floor = floor_of(robot)
        home = robot.home_dock
        if home is None or home not in floor or home in taken:
            continue
        if distance_m(robot, home) <= min(distance_m(robot, s) for s in floor) + HOME_DOCK_SLACK_M:
            taken.add(home)
            out[robot.robot_id] = home
    for robot in ordered:
        if robot.robot_id in out:
            continue
        floor = floor_of(robot)
        free = [s for s in floor if s not in taken] or floor
        best = min(free, key=lambda s: (distance_m(robot, s), s))
        taken.add(best)
        out[robot.robot_id] = best
    return out
