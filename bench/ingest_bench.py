"""Data-center ingest into SQLite: the ingest's commit path (decode + contract check + insert_batch,
batches of 500 as the Ingestor commits them) vs raw ``executemany`` of the same rows.

The raw baseline writes exactly what the store writes, with nothing in between: the rows the ingest
produced (message rows, and the clinical rows of the clinical messages) into the store's own tables
(``datacenter.store`` DDL: the unique key, the channel index, ``clinical_records``), plain ``INSERT``
(no ``ON CONFLICT``), one ``executemany`` per table and one commit per batch of 500 on a fresh
database of its own. The difference between the two is therefore the ingest's own work: parsing,
the contract check, building rows. The older bare figure (one ``messages`` table without its channel
index and no clinical rows, i.e. less work than the store must do) is kept in ``detail`` for
comparison with earlier runs.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Result
from datacenter.ingest import decode_message
from datacenter.store import _DDL, _TABLES, Store, StoredMessage
from telemetry.codec import MessageEncoder, WireMessage
from telemetry.examples import example_body
from telemetry.topics import Channel

BATCH = 500
_INSERT_MESSAGE = ("INSERT INTO messages (site, robot_id, channel, seq, stamp_ms, timestamp, schema, body, "
                   "received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_CLINICAL = ("INSERT INTO clinical_records (record_id, record_type, patient_ref, site, robot_id, stamp_ms, "
                    "body) VALUES (?, ?, ?, ?, ?, ?, ?)")
_BARE_TABLE = ("CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, site TEXT, robot_id TEXT, "
               "channel TEXT, seq BIGINT, stamp_ms BIGINT, timestamp TEXT, schema TEXT, body TEXT, "
               "received_ms BIGINT, UNIQUE (site, robot_id, channel, seq, timestamp))")


class _Raw:
    """A plain sqlite3 connection that stores given rows with ``executemany``, one commit per batch."""

    def __init__(self, path: Path, ddl: str) -> None:
        self.db = sqlite3.connect(str(path))
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(ddl)
        self.elapsed_s = 0.0

    def store(self, rows: list[tuple[Any, ...]], clinical: list[tuple[Any, ...]]) -> None:
        started = time.perf_counter()
        self.db.executemany(_INSERT_MESSAGE, rows)
        if clinical:
            self.db.executemany(_INSERT_CLINICAL, clinical)
        self.db.commit()
        self.elapsed_s += time.perf_counter() - started


def example_wires(n: int, encoders: list[MessageEncoder], channels: tuple[Channel, ...]) -> list[WireMessage]:
    """``n`` messages of the contract's example bodies, round-robin over the robots' encoders and the
    channels, a millisecond apart; each clinical record a record id of its own."""
    wires = []
    for i in range(n):
        channel = channels[i % len(channels)]
        body = dict(example_body(channel))
        if channel is Channel.CLINICAL:
            body["record_id"] = f"rec-{i:08d}"
        wires.append(encoders[i % len(encoders)].encode(channel, body, 1767571200.0 + i * 0.001))
    return wires


def measure(n: int = 50_000) -> list[Result]:
    channels = (Channel.EVENTS, Channel.STATE, Channel.VIZ, Channel.CLINICAL, Channel.ALERTS)
    wires = example_wires(n, [MessageEncoder("bench-site", f"robot-{i}") for i in range(8)], channels)
    clinical_rows = 0
    with tempfile.TemporaryDirectory(prefix="medbot-bench-ingest-") as tmp:
        store = Store(f"sqlite:///{tmp}/dc.db")
        raw = _Raw(Path(tmp) / "raw.db", _TABLES.format(id=_DDL["sqlite"]))
        bare = _Raw(Path(tmp) / "bare.db", _BARE_TABLE)
        ours_s = 0.0
        # batch by batch, ours then raw then bare: on a shared machine all three see the same load
        for k in range(0, n, BATCH):
            started = time.perf_counter()
            good: list[StoredMessage] = []
            for w in wires[k:k + BATCH]:
                msg, reason = decode_message(w.topic, w.payload, 0)
                assert msg is not None, reason
                good.append(msg)
            store.insert_batch(good)
            ours_s += time.perf_counter() - started
            # raw: the very rows the store wrote (same body text), built off the clock
            rows = [(m.site, m.robot_id, m.channel, m.seq, m.stamp_ms, m.timestamp, m.schema, m.body_text,
                     m.received_ms) for m in good]
            clinical = [(m.body["record_id"], m.body["record_type"], m.body["patient_ref"], m.site, m.robot_id,
                         m.stamp_ms, m.body_text) for m in good if m.channel == "clinical"]
            clinical_rows += len(clinical)
            raw.store(rows, clinical)
            bare.store(rows, [])
        stored = store.count()
        store.close()
        raw.db.close()
        bare.db.close()
    ours, raw_rate, bare_rate = n / ours_s, n / raw.elapsed_s, n / bare.elapsed_s
    return [Result("data-center ingest (SQLite)", ours, "msg/s", raw_rate, "msg/s raw executemany, store's tables",
                   target=">= 10,000 msg/s and >= 0.5x raw", met=ours >= 10_000 and ours / raw_rate >= 0.5,
                   detail={"messages": n, "stored": stored, "clinical_rows": clinical_rows,
                           "bare_table_msg_per_s": round(bare_rate),
                           "ratio_to_bare_table": round(ours / bare_rate, 3)})]
