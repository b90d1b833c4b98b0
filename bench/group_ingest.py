"""A group data center's ingest: 1, 2 and 4 worker processes (`datacenter.workers`) on one MQTT 5
shared subscription through a real Mosquitto into a real PostgreSQL, against one worker.

Every run starts from the same state: the run's sessions (one per worker, persistent, subscribed to
``$share/<group>/medbot/v1/#``) exist, all offline, and the broker holds the same ``n`` QoS 1
messages of two sites' robots queued in them (Mosquitto spreads a shared subscription's messages
over its members round-robin, connected or not). Then every worker connects at one moment and the
clock runs until PostgreSQL holds all ``n`` rows. Publishing is outside the timing.

The two other baselines, measured the same way in the same run, say where the limit is:

- **broker alone**: the same sessions drained by bare paho subscribers (one process each, nothing
  done per message): what Mosquitto and the MQTT client can deliver at all;
- **database alone**: the rows the ingest wrote, written again by raw ``executemany`` into the
  store's tables (batches of 500, a commit each) from one connection.

The CPU each part used over a run (Mosquitto, the workers, PostgreSQL's server processes, the whole
machine) is in ``detail``: on this 2-core machine the answer is usually "the cores", and which part
took them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.synchronize
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.common import Mosquitto, Result
from bench.postgres import Postgres

SITES = ("north", "south")
ROBOTS_PER_SITE = 4
SESSION_EXPIRY_S = 3600
_CTX = multiprocessing.get_context("spawn")
_TICK = os.sysconf("SC_CLK_TCK")


def _wires(n: int) -> list[tuple[str, bytes]]:
    """``n`` QoS 1 messages of two sites' robots: events, clinical records, alerts (at-least-once)."""
    from bench.ingest_bench import example_wires
    from telemetry.codec import MessageEncoder
    from telemetry.topics import Channel

    encoders = [MessageEncoder(site, f"robot-{i}") for site in SITES for i in range(ROBOTS_PER_SITE)]
    channels = (Channel.EVENTS, Channel.EVENTS, Channel.CLINICAL, Channel.ALERTS)
    return [(wire.topic, wire.payload) for wire in example_wires(n, encoders, channels)]


def _client(client_id: str) -> Any:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)


def _connect_props(receive_maximum: int = 1000) -> Any:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    props.ReceiveMaximum = receive_maximum  # as the ingest asks for (twice its batch)
    return props


def _make_sessions(broker: Mosquitto, group: str, client_ids: list[str]) -> None:
    """One persistent, subscribed, offline session per client id."""
    import threading

    from paho.mqtt.subscribeoptions import SubscribeOptions

    for client_id in client_ids:
        client = _client(client_id)
        subscribed = threading.Event()
        client.on_connect = lambda c, *_: c.subscribe(f"$share/{group}/medbot/v1/#",
                                                      options=SubscribeOptions(qos=1))
        client.on_subscribe = lambda *_, done=subscribed: done.set()
        client.connect(broker.host, broker.port, clean_start=True, properties=_connect_props())
        client.loop_start()
        try:
            if not subscribed.wait(10):
                raise TimeoutError(f"{client_id}: not subscribed within 10 s")
        finally:
            client.disconnect()
            client.loop_stop()


def _preload(broker: Mosquitto, wires: list[tuple[str, bytes]]) -> None:
    """Publish every message at QoS 1 and wait (bounded) until the broker acknowledged the last."""
    client = _client(f"bench-preload-{uuid.uuid4().hex[:6]}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in wires]
    deadline = time.monotonic() + 120
    for info in infos:
        info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        if not info.is_published():
            raise TimeoutError("the broker did not acknowledge the preload within 120 s")
    client.disconnect()
    client.loop_stop()


def _drain_main(host: str, port: int, client_id: str, ready: multiprocessing.synchronize.Event,
                go: multiprocessing.synchronize.Event, stop: multiprocessing.synchronize.Event, count: Any) -> None:
    """The broker-alone consumer: take up the session, count messages (paho PUBACKs each at once)."""
    client = _client(client_id)
    received = [0]

    def on_message(_c: Any, _u: Any, _m: Any) -> None:
        received[0] += 1
        count.value = received[0]

    client.on_message = on_message
    ready.set()
    go.wait()
    client.connect(host, port, clean_start=False, properties=_connect_props())
    client.loop_start()
    stop.wait(300)
    client.disconnect()
    client.loop_stop()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _postgres_pids(pg: Postgres) -> list[int]:
    """The server's processes: the postmaster and its children (one backend per connection)."""
    try:
        master = int((pg.datadir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [master]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    pids.append(int(entry.name))
    return pids


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of every core since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


class _CpuMeter:
    """CPU seconds per part over one timed run, as shares of the wall time (1.0 = one core)."""

    def __init__(self, parts: dict[str, Callable[[], list[int]]]) -> None:
        self.parts = parts

    @contextlib.contextmanager
    def run(self) -> Iterator[dict[str, float]]:
        out: dict[str, float] = {}
        started = time.perf_counter()
        machine0 = _machine_busy()
        before = {name: {pid: _cpu_s(pid) for pid in pids()} for name, pids in self.parts.items()}
        yield out
        wall = max(1e-6, time.perf_counter() - started)
        for name, pids in self.parts.items():
            now = {pid: _cpu_s(pid) for pid in pids()}
            used = sum(now[pid] - before[name].get(pid, 0.0) for pid in now)
            out[f"cpu_{name}_cores"] = round(used / wall, 2)
        busy1, total1 = _machine_busy()
        out["machine_busy_fraction"] = round((busy1 - machine0[0]) / max(1.0, total1 - machine0[1]), 2)


def _wait_until(what: str, predicate: Callable[[], bool], timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"group ingest bench: {what} not within {timeout_s} s")
        time.sleep(0.02)
    return time.perf_counter()


def _broker_alone(broker: Mosquitto, wires: list[tuple[str, bytes]], k: int) -> tuple[float, dict[str, float]]:
    group = f"bb{uuid.uuid4().hex[:6]}"
    ids = [f"{group}-{i}" for i in range(k)]
    _make_sessions(broker, group, ids)
    _preload(broker, wires)
    go, stop = _CTX.Event(), _CTX.Event()
    readies = [_CTX.Event() for _ in ids]
    counts = [_CTX.Value("q", 0, lock=False) for _ in ids]
    procs = [_CTX.Process(target=_drain_main, args=(broker.host, broker.port, cid, r, go, stop, c))
             for cid, r, c in zip(ids, readies, counts, strict=True)]
    for p in procs:
        p.start()
    try:
        for r in readies:
            if not r.wait(60):
                raise TimeoutError("a broker-alone consumer did not start within 60 s")
        meter = _CpuMeter({"broker": lambda: [broker.pid or 0], "consumers": lambda: [p.pid or 0 for p in procs]})
        with meter.run() as cpu:
            started = time.perf_counter()
            go.set()
            done = _wait_until("broker-alone drain", lambda: sum(c.value for c in counts) >= len(wires), 300)
        return len(wires) / (done - started), cpu
    finally:
        stop.set()
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.terminate()


def _ingest(broker: Mosquitto, pg: Postgres, wires: list[tuple[str, bytes]], k: int
            ) -> tuple[float, dict[str, float], str]:
    import psycopg

    from datacenter.store import Store
    from datacenter.workers import WorkerPool, worker_specs

    store_url = pg.new_database()
    Store(store_url).close()  # the tables, before k workers race to create them
    group = f"gi{uuid.uuid4().hex[:6]}"
    specs = worker_specs(k, broker.url, store_url, client_id_prefix=group, group=group)
    _make_sessions(broker, group, [s.client_id for s in specs])
    _preload(broker, wires)
    pool = WorkerPool(specs, hold=True).start()
    try:
        with psycopg.connect(store_url, autocommit=True) as db:
            def count() -> int:
                row = db.execute("SELECT count(*) FROM messages").fetchone()
                return int(row[0]) if row else 0

            meter = _CpuMeter({"broker": lambda: [broker.pid or 0],
                               "workers": lambda: [pid or 0 for pid in pool.pids.values()],
                               "postgres": lambda: _postgres_pids(pg)})
            with meter.run() as cpu:
                started = pool.release()
                done = _wait_until(f"{k}-worker ingest", lambda: count() >= len(wires), 300)
    finally:
        pool.stop()
    return len(wires) / (done - started), cpu, store_url


def _database_alone(pg: Postgres, ingested_url: str) -> float:
    """The rows the ingest stored, written again with raw executemany into the store's own tables."""
    import psycopg

    from datacenter.store import _DDL, _TABLES

    with psycopg.connect(ingested_url) as src:
        rows = src.execute("SELECT site, robot_id, channel, seq, stamp_ms, timestamp, schema, body, received_ms "
                           "FROM messages ORDER BY id").fetchall()
        clinical = src.execute("SELECT record_id, record_type, patient_ref, site, robot_id, stamp_ms, body "
                               "FROM clinical_records").fetchall()
    target = pg.new_database()
    with psycopg.connect(target) as db:
        for statement in _TABLES.format(id=_DDL["postgresql"]).split(";"):
            if statement.strip():
                db.execute(statement)
        db.commit()
        per_batch = max(1, len(clinical) * 500 // max(1, len(rows)))
        started = time.perf_counter()
        with db.cursor() as cur:
            for b, k in enumerate(range(0, len(rows), 500)):
                cur.executemany("INSERT INTO messages (site, robot_id, channel, seq, stamp_ms, timestamp, schema, "
                                "body, received_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows[k:k + 500])
                chunk = clinical[b * per_batch:(b + 1) * per_batch]
                if chunk:
                    cur.executemany("INSERT INTO clinical_records (record_id, record_type, patient_ref, site, "
                                    "robot_id, stamp_ms, body) VALUES (%s, %s, %s, %s, %s, %s, %s)", chunk)
                db.commit()
        return len(rows) / (time.perf_counter() - started)


def measure(n: int = 40_000, workers: tuple[int, ...] = (1, 2, 4)) -> list[Result]:
    wires = _wires(n)
    broker_rate: dict[int, float] = {}
    broker_cpu: dict[int, dict[str, float]] = {}
    ingest_rate: dict[int, float] = {}
    ingest_cpu: dict[int, dict[str, float]] = {}
    # the broker queues every run's messages in memory: unlimited queue, no in-flight cap of its own
    with Mosquitto() as broker, Postgres() as pg:
        last_url = ""
        for k in workers:  # in turn, so a shared machine's load falls on both kinds alike
            broker_rate[k], broker_cpu[k] = _broker_alone(broker, wires, k)
            ingest_rate[k], ingest_cpu[k], last_url = _ingest(broker, pg, wires, k)
        database_rate = _database_alone(pg, last_url)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    base = ingest_rate[workers[0]]
    results = []
    for k in workers:
        cpu = ingest_cpu[k]
        # CPU per message of each part: what a bigger machine would run out of first (Mosquitto has
        # one thread; the workers and PostgreSQL's backends spread over cores)
        per_msg = {f"{part}_cpu_us_per_msg": round(cpu[f"cpu_{part}_cores"] / ingest_rate[k] * 1e6, 1)
                   for part in ("broker", "workers", "postgres")}
        results.append(Result(
            f"group ingest, {k} worker{'s' if k > 1 else ''} (PostgreSQL)", ingest_rate[k], "msg/s", base,
            f"msg/s {workers[0]} worker", target="scales until broker or DB limit",
            detail={"messages": n, "cores": cores, "broker_alone_msg_per_s": round(broker_rate[k]),
                    "broker_alone_cpu": broker_cpu[k], "database_alone_msg_per_s": round(database_rate),
                    "share_of_broker_alone": round(ingest_rate[k] / broker_rate[k], 2),
                    "share_of_database_alone": round(ingest_rate[k] / database_rate, 2), **cpu, **per_msg}))
    return results
