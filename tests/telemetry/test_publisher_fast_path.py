"""The publisher's per-message fast path decides exactly as the plain path did: the envelope it checks
is make_envelope's, failures are explained by validate(), and the cached second of a timestamp never
leaks into another second."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

from telemetry.codec import MessageEncoder
from telemetry.envelope import iso_timestamp, make_envelope
from telemetry.examples import example_body
from telemetry.topics import Channel
from telemetry.validate import BODY_SCHEMAS, PayloadError, checker_for, validate

STAMP = 1_700_000_000.5


def _plain_path_error(channel: Channel, body: Any) -> tuple[str, str] | None:
    """What the publisher did before the fast path: validate(make_envelope(...)), then json.dumps."""
    try:
        validate(channel, make_envelope(channel, "r1", 0, STAMP, body))
        json.dumps(body, separators=(",", ":"), allow_nan=False)
    except PayloadError as exc:
        return exc.path, exc.reason
    except ValueError:
        return "$.body", "not JSON-encodable"
    return None


def _fast_path_error(channel: Channel, body: Any) -> tuple[str, str] | None:
    try:
        MessageEncoder("s1", "r1").prepare(channel, body, STAMP)
    except PayloadError as exc:
        return exc.path, "not JSON-encodable" if exc.reason.startswith("not JSON-encodable") else exc.reason
    return None


def _bad_variants(channel: Channel) -> list[Any]:
    body = example_body(channel)
    out: list[Any] = [{**body, "patient_name": "x"}]  # a stray field: bodies are closed
    key = next(iter(body))
    out.append({k: v for k, v in body.items() if k != key})  # a required field missing
    out.append({**body, key: None if body[key] is not None else 12})  # a wrong type
    nan = copy.deepcopy(body)
    nan["data" if "data" in nan and isinstance(nan["data"], dict) else key] = {"v": math.nan}
    out.append(nan)  # NaN: jsonschema-rs cannot take it, jsonschema accepts, the encoder rejects
    return out


@pytest.mark.parametrize("channel", [ch for ch in BODY_SCHEMAS if ch is not Channel.CONNECTION])
def test_fast_path_accepts_and_rejects_exactly_what_the_plain_path_did(channel: Channel) -> None:
    assert _fast_path_error(channel, example_body(channel)) is None
    rejected = 0
    for body in _bad_variants(channel):
        plain = _plain_path_error(channel, body)
        rejected += plain is not None
        assert _fast_path_error(channel, body) == plain, body
    assert rejected >= 3, "the stray field, the missing field and the NaN are rejected on every channel"


def test_the_checker_raises_what_validate_raises() -> None:
    bad = make_envelope(Channel.STATE, "r1", 0, STAMP, {**example_body(Channel.STATE), "battery": {"soc_fraction": 2}})
    with pytest.raises(PayloadError) as plain:
        validate(Channel.STATE, bad, topic="t")
    with pytest.raises(PayloadError) as fast:
        checker_for(Channel.STATE)(bad, "t")
    assert (fast.value.path, fast.value.reason, fast.value.topic) == (plain.value.path, plain.value.reason, "t")


def test_the_framed_message_is_byte_for_byte_the_plain_encoding() -> None:
    body = example_body(Channel.EVENTS)
    wire = MessageEncoder("s1", "r1").encode(Channel.EVENTS, body, STAMP)
    expected = json.dumps(make_envelope(Channel.EVENTS, "r1", 0, STAMP, body), separators=(",", ":"))
    assert wire.payload == expected.encode()


def test_a_cached_second_never_stamps_another_second() -> None:
    stamps = [1_700_000_000.999, 1_700_000_001.0, 1_700_000_000.5, 0.0, 1_700_000_001.25, 1_700_000_001.9999]
    assert [iso_timestamp(s) for s in stamps] == [
        "2023-11-14T22:13:20.999Z", "2023-11-14T22:13:21.000Z", "2023-11-14T22:13:20.500Z",
        "1970-01-01T00:00:00.000Z", "2023-11-14T22:13:21.250Z", "2023-11-14T22:13:21.999Z"]
    with pytest.raises(ValueError):
        iso_timestamp(math.inf)
