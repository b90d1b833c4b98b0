"""`medbot bench` / `python -m bench`: run the benchmarks, print each figure beside its baseline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import click

from bench.common import Result, format_row


def _suite(quick: bool) -> dict[str, Callable[[], list[Result]]]:
    from bench import (
        fleet_alloc,
        fleet_scale,
        group_ingest,
        his_bench,
        ingest_bench,
        modbus_bench,
        robot_bench,
        sim_speed,
        sweep_bench,
        telemetry_bench,
    )

    return {
        # two simulated hours of the morning: the target is about a whole day, whose speed is the
        # steady state; in half an hour the start-up (imports, building the fleet, ~1 s) weighed a quarter
        "sim": lambda: sim_speed.measure(hours=0.05 if quick else 2.0),
        "fleet": lambda: fleet_scale.measure(200, wall_s=5.0 if quick else 20.0),
        "publisher": lambda: telemetry_bench.publisher_throughput(5_000 if quick else 30_000),
        "latency": lambda: telemetry_bench.latency(2000.0, seconds=2.0 if quick else 10.0),
        "spool": lambda: telemetry_bench.spool_replay(10_000 if quick else 100_000),
        "ingest": lambda: ingest_bench.measure(10_000 if quick else 100_000),
        # a group data center: 1, 2, 4 worker processes on one shared subscription into PostgreSQL,
        # beside the broker drained alone and the database written alone
        "group-ingest": lambda: group_ingest.measure(8_000 if quick else 40_000),
        "control": lambda: robot_bench.control_loop(seconds=3.0 if quick else 20.0),
        "estop": lambda: robot_bench.estop(trials=100 if quick else 1000),
        "vision": lambda: robot_bench.vision(frames=20 if quick else 100),
        "memory": robot_bench.robot_memory,
        "modbus": lambda: modbus_bench.measure(seconds=1.0 if quick else 3.0),
        # greedy vs OR-Tools on the same seeded rounds; --quick: fewer rounds, no long-budget run
        "alloc": lambda: [*fleet_alloc.measure(rounds=2 if quick else 5, long_limit_s=None if quick else 10.0),
                          fleet_alloc.service_round(12, 500), fleet_alloc.service_round(200, 500)],
        # the HIS link: ADT in with ACKs (one connection) and the results outbox drained to python-hl7
        "his": lambda: his_bench.measure(listener_n=200 if quick else 2000, replay_n=300 if quick else 3000,
                                         build_n=30 if quick else 200),
        # medbot sweep: the same runs on the local pool with 1 and 2 workers, and on Ray beside the pool
        "sweep": lambda: sweep_bench.measure(runs=4 if quick else 8, hours=0.05 if quick else 0.5),
    }


@click.command("bench")
@click.option("--only", multiple=True, help="Run only these (sim, fleet, publisher, latency, spool, ingest, "
                                            "group-ingest, control, estop, vision, memory, alloc, modbus, his, sweep); "
                                            "repeatable.")
@click.option("--quick", is_flag=True, help="Short runs (a smoke test; figures are noisier).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write every result as JSON here.")
def bench_command(only: tuple[str, ...], quick: bool, json_path: Path | None) -> None:
    """Measure medbot against raw baselines taken in the same run (ratios are what count)."""
    suite = _suite(quick)
    unknown = set(only) - set(suite)
    if unknown:
        raise click.BadParameter(f"unknown {sorted(unknown)}; known: {', '.join(suite)}", param_hint="--only")
    results: list[Result] = []
    click.echo(f"{'benchmark':<34} {'figure':>12} {'unit':<12} {'raw baseline (same run)':<30} {'ratio':>7}  "
               f"{'target':<26}")
    for name, run in suite.items():
        if only and name not in only:
            continue
        started = time.perf_counter()
        try:
            rows = run()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            click.echo(f"{name:<34} failed: {exc!r}")
            continue
        for row in rows:
            row.detail.setdefault("bench_wall_s", round(time.perf_counter() - started, 1))
            click.echo(format_row(row))
        results.extend(rows)
    if quick:
        click.echo("--quick: short runs to check that every benchmark works; a simulated sim slice of 3 minutes "
                   "is mostly start-up and a 3 s control loop mostly warm-up, so judge the targets on a full run.")
    if json_path is not None:
        json_path.write_text(json.dumps([r.as_dict() for r in results], indent=2) + "\n", encoding="utf-8")


def main() -> None:
    bench_command()
