"""`medbot sweep SWEEP.yaml`: run a capacity-planning sweep on this machine's cores or on Ray, then
write the report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console

from hal.registry import ConfigError


def _runtime_env(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML reads JSON too
    except (OSError, yaml.YAMLError) as exc:
        raise click.BadParameter(f"{path}: cannot read: {exc}", param_hint="--ray-runtime-env") from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{path}: expected a mapping (Ray's runtime_env)", param_hint="--ray-runtime-env")
    return data


@click.command("sweep")
@click.argument("sweep_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for results.parquet and report/ (default: sweep-<name> here). An existing "
                   "results.parquet is resumed: runs it has done are skipped.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Local worker processes (default: every core).")
@click.option("--ray", "ray_address", default=None, metavar="auto|local|ADDRESS",
              help="Run on Ray: 'auto' (the cluster `ray start` made this machine part of), 'local' (a Ray of "
                   "this process's own), or the head's host:port / ray://host:10001.")
@click.option("--ray-runtime-env", "runtime_env_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Ray runtime_env for the workers (YAML or JSON), e.g. py_modules with a medbot wheel.")
@click.option("--report-only", is_flag=True, help="Only write the report from results.parquet.")
@click.option("--no-progress", is_flag=True, help="Do not draw the progress bar.")
def sweep_command(sweep_file: Path, out_dir: Path | None, workers: int | None, ray_address: str | None,
                  runtime_env_file: Path | None, report_only: bool, no_progress: bool) -> None:
    """Run a scenario many times with settings varied (robots per kind, beds, fault rates, ...) and
    report the KPIs against each setting, and the smallest fleet meeting the targets."""
    try:  # pyarrow and matplotlib come with the `sweep` extra, not with the base install
        from sweep.driver import run_sweep
        from sweep.plan import plan
        from sweep.report import recommendation_text, write_report
        from sweep.results import ResultStore, read_rows
        from sweep.spec import load_sweep
        from sweep.stats import point_stats, recommend
    except ModuleNotFoundError as exc:
        raise click.ClickException(f"medbot sweep needs {exc.name}: pip install -e '.[sweep]'") from None

    console = Console()
    try:
        spec = load_sweep(sweep_file)
        sweep_plan = plan(spec)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    out = out_dir or Path(f"sweep-{spec.name}")
    results = out / "results.parquet"
    failed = planned = 0
    if not report_only:
        store = ResultStore(results, spec)
        executor = _executor(ray_address, workers, _runtime_env(runtime_env_file))
        started = time.perf_counter()
        try:
            outcome = run_sweep(sweep_plan, store, executor, console=console, progress=not no_progress)
        finally:
            executor.close()
        failed, planned = outcome.failed, outcome.planned
        console.print(f"{outcome.planned} runs: {outcome.skipped} already done, {outcome.ok} ok, {outcome.failed} "
                      f"failed ({outcome.retried} retried) in {time.perf_counter() - started:.1f} s on "
                      f"{executor.name} → {results}")
    elif not results.exists():
        raise click.ClickException(f"{results}: no results to report on (run the sweep first)")
    rows = [r for r in read_rows(results) if r["run_id"] in {t.run_id for t in sweep_plan.tasks}]
    page = write_report(spec, rows, out / "report")
    for line in recommendation_text(spec, recommend(spec, point_stats(spec, rows))):
        console.print(line, highlight=False)
    console.print(f"report: {page}")
    if failed:
        raise click.ClickException(f"{failed} of {planned} runs failed (their tracebacks are above and in the report)")


def _executor(ray_address: str | None, workers: int | None, runtime_env: dict[str, Any] | None) -> Any:
    if ray_address is None:
        if runtime_env is not None:
            raise click.UsageError("--ray-runtime-env needs --ray")
        from sweep.executors import LocalPool

        return LocalPool(workers)
    try:
        from sweep.executors import RayCluster
    except ModuleNotFoundError as exc:
        raise click.ClickException(f"--ray needs {exc.name}: pip install -e '.[sweep]'") from None
    try:
        return RayCluster(ray_address, workers=workers, runtime_env=runtime_env)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise click.ClickException(f"--ray {ray_address}: cannot connect to Ray: {exc}") from None
