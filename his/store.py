"""The HIS link's own database (SQLite, one file per site): census, orders, messages answered, the
results outbox.

One writer (the MLLP worker thread) and short transactions: every inbound message is applied in
one ``BEGIN IMMEDIATE`` transaction, committed before its ACK is sent, or rolled back whole (so a
bad message changes nothing). WAL, ``synchronous=FULL`` (an ACKed message survives a power cut),
and a bounded ``busy_timeout``. No column holds a patient identifier in the clear: patients are
found by a keyed hash (his/pseudonym.py); the identifier an ORU's PID-3 needs, and the queued ORUs,
are sealed with AES-GCM (his/sealing.py).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS patients (
    lookup TEXT PRIMARY KEY,          -- HMAC of the identifier under key `key_id`
    key_id TEXT NOT NULL,
    patient_ref TEXT NOT NULL UNIQUE, -- the pt- ref published for this patient
    status TEXT NOT NULL CHECK (status IN ('admitted', 'registered', 'discharged')),
    ward TEXT,
    bed TEXT UNIQUE,                  -- one patient per bed (NULL: no bed)
    prior_ward TEXT,                  -- before the last transfer or discharge (A12, A13)
    prior_bed TEXT,
    updated_s REAL NOT NULL,
    identifier_key TEXT,              -- the at-rest key id the identifier is sealed under
    identifier BLOB                   -- PID-3's identifier, sealed (his/sealing.py): for ORU PID-3 only
);
CREATE TABLE IF NOT EXISTS orders (
    order_key TEXT PRIMARY KEY,       -- HMAC of the placer order number
    task_id TEXT NOT NULL UNIQUE,
    patient_ref TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('requested', 'cancel_requested', 'cancelled')),
    fleet_state TEXT,                 -- the task's last state on the fleet's tasks topic
    request TEXT NOT NULL,            -- the tasks/request body, JSON, sent again until the fleet has it
    sent_s REAL,
    updated_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS answered (
    sender TEXT NOT NULL,             -- MSH-3/MSH-4
    control_id TEXT NOT NULL,         -- MSH-10
    digest TEXT NOT NULL,             -- keyed hash of the message's bytes
    ack BLOB NOT NULL,                -- the ACK sent: a repeat gets the same
    at_s REAL NOT NULL,
    PRIMARY KEY (sender, control_id)
);
CREATE INDEX IF NOT EXISTS answered_at ON answered (at_s);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order the ORUs go out in
    record_key TEXT NOT NULL UNIQUE,        -- <robot id>/<record id>: one observation, one entry
    control_id TEXT NOT NULL UNIQUE,        -- MSH-10, derived from record_key
    record_type TEXT NOT NULL,
    robot_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'refused', 'unsendable')),
    key_id TEXT,                            -- the at-rest key the message is sealed under
    message BLOB,                           -- the ORU (ER7), sealed: it carries PID-3
    attempts INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,                           -- AA, or AE/AR and the reason, or why it was not sent
    created_s REAL NOT NULL,
    updated_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, seq);
"""
#: from an older schema version to the next, run before the schema's own statements
_MIGRATIONS = {
    1: ("ALTER TABLE patients ADD COLUMN identifier_key TEXT", "ALTER TABLE patients ADD COLUMN identifier BLOB"),
}


class StoreError(RuntimeError):
    pass


class Store:
    """The connection (check_same_thread=False: the worker thread writes, status readers read,
    under one lock) and the transaction helper."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 5.0) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None,
                                     check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        with self.transaction() as c:
            c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = SCHEMA_VERSION if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path}: schema version {version}, this medbot expects {SCHEMA_VERSION}")
            while version < SCHEMA_VERSION:  # an older file: brought up to date, in this transaction
                for statement in _MIGRATIONS[version]:
                    c.execute(statement)
                version += 1
            # (executescript would commit on its own: the statements run one by one, inside)
            for statement in (s.strip() for s in _SCHEMA.split(";")):
                if statement:
                    c.execute(statement)
            if row is None:
                c.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                c.execute("INSERT INTO meta VALUES ('revision', '0')")
            else:
                c.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception (which propagates)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ---- answered messages (duplicates) ---------------------------------------------------------

    def answered(self, sender: str, control_id: str) -> tuple[str, bytes] | None:
        with self.reading() as c:
            row = c.execute("SELECT digest, ack FROM answered WHERE sender = ? AND control_id = ?",
                            (sender, control_id)).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    @staticmethod
    def remember(c: sqlite3.Connection, sender: str, control_id: str, digest: str, ack: bytes, now_s: float,
                 keep_s: float) -> None:
        c.execute("INSERT OR REPLACE INTO answered VALUES (?, ?, ?, ?, ?)", (sender, control_id, digest, ack, now_s))
        c.execute("DELETE FROM answered WHERE at_s < ?", (now_s - keep_s,))

    # ---- the census revision --------------------------------------------------------------------

    @staticmethod
    def bump_revision(c: sqlite3.Connection) -> int:
        row = c.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        revision = int(row[0]) + 1
        c.execute("UPDATE meta SET value = ? WHERE key = 'revision'", (str(revision),))
        return revision

    def revision(self) -> int:
        with self.reading() as c:
            return int(c.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()[0])
