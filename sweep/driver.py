"""Drives a sweep: skips the runs the Parquet file has done, hands the rest to an executor, records
each outcome as it arrives, retries a failed run once (its traceback reported first), and draws a
progress bar over the runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sweep.code import code_digest
from sweep.executors import Executor
from sweep.plan import SweepPlan
from sweep.results import ResultStore, row_of
from sweep.task import RunOutcome, RunTask

#: a failed run is tried this many times in all
ATTEMPTS = 2


@dataclass(frozen=True)
class SweepRun:
    planned: int
    skipped: int  # already done in the Parquet file
    ok: int
    failed: int
    retried: int


def run_sweep(plan: SweepPlan, store: ResultStore, executor: Executor, *, console: Console | None = None,
              progress: bool = True, on_outcome: Callable[[RunTask, RunOutcome, int], None] | None = None) -> SweepRun:
    console = console or Console(stderr=True)
    code = code_digest()
    done = store.done(list(plan.spec.kpis), code)
    todo = [t for t in plan.tasks if t.run_id not in done]
    skipped = len(plan.tasks) - len(todo)
    if skipped:
        console.print(f"resuming: {skipped} of {len(plan.tasks)} runs already done in {store.path}")
    older = sum(1 for t in todo if t.run_id in store.rows and store.rows[t.run_id].get("status") == "ok")
    if older:
        console.print(f"{older} runs done by another version of the simulator run again (code {code})")
    warned = False
    attempts: dict[str, int] = {}
    ok = failed = retried = 0
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[note]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                   console=console, disable=not progress)
    with bar:
        job = bar.add_task(f"{plan.spec.name} on {executor.name} ({executor.workers} workers)", total=len(todo),
                           note="")
        for task in todo:
            attempts[task.run_id] = 1
            executor.submit(task)
        while executor.pending():
            for task, outcome in executor.finished():
                tries = attempts[task.run_id]
                if outcome.code and outcome.code != code and not warned:
                    warned = True  # a cluster's workers with another medbot installed than this driver's
                    console.print(f"[yellow]worker {escape(outcome.worker)} runs simulator code {outcome.code}, this "
                                  f"driver {code}: its rows will not count as done when resuming here[/]")
                if outcome.status != "ok":
                    console.print(f"[red]run {task.run_id} ({escape(_describe(task))}) failed, attempt {tries} of "
                                  f"{ATTEMPTS}:[/]\n{escape(outcome.error or '')}", highlight=False)
                    if tries < ATTEMPTS:
                        attempts[task.run_id] = tries + 1
                        retried += 1
                        executor.submit(task)
                        continue
                    failed += 1
                else:
                    ok += 1
                store.add(row_of(plan.spec, plan.scenario_name, task, outcome, tries))
                if on_outcome is not None:
                    on_outcome(task, outcome, tries)
                bar.update(job, advance=1, note=f"{failed} failed" if failed else "")
    return SweepRun(len(plan.tasks), skipped, ok, failed, retried)


def _describe(task: RunTask) -> str:
    return ", ".join([*(f"{k}={v}" for k, v in task.point.items()), f"seed {task.seed}"])
