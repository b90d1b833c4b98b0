from __future__ import annotations

import json
import re
import threading

import pytest

from telemetry.codec import MessageEncoder
from telemetry.envelope import (
    GapDetector,
    SequenceCounter,
    SeqVerdict,
    iso_timestamp,
    make_envelope,
    schema_name,
)
from telemetry.examples import example_body
from telemetry.topics import Channel

ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_timestamp_is_utc_iso8601_with_ms_and_z() -> None:
    assert iso_timestamp(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso_timestamp(1_700_000_000.1239) == "2023-11-14T22:13:20.123Z"
    assert iso_timestamp(1_700_000_000.9999) == "2023-11-14T22:13:20.999Z"  # truncated, never .1000
    assert ISO_MS_Z.match(iso_timestamp(1_234_567_890.5))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_timestamp_rejects_non_epoch_values(bad: float) -> None:
    with pytest.raises(ValueError, match="epoch seconds"):
        iso_timestamp(bad)


def test_schema_names() -> None:
    assert schema_name(Channel.STATE) == "medbot.state/1"
    assert schema_name("commands/ack") == "medbot.commands.ack/1"


def test_sequence_counter_is_per_key_from_zero() -> None:
    c = SequenceCounter()
    assert [c.next("a"), c.next("a"), c.next("b"), c.next("a")] == [0, 1, 0, 2]
    assert c.peek("a") == 3


def test_sequence_counter_is_thread_safe() -> None:
    c = SequenceCounter()
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [c.next("t") for _ in range(2000)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(seen) == list(range(8000))


def test_encoder_numbers_each_topic_separately_and_frames_compact_json() -> None:
    enc = MessageEncoder("ward-3", "r1")
    stamp = 1_700_000_000.25
    seqs = []
    for ch in (Channel.STATE, Channel.EVENTS, Channel.STATE, Channel.STATE, Channel.EVENTS):
        wire = enc.encode(ch, example_body(ch), stamp)
        envelope = json.loads(wire.payload)
        assert envelope == make_envelope(ch, "r1", wire.seq, stamp, example_body(ch))
        assert b" " not in wire.payload.split(b'"body"')[0]  # compact separators in the header
        seqs.append((ch.value, envelope["header"]["seq"]))
    assert seqs == [("state", 0), ("events", 0), ("state", 1), ("state", 2), ("events", 1)]
    assert envelope["header"]["timestamp"] == "2023-11-14T22:13:20.250Z"
    assert envelope["header"]["schema"] == "medbot.events/1"
    assert wire.topic == "medbot/v1/ward-3/r1/events" and (wire.qos, wire.retain) == (1, False)


def test_gap_detector_reports_gap_duplicate_and_restart() -> None:
    d = GapDetector()
    verdicts = [d.observe("t/a", s) for s in (5, 6, 9, 9, 7, 10, 0, 1)]
    assert verdicts == [
        SeqVerdict.FIRST, SeqVerdict.OK, SeqVerdict.GAP, SeqVerdict.DUPLICATE,
        SeqVerdict.DUPLICATE, SeqVerdict.OK, SeqVerdict.RESTART, SeqVerdict.OK,
    ]  # fmt: skip
    assert [(g.topic, g.expected, g.got, g.missing) for g in d.gaps] == [("t/a", 7, 9, 2)]
    assert [(x.seq, x.last) for x in d.duplicates] == [(9, 9), (7, 9)]
    assert d.restarts == ["t/a"] and d.missing_total == 2


def test_gap_detector_keeps_topics_apart() -> None:
    d = GapDetector()
    d.observe("a", 0)
    d.observe("b", 0)
    assert d.observe("a", 1) is SeqVerdict.OK
    assert d.observe_envelope("b", {"header": {"seq": 2}}) is SeqVerdict.GAP
    assert d.gaps[0].topic == "b"
