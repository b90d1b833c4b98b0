"""Batched PUBACKs in the spool: rows go only after their ack, in one transaction per batch, and a
process killed between the PUBACK and the batch re-sends those rows at its next start (never loses)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from telemetry import Channel, TelemetryPublisher
from telemetry.examples import example_body
from telemetry.spool import Spool
from tests.seq_watch import SeqWatch

SITE = "ward-3"
WAIT_S = 20.0


def _add(spool: Spool, channel: Channel, seq: int) -> int:
    return spool.append(channel, f"medbot/v1/s/r/{channel.value}", seq, 1, False, f"{channel.value}{seq}".encode())


def _rows_on_disk(path: Path) -> list[int]:
    """What a process starting now would find (another connection: the file, not the object's memory)."""
    db = sqlite3.connect(str(path))
    try:
        return [r for (r,) in db.execute("SELECT seq FROM spool ORDER BY id")]
    finally:
        db.close()


def _wait(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_queued_acks_stay_on_disk_until_one_flush_deletes_them_all(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", ack_flush_s=3600, ack_flush_rows=10_000)  # the flusher never fires
    rows = [_add(spool, Channel.EVENTS, i) for i in range(6)]
    for r in rows[:4]:
        spool.ack_later(r)
    assert spool.queued_acks == 4
    assert _rows_on_disk(spool.path) == [0, 1, 2, 3, 4, 5], "an ack alone deletes nothing yet"
    assert spool.flush_acks() == 4
    assert spool.ack_flushes == 1, "one transaction for the whole batch"
    assert _rows_on_disk(spool.path) == [4, 5]
    assert [m.seq for m in spool.pending()] == [4, 5]
    stats = spool.stats
    assert (stats.pending, stats.acked, spool.queued_acks) == (2, 4, 0)
    spool.close()


def test_acks_are_idempotent_and_len_counts_queued_acks_as_gone(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", ack_flush_s=3600)
    rows = [_add(spool, Channel.ALERTS, i) for i in range(3)]
    spool.ack_later(rows[0])
    spool.ack_later(rows[0])  # a rewind re-sent the row and both copies were acknowledged
    spool.ack([rows[1]])  # the immediate form flushes what was queued too
    spool.ack([rows[1]])
    assert len(spool) == 1 and spool.stats.acked == 2
    spool.ack_later(rows[2])
    assert len(spool) == 0, "len() flushes the queued acks first"
    spool.close()


def test_a_batch_with_gaps_and_out_of_order_acks_deletes_exactly_the_acknowledged_rows(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", ack_flush_s=3600)
    rows = [_add(spool, ch, i) for i, ch in enumerate([Channel.EVENTS, Channel.CLINICAL] * 5)]
    for i in (7, 0, 1, 3, 4, 5, 9, 3):  # PUBACKs out of order after a reconnect; 2, 6 and 8 still unacked
        spool.ack_later(rows[i])
    assert spool.flush_acks() == 7
    assert [m.seq for m in spool.pending()] == [2, 6, 8]
    assert spool.stats.acked == 7 and len(spool) == 3
    spool.close()


def test_the_flusher_deletes_a_batch_on_its_own_by_time_and_by_size(tmp_path: Path) -> None:
    by_time = Spool(tmp_path / "t.db", ack_flush_s=0.01, ack_flush_rows=10_000)
    rows = [_add(by_time, Channel.EVENTS, i) for i in range(50)]
    for r in rows:
        by_time.ack_later(r)
    _wait(lambda: not _rows_on_disk(by_time.path), "the timed flush")
    assert by_time.ack_flushes >= 1
    by_time.close()

    by_size = Spool(tmp_path / "n.db", ack_flush_s=3600, ack_flush_rows=20)
    rows = [_add(by_size, Channel.EVENTS, i) for i in range(30)]
    for r in rows[:20]:
        by_size.ack_later(r)  # the 20th fills the batch: flushed without waiting an hour
    _wait(lambda: len(_rows_on_disk(by_size.path)) == 10, "the flush of a full batch")
    for r in rows[20:25]:
        by_size.ack_later(r)
    assert _rows_on_disk(by_size.path) == list(range(20, 30)), "5 of 20 queued: not flushed yet"
    by_size.close()  # close writes the acks it holds: they are real PUBACKs
    assert _rows_on_disk(by_size.path) == list(range(25, 30))


def test_a_full_spool_flushes_queued_acks_before_evicting_anything(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_messages=3, ack_flush_s=3600)
    rows = [_add(spool, Channel.VIZ, i) for i in range(3)]
    spool.ack_later(rows[0])
    _add(spool, Channel.VIZ, 3)  # full, but row 0 was acknowledged: nothing is dropped
    assert [m.seq for m in spool.pending()] == [1, 2, 3]
    assert spool.stats.dropped == {}
    spool.close()


def test_a_crash_before_the_flush_leaves_the_rows_for_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = Spool(path, ack_flush_s=3600)
    rows = [_add(spool, Channel.CLINICAL, i) for i in range(4)]
    for r in rows:
        spool.ack_later(r)
    # the process dies here: what the next start finds is the file as it is
    restarted = Spool(path)
    assert [m.seq for m in restarted.pending()] == [0, 1, 2, 3]
    assert len(restarted) == 4
    restarted.close()
    spool.close()


KILLED_PUBLISHER = textwrap.dedent(
    """
    import sys, time
    from telemetry import Channel, TelemetryPublisher
    from telemetry.examples import example_body
    from telemetry.spool import Spool
    url, site, robot, path, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    spool = Spool(path, ack_flush_s=3600, ack_flush_rows=10**9)  # every ack stays queued
    pub = TelemetryPublisher(url, site, robot, spool=spool)
    pub.connect()
    body = example_body(Channel.EVENTS)
    for i in range(n):
        pub.publish(Channel.EVENTS, body, 1767571200.0 + i)
    deadline = time.monotonic() + 20
    while spool.queued_acks < n and time.monotonic() < deadline:
        time.sleep(0.01)
    print("acked" if spool.queued_acks == n else f"only {spool.queued_acks}", flush=True)
    time.sleep(60)
    """
)


@pytest.mark.integration
def test_a_publisher_killed_between_puback_and_flush_resends_those_rows_and_loses_none(
        mosquitto: Any, tmp_path: Path) -> None:
    n, robot, path = 40, "batched-ack-robot", tmp_path / "robot.spool.db"
    watch = SeqWatch(mosquitto.host, mosquitto.port, f"medbot/v1/{SITE}/{robot}/events", "batched-ack-watch")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_PUBLISHER, mosquitto.url, SITE, robot, str(path), str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == b"acked", (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else b"")
        os.kill(proc.pid, signal.SIGKILL)  # every message PUBACKed, none deleted yet
        proc.wait(WAIT_S)
        _wait(lambda: len(watch.snapshot()) >= n, "the first run's messages")
        assert watch.snapshot() == list(range(n))
        assert _rows_on_disk(path) == list(range(n)), "acknowledged but unflushed rows survive the kill"

        with TelemetryPublisher(mosquitto.url, SITE, robot, spool=path) as again:  # the restart
            assert again.spool is not None
            _wait(lambda: len(watch.snapshot()) >= 2 * n, "the replay")
            _wait(lambda: again.spool is not None and len(again.spool) == 0, "the replayed rows' acks")
        got = watch.snapshot()
        assert got == list(range(n)) + list(range(n)), "everything again, in order: duplicates, no loss"
        assert _rows_on_disk(path) == []
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(WAIT_S)
        watch.close()


@pytest.mark.integration
def test_acks_queued_at_a_clean_close_are_written_so_nothing_is_resent(mosquitto: Any, tmp_path: Path) -> None:
    path = tmp_path / "robot.spool.db"
    spool = Spool(path, ack_flush_s=3600, ack_flush_rows=10**9)
    pub = TelemetryPublisher(mosquitto.url, SITE, "batched-close-robot", spool=spool)
    pub.connect()
    for i in range(25):
        pub.publish(Channel.EVENTS, example_body(Channel.EVENTS), 1767571200.0 + i)
    _wait(lambda: spool.queued_acks == 25, "the PUBACKs")
    assert len(_rows_on_disk(path)) == 25
    pub.close()
    spool.close()
    assert _rows_on_disk(path) == []


def test_a_reused_mid_is_acked_only_by_its_own_puback_never_by_a_stale_report(tmp_path: Path) -> None:
    """paho reports a QoS 0 write through on_publish too, with a mid it hands out again after 65,535
    messages: that report must not delete the spooled QoS 1 message that later gets the same mid."""
    spool = Spool(tmp_path / "s.db", ack_flush_s=3600)
    pub = TelemetryPublisher("mqtt://127.0.0.1:1", SITE, "mid-robot", spool=spool)  # never connected
    handed: list[mqtt.MQTTMessageInfo] = []

    def fake_publish(topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> mqtt.MQTTMessageInfo:
        info = mqtt.MQTTMessageInfo(7)  # the same mid every time: a wrap in fast-forward
        handed.append(info)
        if payload == b"early":  # the network thread reports the PUBACK before publish() returned
            pub._on_publish(pub._client, None, 7, None, None)
        return info

    pub._client.publish = fake_publish  # type: ignore[method-assign,assignment]
    pub._hand_over("t/viz", b"viz", 0, False, None)  # QoS 0 with mid 7 ...
    pub._on_publish(pub._client, None, 7, None, None)  # ... its write reported after publish() returned
    row = spool.append(Channel.EVENTS, "t/events", 0, 1, False, b"e0")
    pub._hand_over("t/events", b"e0", 1, False, row)  # later, mid 7 again, QoS 1
    assert spool.queued_acks == 0, "a stale report acknowledged a message the broker never confirmed"
    pub._on_publish(pub._client, None, 7, None, None)  # its own PUBACK
    assert spool.queued_acks == 1
    early = spool.append(Channel.EVENTS, "t/events", 1, 1, False, b"early")
    pub._hand_over("t/events", b"early", 1, False, early)  # a genuine early PUBACK still counts
    assert spool.queued_acks == 2 and len(pub._inflight) == 0 and len(handed) == 3
    pub.close()
    spool.close()
    assert _rows_on_disk(tmp_path / "s.db") == []


def test_a_negative_read_limit_is_refused_not_read_as_no_limit(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    _add(spool, Channel.EVENTS, 0)
    with pytest.raises(ValueError, match="limit must be >= 0, got -1"):
        spool.rows_to_send(0, -1)
    with pytest.raises(ValueError, match="limit must be >= 0, got -1"):
        spool.pending(0, -1)
    assert spool.rows_to_send(0, 0) == []
    spool.close()
