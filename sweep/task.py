"""One run of a sweep: the task a process-pool worker or a Ray worker executes. Everything it needs
travels in the `RunTask` (the scenario as data, the world too when the sweep changed it), so a
worker on another machine needs only medbot installed, not the sweep file or the driver's paths."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: columns of a row that differ between two executions of the same run (not compared)
TIMING_COLUMNS = ("wall_s", "worker")


@dataclass(frozen=True)
class RunTask:
    run_id: str
    label: str  # "sweep <name> run <run_id>": where errors say they come from
    seed: int
    hours: float
    point: dict[str, Any]
    scenario: dict[str, Any]
    world: dict[str, Any] | None
    #: KPI name -> dotted path into summary.json (None: a built-in KPI)
    kpis: dict[str, str | None]
    fleet_size: int
    robots_by_kind: dict[str, int] = field(default_factory=dict)
    #: wall seconds the run may take before it is stopped as failed (None: no limit)
    timeout_s: float | None = None


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: str  # "ok" or "failed"
    kpis: dict[str, float | None]
    error: str | None
    #: KPIs whose summary path this run's summary does not have (why they are None)
    missing: tuple[str, ...]
    wall_s: float
    worker: str
    #: the digest of the simulator's code the worker ran (sweep/code.py)
    code: str = ""


def execute(task: RunTask) -> RunOutcome:
    """Run the simulated hospital for the task's hours without MQTT or a report folder, and collect
    its KPIs. Never raises for the run's own failure: that comes back with its traceback."""
    from sweep.code import code_digest

    started = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    code = code_digest()
    try:
        with _time_limit(task.timeout_s):
            kpis, missing = _run(task)
    except (Exception, RunTimedOut):
        return RunOutcome(task.run_id, "failed", {}, traceback.format_exc(), (), time.perf_counter() - started,
                          worker, code)
    return RunOutcome(task.run_id, "ok", kpis, None, tuple(missing), time.perf_counter() - started, worker, code)


#: after a run's time limit, the limit is raised again this often until the run has stopped
RETIMEOUT_S = 0.2


class RunTimedOut(BaseException):
    """Not an `Exception`: the simulator ends a mission whose step raises one (a bug must not stop
    the robot's tick), and a time limit landing in a mission step was taken for a bug there and
    the run went on past its limit."""


@contextlib.contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise RunTimedOut in the run where it is after `seconds` of wall time (its traceback then
    says where a hung run was). A pool worker and a Ray task both run on the process's main
    thread, where signals are delivered; elsewhere there is no limit."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise RunTimedOut(f"the run took longer than its limit of {seconds:g} s (run_timeout_s)")

    previous = signal.signal(signal.SIGALRM, expired)
    # and again every RETIMEOUT_S until the run has stopped: an exception raised where the
    # interpreter only reports it (a gc callback, a __del__) is lost, and the run went on
    signal.setitimer(signal.ITIMER_REAL, seconds, RETIMEOUT_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run(task: RunTask) -> tuple[dict[str, float | None], list[str]]:
    # the simulator loads in the worker only (the driver plans with the scenario model alone)
    from sim.runner import SimOptions, SimulationRun
    from sim.scenario import Scenario
    from sweep.kpis import collect

    with tempfile.TemporaryDirectory(prefix="medbot-sweep-") as tmp:
        data = dict(task.scenario)
        if task.world is not None:
            world_file = Path(tmp) / "world.yaml"
            world_file.write_text(yaml.safe_dump(task.world, sort_keys=False), encoding="utf-8")
            data["world"] = str(world_file)
        scenario = Scenario.model_validate({**data, "source": task.label})
        run = SimulationRun(scenario, SimOptions(seed=task.seed, hours=task.hours, broker=None, progress=False))
        summary = run.run()
    return collect(summary, task.kpis)
