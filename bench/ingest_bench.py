"""Data-center ingest into SQLite: the ingest's commit path (decode + contract check + insert_batch,
batches of 500 as the Ingestor commits them) vs raw ``executemany`` of the same rows."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import Result
from datacenter.ingest import decode_message
from datacenter.store import Store
from telemetry.codec import MessageEncoder
from telemetry.examples import example_body
from telemetry.topics import Channel

BATCH = 500


def measure(n: int = 50_000) -> list[Result]:
    channels = (Channel.EVENTS, Channel.STATE, Channel.VIZ, Channel.CLINICAL, Channel.ALERTS)
    encoders = [MessageEncoder("bench-site", f"robot-{i}") for i in range(8)]
    wires = []
    for i in range(n):
        channel = channels[i % len(channels)]
        body = dict(example_body(channel))
        if channel is Channel.CLINICAL:
            body["record_id"] = f"rec-{i:08d}"
        wires.append(encoders[i % len(encoders)].encode(channel, body, 1767571200.0 + i * 0.001))
    with tempfile.TemporaryDirectory(prefix="medbot-bench-ingest-") as tmp:
        store = Store(f"sqlite:///{tmp}/dc.db")
        started = time.perf_counter()
        stored_rows = []
        for k in range(0, n, BATCH):
            good = []
            for w in wires[k:k + BATCH]:
                msg, reason = decode_message(w.topic, w.payload, 0)
                assert msg is not None, reason
                good.append(msg)
            store.insert_batch(good)
            stored_rows.extend(good)
        ours_s = time.perf_counter() - started
        stored = store.count()
        store.close()
        # raw: the same rows, already built, into the same table shape with plain executemany
        rows = [(m.site, m.robot_id, m.channel, m.seq, m.stamp_ms, m.timestamp, m.schema,
                 json.dumps(m.body, separators=(",", ":"), sort_keys=True), m.received_ms) for m in stored_rows]
        db = sqlite3.connect(str(Path(tmp) / "raw.db"))
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, site TEXT, robot_id TEXT, "
                   "channel TEXT, seq BIGINT, stamp_ms BIGINT, timestamp TEXT, schema TEXT, body TEXT, "
                   "received_ms BIGINT, UNIQUE (site, robot_id, channel, seq, timestamp))")
        started = time.perf_counter()
        for k in range(0, n, BATCH):
            db.executemany("INSERT INTO messages (site, robot_id, channel, seq, stamp_ms, timestamp, schema, body, "
                           "received_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows[k:k + BATCH])
            db.commit()
        raw_s = time.perf_counter() - started
        db.close()
    ours, raw = n / ours_s, n / raw_s
    return [Result("data-center ingest (SQLite)", ours, "msg/s", raw, "msg/s raw executemany",
                   target=">= 10,000 msg/s and >= 0.5x raw", met=ours >= 10_000 and ours / raw >= 0.5,
                   detail={"messages": n, "stored": stored})]
