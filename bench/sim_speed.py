"""Simulator speed: simulated seconds per wall second of `hospital-day` at 8 (its own fleet), 12, 24
and 48 robots on the three-floor default hospital and, in the same run, on the one-floor hospital (the world the
figures were first taken on: the ratio says what floors, lifts and their traffic cost), and peak
memory — each size in a subprocess of its own so that peak RSS is that size's alone."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.common import Result, peak_rss_mb
from bench.scaled import write_scaled_scenario

# 8: the scenario's own fleet (fewer leaves a hospital part without its robot: the lab without its racks)
SIZES = (8, 12, 24, 48)
TARGET_X = {12: 500.0, 48: 100.0}  # on the default (three-floor) hospital
DEFAULT_WORLD = "default_hospital"
ONE_FLOOR_WORLD = "one_floor_hospital"
FLOORS = {DEFAULT_WORLD: "3 floors", ONE_FLOOR_WORLD: "1 floor"}


def run_one(n_robots: int, hours: float, *, trace: bool = False, world: str = DEFAULT_WORLD) -> dict[str, Any]:
    """In this process: build and run the scaled scenario without MQTT; wall time and memory."""
    from sim.runner import SimOptions, SimulationRun
    from sim.scenario import load_scenario

    with tempfile.TemporaryDirectory(prefix="medbot-bench-sim-") as tmp:
        path = write_scaled_scenario(n_robots, Path(tmp), world=world)
        if trace:
            tracemalloc.start()
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        run = SimulationRun(load_scenario(str(path)), SimOptions(seed=1, hours=hours, broker=None, progress=False,
                                                                journal_dir=Path(tmp) / "journal"))
        built = time.perf_counter()
        run.run()
        wall_s = time.perf_counter() - started
        traced_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20 if trace else 0.0
    return {"robots": n_robots, "hours": hours, "world": world, "wall_s": wall_s, "build_s": built - started,
            "speed_x": hours * 3600.0 / wall_s, "peak_rss_mb": peak_rss_mb(), "rss_at_start_mb": rss_before,
            "traced_peak_mb": traced_peak_mb}


def measure(hours: float, sizes: tuple[int, ...] = SIZES,
            worlds: tuple[str, ...] = (DEFAULT_WORLD, ONE_FLOOR_WORLD)) -> list[Result]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for world in worlds:
        for n in sizes:
            out = subprocess.run([sys.executable, "-m", "bench.sim_speed", str(n), str(hours), world], check=True,
                                 capture_output=True, text=True)
            rows.setdefault(world, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    one_floor = {int(r["robots"]): r["speed_x"] for r in rows.get(ONE_FLOOR_WORLD, [])}
    results = []
    for world, world_rows in rows.items():
        for row in world_rows:
            n = int(row["robots"])
            target = TARGET_X.get(n) if world == DEFAULT_WORLD else None
            # the default hospital beside the one-floor one of the same run; the one floor beside the clock
            beside = world != ONE_FLOOR_WORLD and n in one_floor
            baseline, label = (one_floor[n], f"x on 1 floor, {n} robots") if beside else (1.0, "x (wall clock)")
            results.append(Result(
                f"sim speed, {n} robots, {FLOORS.get(world, world)}", row["speed_x"], "x real time", baseline, label,
                target=f">= {target:g}x" if target else "", met=(row["speed_x"] >= target) if target else None,
                detail=row))
    first = rows[worlds[0]]
    results.append(Result(
        f"sim peak memory, {first[-1]['robots']:.0f} robots", first[-1]["peak_rss_mb"], "MB",
        first[0]["peak_rss_mb"], f"MB at {first[0]['robots']:.0f} robots", target="< 1024 MB, linear",
        met=first[-1]["peak_rss_mb"] < 1024,
        detail={"per_size_mb": {int(r["robots"]): round(r["peak_rss_mb"], 1) for r in first}}))
    return results


if __name__ == "__main__":
    print(json.dumps(run_one(int(sys.argv[1]), float(sys.argv[2]),
                             world=sys.argv[3] if len(sys.argv) > 3 else DEFAULT_WORLD)))
