"""Where runs execute: a local process pool (all cores by default) or a Ray cluster. Both run the
same task function (`sweep.task.execute`) and hand back outcomes as runs finish, in whatever order
that is; retrying and recording is the driver's (sweep/driver.py)."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import traceback
from collections.abc import Iterator
from typing import Any, Protocol

from sweep.task import RunOutcome, RunTask, execute

#: how long one wait for a finished run lasts before the driver looks again (progress refresh)
POLL_S = 1.0


class Executor(Protocol):
    name: str
    workers: int

    def submit(self, task: RunTask) -> None: ...

    def finished(self) -> Iterator[tuple[RunTask, RunOutcome]]:
        """Outcomes of the runs that finished within POLL_S (none if none did)."""
        ...

    def pending(self) -> int: ...

    def close(self) -> None: ...


def _crashed(task: RunTask, where: str) -> RunOutcome:
    """A run whose worker died under it (killed, out of memory): the driver's side of the story."""
    return RunOutcome(task.run_id, "failed", {}, f"the {where} worker running it died:\n{traceback.format_exc()}",
                      (), 0.0, where)


class LocalPool:
    """A process pool on this machine. Workers start from a fork server, not by forking the driver
    (whose progress bar runs a thread), and are reused across runs: a run leaves nothing behind
    that changes the next one (the pool-vs-Ray test compares rows run in different orders)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._context = multiprocessing.get_context("forkserver")
        self._pool = cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context)
        self._futures: dict[cf.Future[RunOutcome], RunTask] = {}

    def submit(self, task: RunTask) -> None:
        self._futures[self._pool.submit(execute, task)] = task

    def pending(self) -> int:
        return len(self._futures)

    def finished(self) -> Iterator[tuple[RunTask, RunOutcome]]:
        done, _ = cf.wait(self._futures, timeout=POLL_S, return_when=cf.FIRST_COMPLETED)
        broken = False
        for future in done:
            task = self._futures.pop(future)
            try:
                yield task, future.result()
            except Exception:  # BrokenProcessPool: a worker process died
                broken = True
                yield task, _crashed(task, "local pool")
        if broken:  # a broken pool takes no more work: a new one for the retries and the rest
            still = list(self._futures.values())
            self._futures.clear()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=self._context)
            for task in still:
                self.submit(task)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayCluster:
    """Runs on a Ray cluster: `address` "auto" (the cluster this machine belongs to: `ray start`),
    "local" (a Ray instance of this process's own, `workers` CPUs) or a cluster's address
    (host:port of its head, or ray://host:10001). One CPU per run."""

    name = "ray"

    def __init__(self, address: str, *, workers: int | None = None, runtime_env: dict[str, Any] | None = None) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report: nothing leaves the machine
        import ray

        self._ray = ray
        options: dict[str, Any] = {"log_to_driver": False, "runtime_env": runtime_env or None}
        if address == "local":
            ray.init(address="local", num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        # our own retry (the driver's), so that the first failure is reported with its traceback
        self._remote = ray.remote(num_cpus=1, max_retries=0)(execute)
        self._refs: dict[Any, RunTask] = {}

    def submit(self, task: RunTask) -> None:
        self._refs[self._remote.remote(task)] = task

    def pending(self) -> int:
        return len(self._refs)

    def finished(self) -> Iterator[tuple[RunTask, RunOutcome]]:
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=POLL_S)
        if ready:  # then everything else already finished too, without waiting
            more, _ = self._ray.wait([r for r in self._refs if r not in ready], num_returns=len(self._refs) - 1,
                                     timeout=0) if len(self._refs) > 1 else ([], [])
            ready = [*ready, *more]
        for ref in ready:
            task = self._refs.pop(ref)
            try:
                yield task, self._ray.get(ref, timeout=60)
            except Exception:  # the worker died (WorkerCrashedError), the node was lost, ...
                yield task, _crashed(task, "Ray")

    def close(self) -> None:
        self._ray.shutdown()
