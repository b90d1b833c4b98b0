"""Sweep throughput (`medbot sweep`): the same runs on the local process pool with 1 and with 2
workers (goal: 2 workers >= 1.8x the runs per minute of 1 on this 2-core machine), and on a Ray
instance of 2 CPUs beside the 2-worker pool (goal: Ray's wall time per run within 5 % of the
pool's). Every run is the same day with another seed, so that both workers have equal work and the
figure is the executors', not the load balance of unequal runs. The detail has how busy each
executor kept its workers, and each run's mean time: on shared cores a slower mean run with 2
workers than with 1 is other work's, and the speedup is bounded by it. Timed from the first run handed
over to the last result in: starting the pool or Ray (once per sweep) is outside, and reported."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Result


def _spec(runs: int, hours: float) -> Any:
    from sweep.spec import SweepSpec

    return SweepSpec.model_validate({
        "name": "bench", "scenario": "hospital-day", "hours": hours, "set": {"his.enabled": False},
        "axes": {"robots.nursing": [3]}, "seeds": runs,
        "kpis": {"observation_sets": None, "drug_rounds_on_time": None, "deterioration_to_alert_mean_min": None},
    })


def _timed(executor: Any, spec: Any, started_s: float) -> dict[str, Any]:
    from sweep.driver import run_sweep
    from sweep.plan import plan
    from sweep.results import ResultStore

    ready_s = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="medbot-bench-sweep-") as tmp:
        store = ResultStore(Path(tmp) / "results.parquet", spec)
        try:
            t0 = time.perf_counter()
            outcome = run_sweep(plan(spec), store, executor, progress=False)
            wall_s = time.perf_counter() - t0
        finally:
            executor.close()
        rows = list(store.rows.values())
    if outcome.failed:
        raise RuntimeError(f"{outcome.failed} bench runs failed: {rows[0].get('error')}")
    mean_run_s = sum(float(r["wall_s"]) for r in rows) / len(rows)
    # how busy the executor kept its workers: a run's own time x runs over workers x wall. Below 1 is
    # the executor's cost (hand-over, results back, idle tails); a longer mean run than with one
    # worker is the cores' (shared with other work, memory bandwidth), not the executor's
    busy = outcome.ok * mean_run_s / (executor.workers * wall_s)
    return {"wall_s": wall_s, "start_s": ready_s - started_s, "runs": outcome.ok, "workers": executor.workers,
            "runs_per_min": 60.0 * outcome.ok / wall_s, "s_per_run": wall_s / outcome.ok,
            "mean_run_s": mean_run_s, "workers_busy_fraction": round(busy, 3),
            "load_avg_1min_after": round(os.getloadavg()[0], 2)}


def _pool(spec: Any, workers: int) -> dict[str, Any]:
    from sweep.executors import LocalPool

    started = time.perf_counter()
    return _timed(LocalPool(workers), spec, started)


def _ray(spec: Any, workers: int) -> dict[str, Any]:
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a Ray of this process's own, on this machine
    from sweep.executors import RayCluster

    started = time.perf_counter()
    return _timed(RayCluster("local", workers=workers), spec, started)


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def raw_parallel_speedup(tasks: int = 8, n: int = 6_000_000) -> float:
    """The machine's own speedup from 1 to 2 processes, right now: the same pure-Python loops on a
    bare process pool (what a perfect executor would reach with the cores as shared as they are)."""
    import concurrent.futures as cf
    import multiprocessing

    walls = []
    for workers in (1, 2):
        with cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
            list(pool.map(_spin, [1000] * workers))  # workers up before the clock starts
            t0 = time.perf_counter()
            list(pool.map(_spin, [n] * tasks))
            walls.append(time.perf_counter() - t0)
    return walls[0] / walls[1]


def measure(runs: int = 8, hours: float = 0.5) -> list[Result]:
    spec = _spec(runs, hours)
    raw_before = raw_parallel_speedup()
    one = _pool(spec, 1)
    two = _pool(spec, 2)
    ray = _ray(spec, 2)
    raw_after = raw_parallel_speedup()
    speedup = two["runs_per_min"] / one["runs_per_min"]
    overhead = ray["s_per_run"] / two["s_per_run"] - 1.0
    return [
        Result(f"sweep, local pool 2 workers ({runs} x {hours:g} h)", two["runs_per_min"], "runs/min",
               one["runs_per_min"], "runs/min, 1 worker", target=">= 1.8x", met=speedup >= 1.8,
               detail={"one_worker": one, "two_workers": two, "cores": os.cpu_count(),
                       # the bare machine's 1 -> 2 process speedup before and after: the ceiling
                       "raw_two_process_speedup": [round(raw_before, 2), round(raw_after, 2)]}),
        Result(f"sweep on Ray, 2 CPUs ({runs} x {hours:g} h)", ray["s_per_run"], "s/run", two["s_per_run"],
               "s/run, local pool of 2", target="<= 1.05x (5 % overhead)", met=overhead <= 0.05,
               detail={"ray": ray, "pool": two, "overhead_fraction": round(overhead, 4)}),
    ]
