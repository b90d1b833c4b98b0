"""Durable fleet state: every task and its assignment, the demand sources' state, the withdrawn
missions — SQLite by default, PostgreSQL by URL (the data center's store conventions).

The service changes tasks in memory during a step and commits them here in one transaction at
the end of the step, *before* it publishes the commands that step decided (persist, then send): a
`kill -9` between the two leaves a task recorded as dispatched whose command never went out, and a
restarted service sends it again under the same command and mission ids, which the robot answers
without running anything twice. SQLite runs in WAL mode with synchronous=NORMAL: a committed
transaction survives the process being killed (not a power cut, which the robots' own journals and
idempotent dispatch cover).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fleet.tasks import Task, TaskRequest, TaskState

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS fleet_tasks (
        task_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        record TEXT NOT NULL,
        updated_s DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS fleet_tasks_state ON fleet_tasks (state)",
    """CREATE TABLE IF NOT EXISTS fleet_kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
)


def _task_record(task: Task) -> str:
    data = asdict(task)
    data["request"]["robot_kinds"] = list(task.request.robot_kinds)
    data["state"] = task.state.value
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def _task_from_record(text: str) -> Task:
    data = json.loads(text)
    request = data.pop("request")
    request["robot_kinds"] = tuple(request.get("robot_kinds", ()))
    data["state"] = TaskState(data["state"])
    return Task(request=TaskRequest(**request), **data)


class TaskStore:
    """``TaskStore("sqlite:///path/fleet.db")`` (or a bare path), ``TaskStore("postgresql://...")``."""

    def __init__(self, url: str | Path) -> None:
        self.url = str(url)
        parts = urlsplit(self.url)
        self._lock = threading.Lock()
        if parts.scheme in ("postgresql", "postgres"):
            import psycopg  # only when asked for

            self.dialect = "postgresql"
            self._db: Any = psycopg.connect(self.url, autocommit=False)
        elif parts.scheme in ("", "sqlite", "file") or len(parts.scheme) == 1:  # "C:" style paths too
            path = parts.path if parts.scheme == "sqlite" else self.url
            if parts.scheme == "sqlite" and parts.netloc:
                path = parts.netloc + parts.path
            if path not in (":memory:", ""):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.dialect = "sqlite"
            self._db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        else:
            raise ValueError(f"store URL {self.url!r}: use sqlite:///path, a file path or postgresql://user@host/db")
        with self._lock:
            self._begin()
            for statement in _SCHEMA:
                self._exec(statement)
            self._commit()

    # ---- plumbing ---------------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._db.execute(self._sql(sql), params)

    def _begin(self) -> None:
        if self.dialect == "sqlite":
            self._db.execute("BEGIN")

    def _commit(self) -> None:
        self._db.commit() if self.dialect == "postgresql" else self._db.execute("COMMIT")

    # ---- tasks ------------------------------------------------------------------------------

    def save(self, tasks: Iterable[Task], kv: dict[str, Any] | None = None, *, now_s: float) -> None:
        """Write these tasks (and key/values) in one transaction."""
        rows = [(t.task_id, t.kind, t.state.value, _task_record(t), now_s) for t in tasks]
        kv_rows = [(k, json.dumps(v, separators=(",", ":"), sort_keys=True)) for k, v in sorted((kv or {}).items())]
        if not rows and not kv_rows:
            return
        upsert = ("INSERT INTO fleet_tasks (task_id, kind, state, record, updated_s) VALUES (?, ?, ?, ?, ?) "
                  "ON CONFLICT (task_id) DO UPDATE SET kind = excluded.kind, state = excluded.state, "
                  "record = excluded.record, updated_s = excluded.updated_s")
        kv_upsert = ("INSERT INTO fleet_kv (key, value) VALUES (?, ?) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        with self._lock:
            try:
                self._begin()
                if self.dialect == "sqlite":
                    self._db.executemany(upsert, rows)
                    self._db.executemany(kv_upsert, kv_rows)
                else:
                    with self._db.cursor() as cur:
                        if rows:
                            cur.executemany(self._sql(upsert), rows)
                        if kv_rows:
                            cur.executemany(self._sql(kv_upsert), kv_rows)
                self._commit()
            except Exception:
                self._db.rollback() if self.dialect == "postgresql" else self._db.execute("ROLLBACK")
                raise

    def load_tasks(self, states: Iterable[TaskState] | None = None) -> list[Task]:
        with self._lock:
            if states is None:
                rows = self._exec("SELECT record FROM fleet_tasks ORDER BY task_id").fetchall()
            else:
                wanted = [s.value for s in states]
                marks = ", ".join("?" for _ in wanted)
                rows = self._exec(f"SELECT record FROM fleet_tasks WHERE state IN ({marks}) ORDER BY task_id",
                                  wanted).fetchall()
            if self.dialect == "postgresql":
                self._db.commit()
        return [_task_from_record(r[0]) for r in rows]

    def load_kv(self) -> dict[str, Any]:
        with self._lock:
            rows = self._exec("SELECT key, value FROM fleet_kv ORDER BY key").fetchall()
            if self.dialect == "postgresql":
                self._db.commit()
        return {str(k): json.loads(v) for k, v in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
