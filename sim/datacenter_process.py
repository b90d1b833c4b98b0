"""The health data center next to a simulated run: `medbot sim` stores every message its fleet
publishes into `<report>/datacenter.db` (SQLite), in a child process of its own so the ingest does
not slow the simulation down."""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any


def _serve(conn: Connection, broker_url: str, store_path: str, mqtt5: bool) -> None:
    from datacenter.ingest import Ingestor
    from datacenter.store import Store

    store = Store(Path(store_path))
    ingestor = Ingestor(broker_url, store, client_id="medbot-sim-datacenter", mqtt5=mqtt5)
    try:
        ingestor.start(timeout_s=20.0)
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    with contextlib.suppress(EOFError, OSError):
        conn.recv()  # "stop", or EOFError when the simulator died
    ingestor.wait_idle(timeout_s=30.0, quiet_s=1.0)
    ingestor.stop()
    stats = ingestor.stats
    result = {"stored": stats.stored, "duplicates": stats.duplicates, "rejected": stats.rejected,
              "by_channel": store.counts_by_channel()}
    store.close()
    with contextlib.suppress(BrokenPipeError, OSError):
        conn.send(("done", result))


class DataCenterProcess:
    def __init__(self, broker_url: str, store_path: Path, *, mqtt5: bool) -> None:
        self._args = (broker_url, str(store_path), mqtt5)
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    def start(self, timeout_s: float = 30.0) -> DataCenterProcess:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(child, *self._args), name="medbot-datacenter", daemon=True)
        process.start()
        child.close()
        self._process, self._conn = process, parent
        if not parent.poll(timeout_s):
            self._kill()
            raise TimeoutError(f"data center did not subscribe within {timeout_s} s")
        status, detail = parent.recv()
        if status != "ready":
            self._kill()
            raise ConnectionError(f"data center could not start: {detail}")
        return self

    def stop(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """Let it store what is still in flight, then stop; returns what it stored."""
        conn = self._conn
        result: dict[str, Any] = {"error": "data center ended without a report"}
        if conn is not None:
            try:
                conn.send("stop")
                if conn.poll(timeout_s):
                    status, detail = conn.recv()
                    result = detail if status == "done" else {"error": str(detail)}
            except (EOFError, BrokenPipeError, OSError) as exc:
                result = {"error": f"data center pipe: {exc}"}
        self._kill()
        return result

    def _kill(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if conn is not None:
            conn.close()
        if process is not None:
            process.join(10.0)
            if process.is_alive():
                process.terminate()
                process.join(2.0)
