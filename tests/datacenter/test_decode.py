"""The ingest's decoding of one MQTT message: the body kept as it arrived, the contract still enforced,
and every reason for a rejection a row in ``rejected`` rather than an exception."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from datacenter.ingest import decode_message
from datacenter.store import iso_to_ms
from telemetry.examples import example_body

TOPIC = "medbot/v1/general-hospital/nurse-1/{channel}"


def _header(channel: str, seq: int = 3, ts: str = "2026-01-05T08:00:00.250Z", robot: str = "nurse-1") -> str:
    return json.dumps({"seq": seq, "timestamp": ts, "schema": f"medbot.{channel}/1", "robot_id": robot})


def test_the_body_is_kept_byte_for_byte_as_the_robot_sent_it() -> None:
    # not the encoder's canonical form: spaces, body first, keys not sorted
    body_text = json.dumps({"mission_id": "m-0007", "event": "mission.step", "step": "bed-12", "reason": None,
                            "mission_kind": "vitals_round", "data": {"z": 1, "attempt": 1}}, indent=1)
    payload = f' {{ "body" : {body_text} ,\n "header": {_header("events")} }} '.encode()
    msg, reason = decode_message(TOPIC.format(channel="events"), payload, 7)
    assert reason is None and msg is not None
    assert msg.body_text == body_text
    assert msg.body == json.loads(body_text)
    assert (msg.site, msg.robot_id, msg.channel, msg.seq, msg.schema, msg.received_ms) == (
        "general-hospital", "nurse-1", "events", 3, "medbot.events/1", 7)
    assert msg.stamp_ms == iso_to_ms("2026-01-05T08:00:00.250Z")


def test_the_compact_form_every_publisher_sends_keeps_its_body_text() -> None:
    body = example_body("clinical")
    body_text = json.dumps(body, separators=(",", ":"))
    payload = f'{{"header":{_header("clinical")},"body":{body_text}}}'.encode()
    msg, reason = decode_message(TOPIC.format(channel="clinical"), payload, 0)
    assert reason is None and msg is not None
    assert msg.body_text == body_text and msg.body == body


@pytest.mark.parametrize(("payload", "expect"), [
    (b'{"header":{},"body":{}', "not JSON"),  # truncated
    (b'{"header":{},"body":{}} trailing', "not JSON"),
    (b'\xff\xfe', "not JSON"),
    (b'[1, 2]', "invalid 'events' payload"),
])
def test_what_is_not_a_json_envelope_is_rejected_with_the_reason(payload: bytes, expect: str) -> None:
    msg, reason = decode_message(TOPIC.format(channel="events"), payload, 0)
    assert msg is None and reason is not None and expect in reason


def test_a_schema_violation_is_rejected_with_the_path_of_the_wrong_value() -> None:
    body = example_body("state")
    body["pose"]["x_m"] = "twelve"
    payload = f'{{"header":{_header("state")},"body":{json.dumps(body)}}}'.encode()
    msg, reason = decode_message(TOPIC.format(channel="state"), payload, 0)
    assert msg is None and reason is not None
    assert "$.body.pose.x_m" in reason and "nurse-1/state" in reason


def test_a_header_naming_another_robot_or_an_unknown_topic_is_rejected() -> None:
    payload = f'{{"header":{_header("events", robot="nurse-2")},"body":{json.dumps(example_body("events"))}}}'
    msg, reason = decode_message(TOPIC.format(channel="events"), payload.encode(), 0)
    assert msg is None and reason is not None and "'nurse-2' is not the topic's 'nurse-1'" in reason
    msg, reason = decode_message("medbot/v1/general-hospital/nurse-1/gossip", payload.encode(), 0)
    assert msg is None and reason is not None and reason.startswith("topic:")


def test_an_impossible_date_in_the_right_format_is_a_rejection_not_a_stuck_batch() -> None:
    # the pattern accepts month 13; the store would raise on it and the batch be retried for ever
    payload = f'{{"header":{_header("events", ts="2026-13-40T08:00:00.000Z")},' \
              f'"body":{json.dumps(example_body("events"))}}}'
    msg, reason = decode_message(TOPIC.format(channel="events"), payload.encode(), 0)
    assert msg is None and reason is not None and reason.startswith("header: ValueError")


def test_unchecked_decoding_rejects_a_message_it_could_not_store() -> None:
    # check=False skips the schema, never the fields the store needs
    no_seq = b'{"header":{"timestamp":"2026-01-05T08:00:00.000Z","schema":"x","robot_id":"nurse-1"},"body":{}}'
    msg, reason = decode_message(TOPIC.format(channel="events"), no_seq, 0, check=False)
    assert msg is None and reason is not None and "KeyError" in reason
    clinical = f'{{"header":{_header("clinical")},"body":{{"record_id":"rec-1"}}}}'.encode()
    msg, reason = decode_message(TOPIC.format(channel="clinical"), clinical, 0, check=False)
    assert msg is None and reason is not None and "record_type" in reason


@pytest.mark.parametrize("ts", ["2026-01-05T08:12:30.123Z", "2026-01-05T08:12:30.999Z", "2026-01-05T08:12:31.000Z",
                                "1999-12-31T23:59:59.001Z", "2028-02-29T00:00:00.000Z"])
def test_timestamps_in_the_contracts_form_convert_like_datetime_does(ts: str) -> None:
    expected = round(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
    assert iso_to_ms(ts) == expected
    assert iso_to_ms(ts) == expected  # second time from the per-second cache


@pytest.mark.parametrize("ts", ["2026-01-05T25:00:00.000Z", "2026-02-30T00:00:00.000Z", "2026-01-05T08:00:00.1x3Z",
                                "not a time"])
def test_an_impossible_timestamp_raises(ts: str) -> None:
    with pytest.raises(ValueError):
        iso_to_ms(ts)


def test_json_nested_too_deep_for_the_parsers_is_rejected_not_raised() -> None:
    payload = b'{"header":{},"body":' + b'[' * 100_000 + b']' * 100_000 + b'}'
    msg, reason = decode_message(TOPIC.format(channel="events"), payload, 0)
    assert msg is None and reason is not None and reason.startswith("not JSON: RecursionError")
