"""The data center's ingest as N worker processes sharing one MQTT 5 shared subscription.

Each worker is a process of its own (its own paho client, its own store connection, its own core):
the Python work per message — parse, contract check, rows — does not share one interpreter's lock.
They subscribe to the same ``$share/<group>/medbot/v1/#`` and the broker hands each message to one
of them. Every worker keeps a stable client id (``<prefix>-<i>``) and a persistent session, because
Mosquitto goes on routing a disconnected member's share of the messages into its session: a worker
that dies is restarted under the same id (:class:`WorkerPool` does it), takes up its session and
stores what was queued for it. The store's unique key makes a redelivery a no-op, so a message that
reaches two workers (a redelivery after a crash, the retained messages Mosquitto hands every member
on subscribe) is one row.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.synchronize
import queue
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: multiprocessing's "spawn": a fresh interpreter per worker (no forked paho threads or sockets)
_CTX = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class WorkerSpec:
    """Everything one worker process needs (it is pickled to the child: plain values only)."""

    broker_url: str
    store_url: str
    client_id: str
    group: str = "datacenter"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    batch_size: int = 500
    flush_interval_s: float = 0.05
    session_expiry_s: int = 3600
    connect_timeout_s: float = 20.0


def worker_specs(n: int, broker_url: str, store_url: str, *, client_id_prefix: str, **options: Any) -> list[WorkerSpec]:
    """``n`` specs with client ids ``<prefix>-1`` … ``<prefix>-<n>``: the same ids on every start, so a
    restarted data center takes up its sessions (and what was queued in them)."""
    if n < 1:
        raise ValueError(f"--workers must be at least 1, got {n}")
    return [WorkerSpec(broker_url, store_url, f"{client_id_prefix}-{i}", **options) for i in range(1, n + 1)]


def _worker_main(spec: WorkerSpec, ready: multiprocessing.synchronize.Event,
                 connected: multiprocessing.synchronize.Event, go: multiprocessing.synchronize.Event | None,
                 stop: multiprocessing.synchronize.Event, results: multiprocessing.Queue[tuple[str, dict[str, int]]],
                 stored: Any) -> None:
    """One worker: wait for ``go`` (if given), ingest until ``stop``, flush, report its stats."""
    # the pool decides when a worker stops: Ctrl-C reaches the whole process group, SIGTERM may too
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logging.basicConfig(level=logging.WARNING, format=f"%(asctime)s {spec.client_id} %(levelname)s %(message)s")
    from datacenter.ingest import Ingestor
    from datacenter.store import Store
    from telemetry.tls import TlsConfig

    tls = TlsConfig(spec.ca_file, spec.cert_file, spec.key_file) if spec.broker_url.startswith("mqtts://") else None
    store = Store(spec.store_url)
    ingest = Ingestor(spec.broker_url, store, group=spec.group, client_id=spec.client_id, username=spec.username,
                      password=spec.password, tls=tls, batch_size=spec.batch_size,
                      flush_interval_s=spec.flush_interval_s, session_expiry_s=spec.session_expiry_s)
    ready.set()
    if go is not None:
        go.wait()  # the benchmark starts every worker's clock at once
    try:
        ingest.start(timeout_s=spec.connect_timeout_s)
        connected.set()
        while not stop.wait(0.2):
            stored.value = ingest.stats.stored  # the pool's live view; the full stats come at the end
    finally:
        ingest.stop()
        store.close()
        results.put((spec.client_id, asdict(ingest.stats)))


@dataclass
class _Worker:
    spec: WorkerSpec
    process: multiprocessing.context.SpawnProcess
    ready: multiprocessing.synchronize.Event  # imports done, store connected
    connected: multiprocessing.synchronize.Event
    # its own, never shared: a process killed inside Event.wait() leaves that event's condition
    # waiting for a wake-up it will never acknowledge, and the next set() hangs for ever
    stop: multiprocessing.synchronize.Event
    stored: Any  # a shared counter: rows this run of the worker stored
    restarts: int = 0
    last_start: float = 0.0
    stored_before: int = 0  # by the worker's earlier runs (before a restart)


class WorkerPool:
    """Start N ingest workers, restart one that dies, stop them all with a flush.

    ``start()`` returns once every worker is connected and subscribed (bounded); ``supervise()``
    restarts a worker that exited without being asked (under its own client id, at most once a
    second); ``stop()`` asks every worker to flush, acknowledge and disconnect, and returns their
    stats. With ``hold=True`` the workers start their processes but connect only at ``release()``
    (a benchmark's common start line).
    """

    def __init__(self, specs: list[WorkerSpec], *, hold: bool = False) -> None:
        if not specs:
            raise ValueError("a worker pool needs at least one worker")
        ids = [s.client_id for s in specs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"worker client ids must differ: {ids}")
        self.specs = specs
        self._stopping = False
        self._go = _CTX.Event() if hold else None
        self._results: multiprocessing.Queue[tuple[str, dict[str, int]]] = _CTX.Queue()
        self._workers: list[_Worker] = []
        self.stats: dict[str, dict[str, int]] = {}

    def _spawn(self, spec: WorkerSpec, restarts: int = 0, stored_before: int = 0) -> _Worker:
        ready, connected, stop = _CTX.Event(), _CTX.Event(), _CTX.Event()
        stored = _CTX.Value("q", 0, lock=False)  # one writer (the worker), a word-sized read
        process = _CTX.Process(target=_worker_main,
                               args=(spec, ready, connected, self._go, stop, self._results, stored),
                               name=f"medbot-dc-{spec.client_id}", daemon=False)
        process.start()
        return _Worker(spec, process, ready, connected, stop, stored, restarts, time.monotonic(), stored_before)

    def start(self, timeout_s: float = 60.0) -> WorkerPool:
        self._workers = [self._spawn(spec) for spec in self.specs]
        if self._go is None:
            self.wait_connected(timeout_s)
        return self

    def release(self, timeout_s: float = 60.0) -> float:
        """``hold=True``: once every worker is ready (imports done, store connected), let them all connect
        at once; returns that moment (``time.perf_counter()``) after all are subscribed."""
        self._wait(lambda w: w.ready, "ready", timeout_s)
        released = time.perf_counter()
        if self._go is not None:
            self._go.set()
        self.wait_connected(timeout_s)
        return released

    def wait_connected(self, timeout_s: float) -> None:
        self._wait(lambda w: w.connected, "subscribed", timeout_s)

    def _wait(self, event: Any, what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for worker in self._workers:
            while not event(worker).wait(0.1):
                if not worker.process.is_alive():
                    self.stop()
                    raise RuntimeError(f"ingest worker {worker.spec.client_id} exited with code "
                                       f"{worker.process.exitcode} before it was {what} (see its log above)")
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"ingest worker {worker.spec.client_id} not {what} within {timeout_s} s")

    @property
    def pids(self) -> dict[str, int | None]:
        return {w.spec.client_id: w.process.pid for w in self._workers}

    def stored(self) -> dict[str, int]:
        """Rows each worker has stored so far (updated by the workers every 0.2 s)."""
        return {w.spec.client_id: w.stored_before + int(w.stored.value) for w in self._workers}

    @property
    def restarts(self) -> int:
        return sum(w.restarts for w in self._workers)

    def supervise(self) -> int:
        """Restart workers that died unasked; returns how many were restarted now."""
        restarted = 0
        for i, worker in enumerate(self._workers):
            if self._stopping or worker.process.is_alive():
                continue
            if time.monotonic() - worker.last_start < 1.0:
                continue  # a worker that dies at once (database away, broker refusing) is retried each second
            log.warning("ingest worker %s exited with code %s; restarting it under the same client id",
                        worker.spec.client_id, worker.process.exitcode)
            worker.process.join(0)
            self._workers[i] = self._spawn(worker.spec, worker.restarts + 1,
                                           worker.stored_before + int(worker.stored.value))
            restarted += 1
        return restarted

    def run_until(self, done: Any, poll_s: float = 0.5) -> None:
        """Supervise until ``done()`` is true (e.g. a signal was received)."""
        while not done():
            self.supervise()
            time.sleep(poll_s)

    def stop(self, timeout_s: float = 30.0) -> dict[str, dict[str, int]]:
        """Flush, acknowledge, disconnect every worker (bounded); their stats by client id."""
        self._stopping = True
        if self._go is not None:
            self._go.set()  # a held worker must get past its start line to see the stop
        for worker in self._workers:
            if worker.process.is_alive():
                worker.stop.set()
        deadline = time.monotonic() + timeout_s
        for worker in self._workers:
            worker.process.join(max(0.1, deadline - time.monotonic()))
            if worker.process.is_alive():  # stuck: nothing it had not committed was acknowledged
                log.error("ingest worker %s did not stop within %s s; terminating it", worker.spec.client_id, timeout_s)
                worker.process.terminate()
                worker.process.join(5)
        while True:
            try:
                client_id, stats = self._results.get(timeout=0.2)
            except queue.Empty:
                break
            self.stats[client_id] = stats
        return self.stats

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

