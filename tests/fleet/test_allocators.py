"""Both allocators (greedy auction, OR-Tools) against the rules a plan must keep, on a small site.

Each rule test runs against every allocator; the last tests compare them: OR-Tools is never
worse than greedy on the shared objective (plan_cost), and finds an order greedy misses."""

from __future__ import annotations

import random

import pytest

from fleet.allocator import Allocator, GreedyAuction, Plan, Problem, RobotSlot, TaskSlot, plan_cost
from fleet.site import MAP_FORMAT, SiteMap, site_from_json
from fleet.solver import OrToolsAllocator

NOW = 1_000_000.0


def corridor_site() -> SiteMap:
    """Two wards off a corridor (ward-a on the left, ward-b on the right), a dock by each, a
    pharmacy in the middle, and a room no route reaches."""
    spots = [("dock-a", 0, 0), ("a-1", 0, 10), ("a-2", 5, 10), ("a-3", 10, 10), ("pharmacy", 50, 0),
             ("dock-b", 100, 0), ("b-1", 100, 10), ("b-2", 95, 10), ("b-3", 90, 10), ("island", 50, 50)]
    ward = {"a": "ward-a", "b": "ward-b"}
    nodes = [{"name": n, "x_m": x, "y_m": y, "level": 0} for n, x, y in spots] + [
        {"name": "hall-a", "x_m": 5, "y_m": 0, "level": 0}, {"name": "hall-p", "x_m": 50, "y_m": 1, "level": 0},
        {"name": "hall-b", "x_m": 95, "y_m": 0, "level": 0}]
    edges = [{"from": "hall-a", "to": "hall-p", "length_m": 45.0}, {"from": "hall-p", "to": "hall-b", "length_m": 45.0},
             {"from": "dock-a", "to": "hall-a", "length_m": 5.0}, {"from": "dock-b", "to": "hall-b", "length_m": 5.0},
             {"from": "pharmacy", "to": "hall-p", "length_m": 1.0}]
    for name, x, y in spots:  # each bed off its ward's hall ("island" stays unconnected)
        if name[:2] in ("a-", "b-"):
            hall_x = 5 if name[0] == "a" else 95
            edges.append({"from": name, "to": f"hall-{name[0]}", "length_m": abs(x - hall_x) + y})
    places = [{"name": n, "kind": "bed" if n[1] == "-" else ("dock" if n.startswith("dock") else "room"),
               "x_m": x, "y_m": y, "level": 0, "zone": ward.get(n[0]) if n[1] == "-" else None,
               "ward": ward.get(n[0]) if n[1] == "-" else None, "bed_id": None} for n, x, y in spots]
    return site_from_json({"format": MAP_FORMAT, "name": "corridor", "places": places,
                           "routes": {"nodes": nodes, "edges": edges}}, "corridor")


SITE = corridor_site()
BEDS = {"ward-a": ["a-1", "a-2", "a-3"], "ward-b": ["b-1", "b-2", "b-3"]}


def task(task_id: str, place: str | None, *, priority: int = 50, earliest: float = NOW,
         deadline: float | None = None, duration: float = 60.0, zone: str | None = None, order: int = 0,
         end_place: str | None = None) -> TaskSlot:
    return TaskSlot(task_id, priority, earliest, deadline, place, end_place, duration, zone, order)


def problem(robots: list[RobotSlot], tasks: list[TaskSlot], eligible: dict[str, list[str]] | None = None) -> Problem:
    everyone = sorted(r.robot_id for r in robots)
    return Problem(NOW, robots, tasks, eligible if eligible is not None else {t.task_id: everyone for t in tasks},
                   SITE.distance_m)


def random_problem(seed: int, n_robots: int = 4, n_tasks: int = 20) -> Problem:
    """Nursing robots stationed per ward (ward-a's first one confined to it), tasks at beds and
    deliveries from the pharmacy, mixed priorities, earliest starts and deadlines."""
    rng = random.Random(seed)
    robots = []
    for i in range(n_robots):
        ward = "ward-a" if i % 2 == 0 else "ward-b"
        robots.append(RobotSlot(f"r{i}", NOW + rng.choice((0.0, rng.uniform(0, 300))),
                                rng.choice(["dock-a" if ward == "ward-a" else "dock-b", *BEDS[ward]]),
                                rng.choice((0.7, 1.0)), ward))
    confined = {"r0": "ward-a"}
    tasks, eligible = [], {}
    for n in range(n_tasks):
        ward = rng.choice(["ward-a", "ward-b"])
        delivery = rng.random() < 0.3
        earliest = NOW + (rng.uniform(0, 900) if rng.random() < 0.4 else 0.0)
        deadline = earliest + rng.uniform(300, 2400) if rng.random() < 0.8 else None
        t = task(f"t{n:02d}", "pharmacy" if delivery else rng.choice(BEDS[ward]), priority=rng.choice((20, 50, 70, 90)),
                 earliest=earliest, deadline=deadline, duration=rng.uniform(30, 240), zone=ward, order=n,
                 end_place=rng.choice(BEDS[ward]) if delivery else None)
        tasks.append(t)
        eligible[t.task_id] = sorted(r.robot_id for r in robots if confined.get(r.robot_id, ward) == ward)
    return Problem(NOW, robots, tasks, eligible, SITE.distance_m)


ALLOCATORS = [pytest.param(GreedyAuction, id="greedy"),
              pytest.param(lambda: OrToolsAllocator(time_limit_s=2.0), id="ortools")]


def check_plan(p: Problem, plan: Plan) -> None:
    """What every plan keeps: each task once, only on a robot eligible for it, starts in order."""
    placed = [t for q in plan.queues.values() for t in q]
    assert sorted(placed + plan.unplanned) == sorted(t.task_id for t in p.tasks)
    tasks = {t.task_id: t for t in p.tasks}
    for robot_id, queue in plan.queues.items():
        previous_end = -1.0
        for task_id in queue:
            assert robot_id in p.eligible[task_id], f"{task_id} given to {robot_id}, not eligible"
            start = plan.start_s[task_id]
            assert start >= tasks[task_id].earliest_start_s - 1e-6
            assert start >= previous_end - 1e-6
            previous_end = start + tasks[task_id].duration_s


@pytest.mark.parametrize("make", ALLOCATORS)
def test_a_confined_robot_never_gets_another_wards_task(make: type[Allocator]) -> None:
    # r-a is confined to ward-a and sits right next to ward-b's beds; r-b is far away
    robots = [RobotSlot("r-a", NOW, "b-1", 1.0, "ward-a"), RobotSlot("r-b", NOW, "dock-a", 1.0, "ward-b")]
    tasks = [task("b-obs", "b-2", zone="ward-b"), task("a-obs", "a-1", zone="ward-a", order=1)]
    p = problem(robots, tasks, {"b-obs": ["r-b"], "a-obs": ["r-a", "r-b"]})
    plan = make().allocate(p)
    check_plan(p, plan)
    assert plan.robot_of()["b-obs"] == "r-b"
    for seed in range(6):
        rp = random_problem(seed)
        rplan = make().allocate(rp)
        check_plan(rp, rplan)
        zone = {t.task_id: t.zone for t in rp.tasks}
        assert all(zone[t] == "ward-a" for t in rplan.queues["r0"])  # r0 is confined to ward-a


@pytest.mark.parametrize("make", ALLOCATORS)
def test_with_one_robot_and_everything_due_higher_priority_goes_first(make: type[Allocator]) -> None:
    # all three are overdue already: each second of delay costs more the higher the priority
    tasks = [task("low", "a-1", priority=20, deadline=NOW, order=0),
             task("high", "a-1", priority=90, deadline=NOW, order=1),
             task("mid", "a-1", priority=50, deadline=NOW, order=2)]
    p = problem([RobotSlot("r", NOW, "a-1", 1.0, "ward-a")], tasks)
    plan = make().allocate(p)
    check_plan(p, plan)
    assert plan.queues["r"] == ["high", "mid", "low"]


@pytest.mark.parametrize("make", ALLOCATORS)
def test_deadlines_are_met_when_they_can_be(make: type[Allocator]) -> None:
    # two robots, four tasks, each deadline reachable: one robot per ward, each doing its own
    robots = [RobotSlot("r-a", NOW, "dock-a", 1.0, "ward-a"), RobotSlot("r-b", NOW, "dock-b", 1.0, "ward-b")]
    tasks = [task("a1", "a-1", priority=70, deadline=NOW + 200, duration=90, zone="ward-a", order=0),
             task("b1", "b-1", priority=70, deadline=NOW + 200, duration=90, zone="ward-b", order=1),
             task("a2", "a-3", priority=50, deadline=NOW + 400, duration=90, zone="ward-a", order=2),
             task("b2", "b-3", priority=50, deadline=NOW + 400, duration=90, zone="ward-b", order=3)]
    p = problem(robots, tasks)
    plan = make().allocate(p)
    check_plan(p, plan)
    assert not plan.unplanned
    for t in tasks:
        assert t.deadline_s is not None
        assert plan.start_s[t.task_id] + t.duration_s <= t.deadline_s, t.task_id


@pytest.mark.parametrize("make", ALLOCATORS)
def test_tasks_no_robot_can_take_are_reported_unplanned(make: type[Allocator]) -> None:
    robots = [RobotSlot("r", NOW, "dock-a", 1.0, "ward-a")]
    tasks = [task("fine", "a-1", order=0),
             task("nobody", "a-2", order=1),  # no eligible robot at all
             task("gone", "a-3", order=2),  # its only eligible robot is not in this round
             task("island", "island", order=3)]  # no route reaches it
    p = problem(robots, tasks, {"fine": ["r"], "nobody": [], "gone": ["r-offline"], "island": ["r"]})
    plan = make().allocate(p)
    check_plan(p, plan)
    assert sorted(plan.unplanned) == ["gone", "island", "nobody"]
    assert plan.queues["r"] == ["fine"]


@pytest.mark.parametrize("make", ALLOCATORS)
def test_the_same_input_gives_the_same_plan(make: type[Allocator]) -> None:
    for seed in (1, 2, 3):
        p = random_problem(seed, n_robots=4, n_tasks=24)
        first = make().allocate(p)
        again = make().allocate(p)
        shuffled_tasks = list(p.tasks)
        random.Random(seed).shuffle(shuffled_tasks)
        shuffled = Problem(p.now_s, list(reversed(p.robots)), shuffled_tasks, p.eligible, p.distance_m)
        other_order = make().allocate(shuffled)
        for plan in (again, other_order):
            assert {r: q for r, q in plan.queues.items() if q} == {r: q for r, q in first.queues.items() if q}
            assert sorted(plan.unplanned) == sorted(first.unplanned)
            assert plan.start_s == pytest.approx(first.start_s)


def test_ortools_search_ends_by_itself_on_small_rounds() -> None:
    """Determinism rests on this: the search stops at its local optimum, not at the clock (the
    limit here leaves room for a loaded CI machine; these rounds take some 50 ms)."""
    solver = OrToolsAllocator(time_limit_s=5.0)
    for seed in (1, 2, 3):
        solver.allocate(random_problem(seed, n_robots=4, n_tasks=24))
        assert not solver.last_stats.hit_time_limit, solver.last_stats


def test_ortools_never_costs_more_than_greedy() -> None:
    better = 0
    for seed in range(8):
        p = random_problem(seed, n_robots=3 + seed % 3, n_tasks=15 + 3 * seed)
        greedy_cost = plan_cost(p, GreedyAuction().allocate(p))
        solver_plan = OrToolsAllocator(time_limit_s=2.0).allocate(p)
        check_plan(p, solver_plan)
        solver_cost = plan_cost(p, solver_plan)
        assert solver_cost <= greedy_cost + 1e-6, (seed, solver_cost, greedy_cost)
        better += solver_cost < greedy_cost - 1e-6
    assert better >= 4  # and on most of these it finds a cheaper plan, not only greedy's


def test_ortools_finds_the_order_that_meets_both_deadlines() -> None:
    # greedy serves priority first: "urgent-low" (priority 30, due in 5 minutes) would wait behind
    # "long-high" (priority 90, due in an hour) and finish late; doing it first meets both
    tasks = [task("long-high", "a-1", priority=90, deadline=NOW + 3600, duration=250, order=0),
             task("urgent-low", "a-1", priority=30, deadline=NOW + 300, duration=100, order=1)]
    p = problem([RobotSlot("r", NOW, "a-1", 1.0, "ward-a")], tasks)
    greedy = GreedyAuction().allocate(p)
    assert greedy.queues["r"] == ["long-high", "urgent-low"]
    solver = OrToolsAllocator()
    plan = solver.allocate(p)
    assert plan.queues["r"] == ["urgent-low", "long-high"]
    assert plan.start_s == {"urgent-low": NOW, "long-high": NOW + 100}
    assert plan_cost(p, plan) < plan_cost(p, greedy)
    assert solver.last_stats.chosen == "solver"


def test_ortools_plans_what_greedy_plans_when_there_is_nothing_to_solve() -> None:
    p = problem([RobotSlot("r", NOW, "a-1", 1.0, "ward-a")], [task("x", "a-1")], {"x": []})
    plan = OrToolsAllocator().allocate(p)
    assert plan.unplanned == ["x"] and plan.queues == {"r": []}
    empty = OrToolsAllocator().allocate(problem([RobotSlot("r", NOW, "a-1", 1.0, None)], []))
    assert empty.queues == {"r": []} and not empty.unplanned


def test_ortools_rejects_a_bad_configuration() -> None:
    with pytest.raises(ValueError, match="metaheuristic"):
        OrToolsAllocator(metaheuristic="annealing-ish")
    with pytest.raises(ValueError, match="time_limit_s"):
        OrToolsAllocator(time_limit_s=0)
