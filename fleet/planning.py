"""Who may take a task, what it costs in battery, and the allocation problem of one round.

Pure functions over the fleet's views, so that the rules read as rules and are tested alone:

* **capable**: the robot's factsheet offers the task's mission kind, its kind is among the
  task's robot kinds, and the zones agree — a confined robot takes only work in the zone it
  serves; work in a restricted zone (the isolation ward) goes only to robots stationed there;
* **available**: online, not e-stopped, not paused, not sent to charge;
* **battery-feasible**: travel to the task, the work, and the way from there to the nearest
  charger fit in the charge above the robot's reserve floor plus a margin.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from fleet.allocator import Problem, RobotSlot, TaskSlot
from fleet.config import FleetConfig
from fleet.estimates import DurationEstimates
from fleet.robots import RobotView
from fleet.site import SiteMap
from fleet.tasks import Task

#: share of a task's duration a robot is assumed to be moving (for its energy estimate)
MOVING_SHARE = 0.5


def capable(robot: RobotView, task: Task, config: FleetConfig) -> bool:
    request = task.request
    if robot.kind is None or not robot.offers(request.kind):
        return False
    if request.robot_kinds and robot.kind not in request.robot_kinds:
        return False
    if request.robot_id is not None and robot.robot_id != request.robot_id:
        return False
    if robot.confined and request.zone != robot.serves:
        return False
    return not (request.zone in config.restricted_zones and robot.serves != request.zone)


def robot_node(site: SiteMap, robot: RobotView) -> str:
    return site.nearest_node(robot.x_m, robot.y_m, robot.level)


def task_node(site: SiteMap, task: Task) -> str | None:
    place = task.request.place
    return place if place is not None and place in site.graph else None


def battery_feasible(site: SiteMap, robot: RobotView, task: Task, config: FleetConfig,
                     estimates: DurationEstimates, from_node: str | None = None) -> bool:
    start = from_node or robot_node(site, robot)
    place = task_node(site, task) or start
    travel_m = site.distance_m(start, place)
    work_m = estimates.duration_s(task.kind) * robot.max_speed_mps * MOVING_SHARE
    home_m = site.to_nearest_charger_m(place)
    need_wh = (travel_m + work_m + home_m) * robot.energy_per_m_wh
    if math.isinf(need_wh):
        return False
    left = robot.soc_fraction - need_wh / robot.battery_capacity_wh
    return left >= robot_reserve(robot) + config.battery_margin_soc


def robot_reserve(robot: RobotView) -> float:
    return robot.reserve_floor_soc


def unassignable_reason(task: Task, robots: Iterable[RobotView], config: FleetConfig) -> str | None:
    """Why no robot can take `task` now (None: some robot can, or will once it is free)."""
    request = task.request
    robots = list(robots)
    offering = [r for r in robots if r.kind is not None and r.offers(request.kind)]
    if not offering:
        return f"no robot offers mission kind {request.kind!r}"
    capable_robots = [r for r in robots if capable(r, task, config)]
    if not capable_robots:
        kinds = "/".join(request.robot_kinds) or "any"
        where = f" for zone {request.zone!r}" if request.zone else ""
        named = f" named {request.robot_id}" if request.robot_id else ""
        return f"no {kinds} robot{named} may take {request.kind}{where}"
    blocked = [(r.robot_id, r.unavailable_reason(config.work_threshold_soc)) for r in capable_robots]
    hard = {"offline", "e-stopped", "paused by an operator", "no factsheet yet"}
    if all(reason in hard for _, reason in blocked):
        if all(reason == "offline" for _, reason in blocked):
            return "every capable robot is offline (" + ", ".join(r for r, _ in blocked) + ")"
        return "every capable robot is unavailable (" + ", ".join(f"{r}: {why}" for r, why in blocked) + ")"
    return None


def build_problem(now_s: float, site: SiteMap, tasks: list[Task], robots: list[RobotView],
                  busy_until: dict[str, tuple[float, str]], config: FleetConfig,
                  estimates: DurationEstimates) -> Problem:
    """The allocation problem of one round. `busy_until`: robot -> (ready_s, node) for robots
    working on a task now."""
    slots: list[RobotSlot] = []
    for robot in robots:
        if robot.unavailable_reason(config.work_threshold_soc) is not None:
            continue
        ready_s, node = busy_until.get(robot.robot_id, (now_s, robot_node(site, robot)))
        slots.append(RobotSlot(robot.robot_id, ready_s, node, robot.max_speed_mps, robot.serves))
    by_id = {r.robot_id: r for r in robots}
    task_slots: list[TaskSlot] = []
    eligible: dict[str, list[str]] = {}
    for order, task in enumerate(tasks):
        place = task_node(site, task)
        task_slots.append(TaskSlot(task.task_id, task.request.priority, task.request.earliest_start_s,
                                   task.request.deadline_s, place, None, estimates.duration_s(task.kind),
                                   task.request.zone, order))
        ok = [s.robot_id for s in slots if capable(by_id[s.robot_id], task, config)
              and battery_feasible(site, by_id[s.robot_id], task, config, estimates, s.at_node)]
        # a robot that failed this task is asked again only when no other robot can take it
        fresh = [r for r in ok if r not in task.failed_on]
        eligible[task.task_id] = fresh or ok
    return Problem(now_s, slots, task_slots, eligible, site.distance_m)
