"""Storage for everything the fleet sends: one thin DB-API layer over SQLite (default) and PostgreSQL.

Why not SQLAlchemy: the data center needs five statements, and the one idiom that matters —
``INSERT ... ON CONFLICT (...) DO NOTHING`` for exactly-once storage of at-least-once delivery —
is spelled the same in SQLite (>= 3.24) and PostgreSQL. The layer below only differs in the
placeholder style (``?`` vs ``%s``), the auto-increment column and how to connect, so a dozen lines
cover both, with ``sqlite3`` from the standard library and ``psycopg`` 3 for PostgreSQL, and every
query is plain SQL that a DBA can read. Same code path for both; the tests run it against both.

Uniqueness: a message is ``(site, robot_id, channel, seq, timestamp)``. A QoS 1 redelivery or a
spool replay repeats all five and is ignored; a robot process that restarted (seq from 0 again)
differs in its timestamp. Clinical records are also keyed by ``record_id`` (a robot's journal may
re-emit one after a restart, with a new seq).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(slots=True)
class StoredMessage:
    """One stored message. Not ``frozen``: a frozen dataclass's ``__init__`` costs ~5 µs here (a
    ``object.__setattr__`` per field), a quarter of the ingest's per-message work, and it could not be
    hashed anyway (``body`` is a dict); nothing changes one after it is made."""

    site: str
    robot_id: str
    channel: str
    seq: int
    timestamp: str  # as sent: ISO 8601 UTC with ms
    schema: str
    body: dict[str, Any]
    received_ms: int
    # The body's JSON text exactly as it arrived (the ingest keeps it rather than serialising the
    # parsed body again); None: ``insert_batch`` serialises ``body``.
    body_json: str | None = field(default=None, compare=False, repr=False)
    # ``timestamp`` in ms since the epoch when already known (decoded once by the ingest, read from
    # the stamp_ms column by the store); None: parsed from ``timestamp`` on demand.
    known_stamp_ms: int | None = field(default=None, compare=False, repr=False)

    @property
    def stamp_ms(self) -> int:
        return self.known_stamp_ms if self.known_stamp_ms is not None else iso_to_ms(self.timestamp)

    @property
    def body_text(self) -> str:
        """What goes into the ``body`` column."""
        if self.body_json is not None:
            return self.body_json
        return json.dumps(self.body, separators=(",", ":"), sort_keys=True)


# epoch ms of "YYYY-MM-DDTHH:MM:SS." prefixes seen lately: a fleet sends many messages per second, so
# most timestamps cost a dict look-up and an int() instead of a datetime parse
_SECOND_MS: dict[str, int] = {}
_SECOND_CACHE_MAX = 4096


def iso_to_ms(timestamp: str) -> int:
    """ms since the epoch of an ISO 8601 time (``Z`` or an offset); ValueError if it is not one."""
    if len(timestamp) == 24 and timestamp[23] == "Z" and timestamp[19] == ".":  # the contract's form
        fraction = timestamp[20:23]
        if fraction.isdigit() and fraction.isascii():
            second = timestamp[:20]
            base = _SECOND_MS.get(second)
            if base is None:
                base = round(datetime.fromisoformat(second[:19] + "+00:00").timestamp()) * 1000
                if len(_SECOND_MS) >= _SECOND_CACHE_MAX:
                    _SECOND_MS.clear()
                _SECOND_MS[second] = base
            return base + int(fraction)
    return round(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)


def ms_to_iso(stamp_ms: int) -> str:
    return datetime.fromtimestamp(stamp_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp_ms % 1000:03d}Z"


_DDL = {
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "postgresql": "BIGSERIAL PRIMARY KEY",
}
_TABLES = """
CREATE TABLE IF NOT EXISTS messages (
    id {id},
    site TEXT NOT NULL,
    robot_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    seq BIGINT NOT NULL,
    stamp_ms BIGINT NOT NULL,
    timestamp TEXT NOT NULL,
    schema TEXT NOT NULL,
    body TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    UNIQUE (site, robot_id, channel, seq, timestamp)
);
CREATE INDEX IF NOT EXISTS messages_channel ON messages (channel, robot_id, stamp_ms);
CREATE TABLE IF NOT EXISTS clinical_records (
    record_id TEXT PRIMARY KEY,
    record_type TEXT NOT NULL,
    patient_ref TEXT NOT NULL,
    site TEXT NOT NULL,
    robot_id TEXT NOT NULL,
    stamp_ms BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS clinical_patient ON clinical_records (patient_ref, stamp_ms);
CREATE TABLE IF NOT EXISTS rejected (
    id {id},
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_ms BIGINT NOT NULL
);
"""
_INSERT_MESSAGE = (
    "INSERT INTO messages (site, robot_id, channel, seq, stamp_ms, timestamp, schema, body, received_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site, robot_id, channel, seq, timestamp) DO NOTHING"
)
_INSERT_CLINICAL = (
    "INSERT INTO clinical_records (record_id, record_type, patient_ref, site, robot_id, stamp_ms, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (record_id) DO NOTHING"
)


def _message_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row[:4] + row[5:6]  # (site, robot_id, channel, seq, timestamp): the unique key


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


class Store:
    """``Store("sqlite:///path/dc.db")`` (or a bare path) or ``Store("postgresql://user@host:port/db")``.

    Thread-safe (one connection, one lock): the ingest writer and report readers may share it.
    """

    def __init__(self, url: str | Path) -> None:
        self.url = str(url)
        parts = urlsplit(self.url)
        self._lock = threading.Lock()
        self._db: Any
        if parts.scheme in ("postgresql", "postgres"):
            import psycopg

            self.dialect = "postgresql"
            self._db = psycopg.connect(self.url, autocommit=False)
        elif parts.scheme in ("sqlite", ""):
            self.dialect = "sqlite"
            path = self.url[len("sqlite:///"):] if parts.scheme == "sqlite" else self.url
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
        else:
            raise ValueError(f"store URL {self.url!r}: use sqlite:///path or postgresql://user@host:port/db")
        with self._lock:
            cur = self._db.cursor()
            for statement in _TABLES.format(id=_DDL[self.dialect]).split(";"):
                if statement.strip():
                    cur.execute(statement)
            self._db.commit()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            cur = self._db.cursor()
            cur.execute(self._sql(sql), tuple(params))
            rows = list(cur.fetchall())
            self._db.commit()  # end the read transaction (PostgreSQL would keep it open)
            return rows

    # -- writing -------------------------------------------------------------------------------

    def insert_batch(self, messages: Sequence[StoredMessage],
                     rejected: Sequence[tuple[str, str, str, int]] = ()) -> int:
        """Store a batch in one transaction; returns how many messages were new. Commits before returning."""
        rows = []
        clinical = []
        for m in messages:  # one pass: the body text and the stamp are computed once per message
            stamp_ms, body_text = m.stamp_ms, m.body_text
            rows.append((m.site, m.robot_id, m.channel, m.seq, stamp_ms, m.timestamp, m.schema, body_text,
                         m.received_ms))
            if m.channel == "clinical":
                body = m.body
                clinical.append((body["record_id"], body["record_type"], body["patient_ref"], m.site, m.robot_id,
                                 stamp_ms, body_text))
        if self.dialect == "postgresql":
            # several workers write at once: rows taken in one key order lock in one order, so two
            # batches holding the same redelivered messages wait for each other instead of deadlocking
            rows.sort(key=_message_key)
            clinical.sort(key=_first)
        with self._lock:
            try:
                cur = self._db.cursor()
                new = 0
                if rows:
                    cur.executemany(self._sql(_INSERT_MESSAGE), rows)
                    new = max(0, cur.rowcount)  # both drivers sum the rows inserted over the batch
                if clinical:
                    cur.executemany(self._sql(_INSERT_CLINICAL), clinical)
                if rejected:
                    cur.executemany(self._sql(
                        "INSERT INTO rejected (topic, reason, payload, received_ms) VALUES (?, ?, ?, ?)"), rejected)
                self._db.commit()
            except Exception:
                self._db.rollback()
                raise
        return new

    # -- reading -------------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM messages")[0][0])

    def counts_by_channel(self, *, site: str | None = None, robot_ids: Sequence[str] | None = None) -> dict[str, int]:
        sql, params = "SELECT channel, COUNT(*) FROM messages WHERE 1=1", []
        if site is not None:
            sql += " AND site = ?"
            params.append(site)
        if robot_ids is not None:
            sql += f" AND robot_id IN ({','.join('?' * len(robot_ids))})"
            params += list(robot_ids)
        return {ch: int(n) for ch, n in self._query(sql + " GROUP BY channel ORDER BY channel", params)}

    def messages(self, channel: str | None = None, *, robot_id: str | None = None, since_ms: int | None = None,
                 until_ms: int | None = None, site: str | None = None) -> Iterator[StoredMessage]:
        """Stored messages in (robot, channel, time, seq) order (robots of one id at several sites interleave
        by time: key by ``(site, robot_id)``)."""
        sql = ("SELECT site, robot_id, channel, seq, timestamp, schema, body, received_ms, stamp_ms "
               "FROM messages WHERE 1=1")
        params: list[Any] = []
        for column, value, op in (("channel", channel, "="), ("robot_id", robot_id, "="), ("site", site, "="),
                                  ("stamp_ms", since_ms, ">="), ("stamp_ms", until_ms, "<")):
            if value is not None:
                sql += f" AND {column} {op} ?"
                params.append(value)
        sql += " ORDER BY robot_id, channel, stamp_ms, seq"
        for site, rid, ch, seq, ts, schema, body, received, stamp in self._query(sql, params):
            yield StoredMessage(site, rid, ch, int(seq), ts, schema, json.loads(body), int(received), body,
                                int(stamp))

    def clinical_records(self, *, patient_ref: str | None = None, since_ms: int | None = None,
                         until_ms: int | None = None) -> list[tuple[str, int, dict[str, Any]]]:
        """``(robot_id, stamp_ms, body)`` per record, oldest first."""
        sql, params = "SELECT robot_id, stamp_ms, body FROM clinical_records WHERE 1=1", []
        for column, value, op in (("patient_ref", patient_ref, "="), ("stamp_ms", since_ms, ">="),
                                  ("stamp_ms", until_ms, "<")):
            if value is not None:
                sql += f" AND {column} {op} ?"
                params.append(value)
        rows = self._query(sql + " ORDER BY stamp_ms, record_id", params)
        return [(rid, int(stamp), json.loads(body)) for rid, stamp, body in rows]

    def sites(self) -> list[str]:
        """Every site with stored messages, sorted."""
        return [r[0] for r in self._query("SELECT DISTINCT site FROM messages ORDER BY site")]

    def patient_refs(self) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT patient_ref FROM clinical_records ORDER BY patient_ref")]

    def rejected_count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM rejected")[0][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
