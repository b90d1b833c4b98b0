"""The health data center next to a simulated run: `medbot sim` stores every message its fleet
publishes into `<report>/datacenter.db` (SQLite), in a child process of its own so the ingest does
not slow the simulation down."""

from __future__ import annotations

import contextlib
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from telemetry.child_process import ChildProcess


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
        self._child = ChildProcess(_serve, (broker_url, str(store_path), mqtt5), name="medbot-datacenter",
                                   what="data center")

    def start(self, timeout_s: float = 30.0) -> DataCenterProcess:
        self._child.start(timeout_s)
        return self

    def stop(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """Let it store what is still in flight, then stop; returns what it stored."""
        conn = self._child.conn
        result: dict[str, Any] = {"error": "data center ended without a report"}
        if conn is not None:
            try:
                conn.send("stop")
                if conn.poll(timeout_s):
                    status, detail = conn.recv()
                    result = detail if status == "done" else {"error": str(detail)}
            except (EOFError, BrokenPipeError, OSError) as exc:
                result = {"error": f"data center pipe: {exc}"}
        self._child.kill(join_s=10.0)
        return result
