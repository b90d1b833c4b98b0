"""The store, one code path on SQLite and on a real PostgreSQL server: exactly once, queries."""

from __future__ import annotations

import json

import pytest

from datacenter.store import Store, StoredMessage, iso_to_ms, ms_to_iso
from telemetry.examples import example_body


def _msg(channel: str, seq: int, ts: str = "2026-01-05T08:00:00.000Z", robot: str = "nurse-1",
         **body_changes: object) -> StoredMessage:
    return StoredMessage("general-hospital", robot, channel, seq, ts, f"medbot.{channel}/1",
                         {**example_body(channel), **body_changes}, 0)


def test_a_redelivered_message_is_stored_once_and_a_restarted_sequence_is_kept(store: Store) -> None:
    batch = [_msg("events", i) for i in range(5)] + [_msg("clinical", 0)]
    assert store.insert_batch(batch) == 6
    assert store.insert_batch(batch[2:]) == 0  # QoS 1 redelivery / spool replay
    # a robot restarted: seq from 0 again, later timestamp -> new facts
    assert store.insert_batch([_msg("events", 0, "2026-01-05T09:00:00.000Z")]) == 1
    # the journal re-emitted the same clinical record with a new seq: one clinical record still
    assert store.insert_batch([_msg("clinical", 1, "2026-01-05T09:00:01.000Z")]) == 1
    assert store.counts_by_channel() == {"clinical": 2, "events": 6}
    assert store.counts_by_channel(robot_ids=["other"]) == {}
    assert len(store.clinical_records(patient_ref="pt-3fa9c2")) == 1
    assert store.patient_refs() == ["pt-3fa9c2"]
    since = iso_to_ms("2026-01-05T08:30:00.000Z")
    assert [m.seq for m in store.messages("events", since_ms=since)] == [0]
    assert store.insert_batch([], [("medbot/v1/x", "bad", "{}", 0)]) == 0 and store.rejected_count() == 1


def test_time_helpers_round_trip() -> None:
    assert ms_to_iso(iso_to_ms("2026-01-05T08:12:30.123Z")) == "2026-01-05T08:12:30.123Z"
    with pytest.raises(ValueError):
        Store("mysql://nope")


def test_decoded_messages_keep_their_body_text_and_clinical_records_their_own_table(store: Store) -> None:
    from datacenter.ingest import decode_message

    def wire(channel: str, seq: int, body: dict[str, object]) -> tuple[str, bytes]:
        header = {"seq": seq, "timestamp": f"2026-01-05T08:00:0{seq}.500Z", "schema": f"medbot.{channel}/1",
                  "robot_id": "nurse-1"}
        # key order and spacing of this robot's own, not the data center's
        text = '{"header": ' + json.dumps(header) + ', "body": ' + json.dumps(body, indent=1) + "}"
        return f"medbot/v1/general-hospital/nurse-1/{channel}", text.encode()

    clinical_body = {**example_body("clinical"), "record_id": "rec-77"}
    wires = [wire("events", 0, example_body("events")), wire("clinical", 1, clinical_body)]
    decoded = [decode_message(topic, payload, 5)[0] for topic, payload in wires]
    good = [m for m in decoded if m is not None]
    assert len(good) == 2
    assert store.insert_batch(good) == 2
    assert store.insert_batch(good) == 0  # redelivered: nothing new
    stored = list(store.messages())
    assert [(m.channel, m.seq, m.body_text) for m in stored] == [
        ("clinical", 1, json.dumps(clinical_body, indent=1)),
        ("events", 0, json.dumps(example_body("events"), indent=1))]
    assert stored[0].stamp_ms == iso_to_ms("2026-01-05T08:00:01.500Z")
    records = store.clinical_records(patient_ref=clinical_body["patient_ref"])
    assert records == [("nurse-1", iso_to_ms("2026-01-05T08:00:01.500Z"), clinical_body)]
