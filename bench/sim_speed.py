"""Simulator speed: simulated seconds per wall second of `hospital-day` at 6, 12, 24 and 48 robots,
and peak memory — each size in a subprocess of its own so that peak RSS is that size's alone."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.common import Result, peak_rss_mb
from bench.scaled import write_scaled_scenario

SIZES = (6, 12, 24, 48)
TARGET_X = {12: 500.0, 48: 100.0}


def run_one(n_robots: int, hours: float, *, trace: bool = False) -> dict[str, float]:
    """In this process: build and run the scaled scenario without MQTT; wall time and memory."""
    from sim.runner import SimOptions, SimulationRun
    from sim.scenario import load_scenario

    with tempfile.TemporaryDirectory(prefix="medbot-bench-sim-") as tmp:
        path = write_scaled_scenario(n_robots, Path(tmp))
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
    return {"robots": n_robots, "hours": hours, "wall_s": wall_s, "build_s": built - started,
            "speed_x": hours * 3600.0 / wall_s, "peak_rss_mb": peak_rss_mb(), "rss_at_start_mb": rss_before,
            "traced_peak_mb": traced_peak_mb}


def measure(hours: float, sizes: tuple[int, ...] = SIZES) -> list[Result]:
    rows: list[dict[str, float]] = []
    for n in sizes:
        out = subprocess.run([sys.executable, "-m", "bench.sim_speed", str(n), str(hours)], check=True,
                             capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    results = []
    for row in rows:
        n = int(row["robots"])
        target = TARGET_X.get(n)
        results.append(Result(
            f"sim speed, {n} robots", row["speed_x"], "x real time", 1.0, "x (wall clock)",
            target=f">= {target:g}x" if target else "", met=(row["speed_x"] >= target) if target else None,
            detail=row))
    results.append(Result(
        f"sim peak memory, {rows[-1]['robots']:.0f} robots", rows[-1]["peak_rss_mb"], "MB",
        rows[0]["peak_rss_mb"], f"MB at {rows[0]['robots']:.0f} robots", target="< 1024 MB, linear",
        met=rows[-1]["peak_rss_mb"] < 1024,
        detail={"per_size_mb": {int(r["robots"]): round(r["peak_rss_mb"], 1) for r in rows}}))
    return results


if __name__ == "__main__":
    print(json.dumps(run_one(int(sys.argv[1]), float(sys.argv[2]))))
