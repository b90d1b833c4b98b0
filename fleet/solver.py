"""`OrToolsAllocator`: the allocation round as a vehicle-routing problem with time windows.

Robots are vehicles, tasks are nodes, and the objective is `fleet.allocator.plan_cost` — the same
one the greedy auction is measured on — expressed in integer units OR-Tools' routing solver
(pywrapcp) can hold:

- Every vehicle starts at its robot's `at_node` with its time fixed at `ready_s`, and ends nowhere
  (an open end: all vehicles end at one dummy node that costs nothing to reach).
- The time from task i to task j on a robot is i's `duration_s` plus the route travel from where i
  leaves the robot (`end_place`, else `place`) to j's `place`, at that robot's speed; a node's
  cumul is its start time. `earliest_start_s` is a hard lower bound (waiting is slack).
- `plan_cost` sums, per planned task, ``(start - now) + late * (1 + w * priority) - affinity``. The
  start term is a soft upper bound at 0 on a twin time dimension ("start"), the lateness term a
  soft upper bound at the deadline on the "time" dimension. Both dimensions have the same transits
  and lower bounds and both costs only grow with time, so both place every task at its earliest
  feasible start — the schedule plan_cost lays out — and need no constraint tying them. Affinity
  is an arc cost per vehicle (a planned task outside the robot's ward costs AFFINITY_S more, the
  same as its own ward's costing AFFINITY_S less, up to a constant).
- Each task is a disjunction with plan_cost's penalty for leaving it unplanned, so a task no robot
  can reach is dropped into `Plan.unplanned` instead of making the model infeasible.
- `Problem.eligible` restricts each node to its robots (a confined robot never leaves its ward):
  SetAllowedVehiclesForIndex, or the node's vehicle variable where ortools' wrapper of it fails.
- Everything is scaled by `_SCALE` so that the priority weight (0.05 per point) is an integer
  coefficient; times are whole seconds, rounded.

The search starts from the greedy auction's plan (ReadAssignmentFromRoutes) and the allocator
returns whichever of the two is cheaper on plan_cost evaluated in floats, so it never does worse
than greedy even where rounding to seconds misleads the solver.

Determinism: OR-Tools' routing local search runs on one thread; with the default greedy descent
it stops at a local optimum or after `solution_limit` improvements, both of which depend only on
the input. `time_limit_s` is a wall-clock safety bound: when it, rather than the search, ends the
run, the plan depends on how fast the machine was (`OrToolsAllocator.last_stats` says which).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from fleet.allocator import (
    AFFINITY_S,
    LATENESS_WEIGHT_PER_PRIORITY,
    GreedyAuction,
    Plan,
    Problem,
    RobotSlot,
    TaskSlot,
    plan_cost,
    travel_s,
)

#: objective units per second: 1 / LATENESS_WEIGHT_PER_PRIORITY makes the lateness weight
#: (1 + 0.05 * priority) the integer (20 + priority)
_SCALE = round(1.0 / LATENESS_WEIGHT_PER_PRIORITY)
#: plan_cost's charge for a task left unplanned (s)
UNPLANNED_COST_S = 1e6

#: search budget by round size: a round of a few dozen tasks must not hold up the service's tick
SMALL_ROUND_TASKS = 50
SMALL_ROUND_TIME_LIMIT_S = 0.5
LARGE_ROUND_TIME_LIMIT_S = 1.0

_METAHEURISTICS = {
    # greedy descent stops by itself at a local optimum: deterministic, and quick from a greedy start
    "greedy_descent": routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT,
    # guided local search keeps searching until a limit: better plans, but only solution_limit
    # keeps it deterministic
    "guided_local_search": routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH,
    "simulated_annealing": routing_enums_pb2.LocalSearchMetaheuristic.SIMULATED_ANNEALING,
    "tabu_search": routing_enums_pb2.LocalSearchMetaheuristic.TABU_SEARCH,
}


@dataclass
class SolveStats:
    """What the last `allocate` did (for benchmarks and logs)."""

    tasks: int = 0
    robots: int = 0
    build_s: float = 0.0
    solve_s: float = 0.0
    #: the routing solver's status name (e.g. ROUTING_SUCCESS, ROUTING_PARTIAL_SUCCESS_LOCAL_OPTIMUM_NOT_REACHED)
    status: str = ""
    #: the wall-clock limit, not the search, ended the run (the plan may vary between machines)
    hit_time_limit: bool = False
    greedy_cost: float = 0.0
    solver_cost: float = 0.0
    #: "solver" or "greedy": which plan was returned
    chosen: str = ""


@dataclass
class _Model:
    """The index layout: nodes 0..T-1 are tasks, then one start node per distinct start route node,
    then the shared open end."""

    tasks: list[TaskSlot]
    robots: list[RobotSlot]
    origin_s: float
    node_of_task: dict[str, int] = field(default_factory=dict)
    #: tasks with no eligible robot in this round: never given to the solver
    unplannable: list[str] = field(default_factory=list)


class OrToolsAllocator:
    """Allocates a round with OR-Tools' routing solver, starting from the greedy auction's plan.

    ``time_limit_s``: wall-clock bound on the search; None picks SMALL_ROUND_TIME_LIMIT_S (0.5 s)
    for rounds of up to SMALL_ROUND_TASKS (50) tasks and LARGE_ROUND_TIME_LIMIT_S (1 s) above.
    ``solution_limit``: bound on improving solutions (a budget independent of machine speed).
    ``metaheuristic``: one of greedy_descent (default), guided_local_search, simulated_annealing,
    tabu_search."""

    name = "ortools"

    def __init__(self, *, time_limit_s: float | None = None, solution_limit: int | None = None,
                 metaheuristic: str = "greedy_descent") -> None:
        if metaheuristic not in _METAHEURISTICS:
            raise ValueError(f"unknown metaheuristic {metaheuristic!r}; known: {', '.join(_METAHEURISTICS)}")
        if time_limit_s is not None and time_limit_s <= 0:
            raise ValueError(f"time_limit_s must be positive, got {time_limit_s}")
        self.time_limit_s = time_limit_s
        self.solution_limit = solution_limit
        self.metaheuristic = metaheuristic
        self._greedy = GreedyAuction()
        self.last_stats = SolveStats()

    def time_limit_for(self, n_tasks: int) -> float:
        """The search's wall-clock bound for a round of `n_tasks` tasks (s)."""
        if self.time_limit_s is not None:
            return self.time_limit_s
        return SMALL_ROUND_TIME_LIMIT_S if n_tasks <= SMALL_ROUND_TASKS else LARGE_ROUND_TIME_LIMIT_S

    def allocate(self, problem: Problem) -> Plan:
        greedy = self._greedy.allocate(problem)
        stats = SolveStats(tasks=len(problem.tasks), robots=len(problem.robots),
                           greedy_cost=plan_cost(problem, greedy), chosen="greedy")
        self.last_stats = stats
        started = time.perf_counter()
        built = _build(problem)
        if built is None:  # nothing a robot could do: greedy's plan (all unplanned, or empty) is it
            stats.solver_cost = stats.greedy_cost
            return greedy
        model, manager, routing = built
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.local_search_metaheuristic = _METAHEURISTICS[self.metaheuristic]
        limit_s = self.time_limit_for(len(model.tasks))
        params.time_limit.FromMilliseconds(max(1, round(limit_s * 1000)))
        if self.solution_limit is not None:
            params.solution_limit = self.solution_limit
        # the search must not open threads of its own (determinism; the service has its own loop)
        params.sat_parameters.num_workers = 1
        routing.CloseModelWithParameters(params)
        routes = [[manager.NodeToIndex(model.node_of_task[t]) for t in greedy.queues.get(r.robot_id, [])]
                  for r in model.robots]
        initial = routing.ReadAssignmentFromRoutes(routes, True)
        stats.build_s = time.perf_counter() - started
        started = time.perf_counter()
        solution = routing.SolveFromAssignmentWithParameters(initial, params) if initial is not None else None
        stats.solve_s = time.perf_counter() - started
        stats.status = _status_name(routing.status())
        # the status says so only sometimes (a limit reached between two improvements reads as
        # success): the elapsed time is the reliable sign
        stats.hit_time_limit = "OPTIMUM_NOT_REACHED" in stats.status or stats.solve_s >= 0.98 * limit_s
        if solution is None:
            # the greedy plan did not fit the model (it always should): say so in stats, keep greedy
            stats.solver_cost = math.inf
            return greedy
        plan = _plan_from(problem, model, manager, routing, solution)
        stats.solver_cost = plan_cost(problem, plan)
        if stats.solver_cost < stats.greedy_cost:
            stats.chosen = "solver"
            return plan
        return greedy


# ---- the model ------------------------------------------------------------------------------


def _build(problem: Problem) -> tuple[_Model, pywrapcp.RoutingIndexManager, pywrapcp.RoutingModel] | None:
    # sorted so that the same problem in another list order is the same model (determinism)
    robots = sorted(problem.robots, key=lambda r: r.robot_id)
    vehicle_of = {r.robot_id: v for v, r in enumerate(robots)}
    tasks: list[TaskSlot] = []
    unplannable: list[str] = []
    for task in sorted(problem.tasks, key=lambda t: (t.order, t.task_id)):
        if any(r in vehicle_of for r in problem.eligible.get(task.task_id, ())):
            tasks.append(task)
        else:
            unplannable.append(task.task_id)
    if not robots or not tasks:
        return None
    origin_s = min([problem.now_s, *(r.ready_s for r in robots)])
    model = _Model(tasks, robots, origin_s, unplannable=unplannable)

    n_tasks = len(tasks)
    start_nodes = sorted({r.at_node for r in robots})
    start_node_of = {name: n_tasks + i for i, name in enumerate(start_nodes)}
    end_node = n_tasks + len(start_nodes)
    n_nodes = end_node + 1
    model.node_of_task = {t.task_id: i for i, t in enumerate(tasks)}

    # route distances between the places involved, once per round: the site caches Dijkstra per
    # source, and this keeps the per-arc work in numpy
    places = sorted({r.at_node for r in robots} | {t.place for t in tasks if t.place is not None}
                    | {t.end_place for t in tasks if t.end_place is not None})
    place_index = {p: i for i, p in enumerate(places)}
    dist = np.array([[problem.distance_m(a, b) for b in places] for a in places], dtype=float)
    # where the robot is when it arrives at a node (-1: unknown place, no travel counted) and
    # where it is when it leaves; a task with neither place nor end_place leaves it where it was,
    # which depends on the route: counted as no travel (an optimistic estimate; plan_cost, which
    # judges the result, lays it out exactly)
    arrive = np.full(n_nodes, -1, dtype=int)
    leave = np.full(n_nodes, -1, dtype=int)
    service_s = np.zeros(n_nodes, dtype=float)
    for i, t in enumerate(tasks):
        if t.place is not None:
            arrive[i] = place_index[t.place]
        out = t.end_place or t.place
        if out is not None:
            leave[i] = place_index[out]
        service_s[i] = t.duration_s
    for name, node in start_node_of.items():
        arrive[node] = leave[node] = place_index[name]
    travel_m = np.zeros((n_nodes, n_nodes), dtype=float)
    known = (leave[:, None] >= 0) & (arrive[None, :] >= 0)
    rows, cols = np.nonzero(known)
    travel_m[rows, cols] = dist[leave[rows], arrive[cols]]
    travel_m[:, end_node] = 0.0  # the open end: reaching it costs nothing
    travel_m[end_node, :] = 0.0
    np.fill_diagonal(travel_m, 0.0)

    # a bound no feasible schedule exceeds: the latest of every start and earliest start, plus
    # every task's duration and its longest finite approach
    finite = np.where(np.isfinite(travel_m), travel_m, 0.0)
    slowest = min(r.speed_mps for r in robots)
    latest = max([*(r.ready_s for r in robots), *(t.earliest_start_s for t in tasks)]) - origin_s
    # (+ a second per node for rounding each transit to whole seconds)
    horizon = math.ceil(latest + service_s.sum() + finite.max(axis=0).sum() / slowest) + n_nodes + 1
    unreachable = horizon + 1  # a transit that overflows the dimension: the arc is infeasible

    manager = pywrapcp.RoutingIndexManager(n_nodes, len(robots), [start_node_of[r.at_node] for r in robots],
                                           [end_node] * len(robots))
    routing = pywrapcp.RoutingModel(manager)

    # transit = service at the from-node + travel at the robot's speed; one matrix per distinct speed
    transit_by_speed: dict[float, int] = {}
    for speed in sorted({r.speed_mps for r in robots}):
        seconds = np.rint(service_s[:, None] + travel_m / speed)
        seconds[:, end_node] = np.rint(service_s)
        matrix = np.where(np.isfinite(seconds), seconds, unreachable).astype(np.int64)
        transit_by_speed[speed] = routing.RegisterTransitMatrix(matrix.tolist())
    transits = [transit_by_speed[r.speed_mps] for r in robots]
    routing.AddDimensionWithVehicleTransits(transits, horizon, horizon, False, "time")
    routing.AddDimensionWithVehicleTransits(transits, horizon, horizon, False, "start")
    time_dim = routing.GetDimensionOrDie("time")
    start_dim = routing.GetDimensionOrDie("start")

    # affinity as an arc cost charged on leaving a task: AFFINITY_S for a zoned task outside the
    # robot's ward (plan_cost's "minus AFFINITY_S inside it", shifted by a constant per zoned task
    # to stay non-negative; the disjunction penalty below carries the same shift)
    cost_by_ward: dict[str | None, int] = {}
    for ward in sorted({r.serves for r in robots}, key=lambda w: (w is not None, w or "")):
        vector = [_SCALE * round(AFFINITY_S) if i < n_tasks and tasks[i].zone is not None
                  and tasks[i].zone != ward else 0 for i in range(n_nodes)]
        cost_by_ward[ward] = routing.RegisterUnaryTransitVector(vector)
    for v, r in enumerate(robots):
        routing.SetArcCostEvaluatorOfVehicle(cost_by_ward[r.serves], v)
        for dim in (time_dim, start_dim):
            ready = round(r.ready_s - origin_s)
            dim.CumulVar(routing.Start(v)).SetRange(ready, ready)

    now_offset = problem.now_s - origin_s  # the start dimension counts from origin, plan_cost from now
    for i, task in enumerate(tasks):
        index = manager.NodeToIndex(i)
        earliest = max(0, round(task.earliest_start_s - origin_s))
        _allow(routing, index, sorted({vehicle_of[r] for r in problem.eligible[task.task_id] if r in vehicle_of}))
        constant = now_offset  # what the model charges this task beyond plan_cost, in seconds
        for dim in (time_dim, start_dim):
            dim.CumulVar(index).SetMin(earliest)
        start_dim.SetCumulVarSoftUpperBound(index, 0, _SCALE)
        if task.deadline_s is not None:
            # late when start + duration > deadline, i.e. start > deadline - duration
            bound_s = task.deadline_s - task.duration_s - origin_s
            weight = _SCALE + round(_SCALE * LATENESS_WEIGHT_PER_PRIORITY * task.priority)
            time_dim.SetCumulVarSoftUpperBound(index, max(0, round(bound_s)), weight)
            if bound_s < 0:  # already past: a bound below 0 is charged from 0, the rest is constant
                constant -= -bound_s * weight / _SCALE
        if task.zone is not None:
            constant += AFFINITY_S
        # dropped costs what plan_cost charges an unplanned task, plus what the model would have
        # charged beyond plan_cost had it been planned: the model's objective is _SCALE x
        # plan_cost + a constant, so the solver weighs dropping exactly as plan_cost does
        penalty = _SCALE * (UNPLANNED_COST_S + constant)
        routing.AddDisjunction([index], max(1, round(penalty)))
    return model, manager, routing


def _allow(routing: pywrapcp.RoutingModel, index: int, vehicles: list[int]) -> None:
    """Only these vehicles may do the task at `index` (it may still be dropped: its disjunction)."""
    try:
        routing.SetAllowedVehiclesForIndex(vehicles, index)
    except TypeError:
        # ortools 9.15's SWIG wrapper takes an absl::Span<const int> that no Python value converts
        # to; restricting the node's vehicle variable is the same constraint (-1: not performed),
        # and the routing search checks it in its vehicle-variable filter as it does allowed vehicles
        routing.VehicleVar(index).SetValues([-1, *vehicles])


def _plan_from(problem: Problem, model: _Model, manager: pywrapcp.RoutingIndexManager,
               routing: pywrapcp.RoutingModel, solution: pywrapcp.Assignment) -> Plan:
    plan = Plan(queues={r.robot_id: [] for r in problem.robots})
    planned: set[str] = set()
    for v, robot in enumerate(model.robots):
        index = solution.Value(routing.NextVar(routing.Start(v)))
        while not routing.IsEnd(index):
            task_id = model.tasks[manager.IndexToNode(index)].task_id
            plan.queues[robot.robot_id].append(task_id)
            planned.add(task_id)
            index = solution.Value(routing.NextVar(index))
    # start times laid out in floats, as plan_cost lays them out (the model's are whole seconds)
    plan.start_s = layout_starts(problem, plan.queues)
    plan.unplanned = model.unplannable + [t.task_id for t in model.tasks if t.task_id not in planned]
    return plan


def layout_starts(problem: Problem, queues: dict[str, list[str]]) -> dict[str, float]:
    """Each task's start when every robot does its queue in order (plan_cost's schedule)."""
    robots = {r.robot_id: r for r in problem.robots}
    tasks = {t.task_id: t for t in problem.tasks}
    starts: dict[str, float] = {}
    for robot_id, queue in queues.items():
        robot = robots[robot_id]
        at, clock = robot.at_node, robot.ready_s
        for task_id in queue:
            task = tasks[task_id]
            start = max(clock + travel_s(problem, robot, at, task), task.earliest_start_s)
            starts[task_id] = start
            clock = start + task.duration_s
            at = task.end_place or task.place or at
    return starts


def _status_name(status: int) -> str:
    try:
        return str(routing_enums_pb2.RoutingSearchStatus.Value.Name(status))
    except ValueError:
        return str(status)
