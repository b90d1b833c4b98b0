"""Fleet scale: 200 robots ticking at their real control rate (the kinds' `tick_period_s`) against the
wall clock, on one core. The simulated clock follows the wall clock; a tick that overruns its period
is late. Baseline: the same paced loop with nothing to tick (what the OS's timer gives)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Result, one_core, percentile
from bench.scaled import write_scaled_scenario


def measure(n_robots: int = 200, wall_s: float = 20.0) -> list[Result]:
    from robots.config import kind_config_path, load_robot_config
    from sim.runner import SIM_DAY_START_S, SimOptions, SimulationRun, _telemetry
    from sim.scenario import load_scenario

    with tempfile.TemporaryDirectory(prefix="medbot-bench-fleet-") as tmp, one_core():
        scenario = load_scenario(str(write_scaled_scenario(n_robots, Path(tmp))))
        period_s = min(load_robot_config(kind_config_path(r.kind)).tick_period_s for r in scenario.robots)
        run = SimulationRun(scenario, SimOptions(seed=1, broker=None, progress=False))
        telemetry = _telemetry(None, scenario, run.robots_ids(), None)
        run._telemetry = telemetry  # what run() sets; the fleet is built and ticked here by hand
        run._build_fleet(Path(tmp) / "journal", telemetry.sinks())
        robots = [run.robots[rid] for rid in sorted(run.robots)]
        for robot in robots:
            robot.setup()
            assert run.fleet is not None
            run.fleet.deliver(robot.identity.robot_id, "connection", {"state": "ONLINE", "session": 1},
                              run.clock.now_s())
        # one tick before the clock starts: the first dispatches the morning's work and builds route
        # tables and frame caches (start-up, reported apart), every later one is the steady state
        warm_up_started = time.perf_counter()
        _tick(run, robots, SIM_DAY_START_S + 7 * 3600, period_s)
        warm_up_s = time.perf_counter() - warm_up_started
        tick_s, lateness_s = _paced(
            period_s, wall_s, lambda now_s: _tick(run, robots, now_s + period_s, period_s))
        _idle_tick_s, idle_late_s = _paced(period_s, min(wall_s, 5.0), lambda now_s: None)
        for robot in robots:
            robot.close()
    p99_tick = percentile(tick_s, 99)
    kept = sum(1 for t in tick_s if t <= period_s) / max(1, len(tick_s))
    return [Result(
        f"fleet of {n_robots} at {1 / period_s:g} Hz, one core", 100.0 * kept, "% ticks in time",
        100.0, "% (target)", target="keeps real time", met=kept >= 0.99,
        detail={"period_s": period_s, "ticks": len(tick_s), "warm_up_tick_ms": 1000 * warm_up_s,
                "tick_mean_ms": 1000 * sum(tick_s) / max(1, len(tick_s)),
                "tick_p99_ms": 1000 * p99_tick, "late_p99_ms": 1000 * percentile(lateness_s, 99),
                "idle_late_p99_ms": 1000 * percentile(idle_late_s, 99),
                "realtime_factor": period_s / (sum(tick_s) / max(1, len(tick_s)))})]


def _tick(run: object, robots: list[Any], now_s: float, dt_s: float) -> None:
    """One control period of the whole site: the hospital, the fleet service, every robot."""
    from sim.runner import SimulationRun

    assert isinstance(run, SimulationRun)
    run.clock.set(now_s)
    for name in sorted(run.hospital):
        run.hospital[name].step(now_s)
    if run.fleet is not None:
        run.fleet.step(now_s)
    for robot in robots:
        robot.step(now_s)
    run.env.step(dt_s)


def _paced(period_s: float, wall_s: float, body: object) -> tuple[list[float], list[float]]:
    """Run ``body(sim_now_s)`` every ``period_s`` of wall time; (tick durations, start lateness)."""
    from sim.runner import SIM_DAY_START_S

    assert callable(body)
    durations: list[float] = []
    lateness: list[float] = []
    start = time.perf_counter()
    n = 0
    while True:
        due = start + n * period_s
        now = time.perf_counter()
        if due - now > 0:
            time.sleep(due - now)
            now = time.perf_counter()
        if now - start >= wall_s:
            break
        lateness.append(max(0.0, now - due))
        body(SIM_DAY_START_S + 7 * 3600 + n * period_s)
        durations.append(time.perf_counter() - now)
        n += 1
    return durations, lateness
