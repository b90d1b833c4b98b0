"""Allocation: which available robot does which waiting task, at the least estimated cost.

The service builds a `Problem` each allocation round — the robots that can take work now or once
their current task ends, and the tasks due — and an `Allocator` returns a `Plan`: for each robot,
the tasks it will do, in order. Cost of a task on a robot = the time it can start there (the robot's
ready time + travel along the route graph from where the robot will be) plus lateness against the
deadline, weighted by priority, minus a small affinity for the robot's own ward. Eligibility (kind
offered, robot kind, confinement, battery) is decided by the service before the allocator runs:
`Problem.eligible` lists, per task, the robots that may take it; an allocator never breaks it.

`GreedyAuction` (the default: deterministic, O(tasks × robots) per round) auctions tasks in
priority order, each to the robot that bids the least. `fleet.solver.OrToolsAllocator` solves the
same problem as a vehicle-routing problem with time windows (OR-Tools); bench/fleet_alloc.py
measures both on the same problems.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

#: seconds of lateness per priority point that equal one second of delay (a priority-70 task late
#: by a minute costs more than a priority-30 one)
LATENESS_WEIGHT_PER_PRIORITY = 0.05
#: a robot doing work in the ward it is stationed in bids this much lower (s): it knows the ward,
#: and the ward keeps its robot
AFFINITY_S = 120.0


@dataclass(frozen=True, slots=True)
class RobotSlot:
    robot_id: str
    #: epoch s at which the robot can start something new (now, or when its current task ends)
    ready_s: float
    #: the route node it will be at then
    at_node: str
    speed_mps: float
    serves: str | None = None


@dataclass(frozen=True, slots=True)
class TaskSlot:
    task_id: str
    priority: int
    earliest_start_s: float
    deadline_s: float | None
    #: where the work starts (route node), None: unknown (no travel counted)
    place: str | None
    #: where the robot is when the work ends (for the next task's travel); None: back at `place`
    end_place: str | None
    duration_s: float
    zone: str | None = None
    #: a stable tie-break (submission order), so plans are reproducible
    order: int = 0


@dataclass
class Problem:
    now_s: float
    robots: list[RobotSlot]
    tasks: list[TaskSlot]
    #: task_id -> robot ids that may take it (sorted)
    eligible: dict[str, list[str]]
    #: route distance in metres between two nodes (inf if unreachable)
    distance_m: Callable[[str, str], float]


@dataclass
class Plan:
    #: robot_id -> task ids in the order the robot should do them
    queues: dict[str, list[str]] = field(default_factory=dict)
    #: task_id -> estimated start (epoch s) on its robot
    start_s: dict[str, float] = field(default_factory=dict)
    #: tasks no eligible robot could take in this round
    unplanned: list[str] = field(default_factory=list)

    def robot_of(self) -> dict[str, str]:
        return {t: r for r, ts in self.queues.items() for t in ts}


class Allocator(Protocol):
    name: str

    def allocate(self, problem: Problem) -> Plan: ...


def travel_s(problem: Problem, robot: RobotSlot, from_node: str, task: TaskSlot) -> float:
    if task.place is None or from_node == task.place:
        return 0.0
    d = problem.distance_m(from_node, task.place)
    return math.inf if math.isinf(d) else d / robot.speed_mps


def bid_cost(task: TaskSlot, robot: RobotSlot, start_s: float, now_s: float) -> float:
    """What it costs to start `task` at `start_s` on `robot` (lower is better)."""
    finish_s = start_s + task.duration_s
    late_s = 0.0 if task.deadline_s is None else max(0.0, finish_s - task.deadline_s)
    affinity = AFFINITY_S if task.zone is not None and task.zone == robot.serves else 0.0
    return (start_s - now_s) + late_s * (1.0 + LATENESS_WEIGHT_PER_PRIORITY * task.priority) - affinity


def plan_cost(problem: Problem, plan: Plan) -> float:
    """The objective both allocators are measured on: the sum of bid costs of the plan as laid out
    (each robot's tasks in order), plus a large penalty per task left unplanned."""
    robots = {r.robot_id: r for r in problem.robots}
    tasks = {t.task_id: t for t in problem.tasks}
    total = 0.0
    for robot_id, queue in plan.queues.items():
        robot = robots[robot_id]
        at, clock = robot.at_node, robot.ready_s
        for task_id in queue:
            task = tasks[task_id]
            start = max(clock + travel_s(problem, robot, at, task), task.earliest_start_s)
            total += bid_cost(task, robot, start, problem.now_s)
            clock = start + task.duration_s
            at = task.end_place or task.place or at
    return total + 1e6 * len(plan.unplanned)


class GreedyAuction:
    """Tasks in priority order (then deadline, then submission); each goes to the eligible robot
    with the lowest bid given what it already won this round."""

    name = "greedy"

    def allocate(self, problem: Problem) -> Plan:
        robots = {r.robot_id: r for r in problem.robots}
        clock = {r.robot_id: r.ready_s for r in problem.robots}
        at = {r.robot_id: r.at_node for r in problem.robots}
        plan = Plan(queues={r.robot_id: [] for r in problem.robots})
        order = sorted(problem.tasks, key=lambda t: (-t.priority, t.deadline_s if t.deadline_s is not None
                                                      else math.inf, t.earliest_start_s, t.order, t.task_id))
        for task in order:
            best: tuple[float, str, float] | None = None
            for robot_id in problem.eligible.get(task.task_id, ()):
                robot = robots.get(robot_id)
                if robot is None:
                    continue
                travel = travel_s(problem, robot, at[robot_id], task)
                if math.isinf(travel):
                    continue
                start = max(clock[robot_id] + travel, task.earliest_start_s)
                cost = bid_cost(task, robot, start, problem.now_s)
                if best is None or (cost, robot_id) < (best[0], best[1]):
                    best = (cost, robot_id, start)
            if best is None:
                plan.unplanned.append(task.task_id)
                continue
            _, robot_id, start = best
            plan.queues[robot_id].append(task.task_id)
            plan.start_s[task.task_id] = start
            clock[robot_id] = start + task.duration_s
            at[robot_id] = task.end_place or task.place or at[robot_id]
        return plan
