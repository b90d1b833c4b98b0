"""The body encoder (msgspec for plain bodies) writes the same values the strict stdlib encoder did,
and refuses what it refused: NaN and infinity, sets, bytes, Decimals, arbitrary objects, cycles."""

from __future__ import annotations

import decimal
import enum
import json
import math
from typing import Any

import pytest

from telemetry.codec import encode_body
from telemetry.examples import example_body
from telemetry.topics import CHANNEL_SPECS, Channel


class _Level(enum.IntEnum):
    HIGH = 3


class _Ward(str):
    pass


@pytest.mark.parametrize("channel", list(CHANNEL_SPECS))
def test_every_example_body_encodes_to_the_values_the_stdlib_wrote(channel: Channel) -> None:
    body = example_body(channel)
    assert json.loads(encode_body(body)) == json.loads(json.dumps(body, allow_nan=False))


@pytest.mark.parametrize("value", [
    0.1, 1e-7, 1e16, -0.0, 5e-324, 1.7976931348623157e308, 2**63, -(2**70), "säule ✓", "\u2028", True, None,
    [1, [2.5, {"k": None}]], (1, 2), _Level.HIGH, _Ward("icu"),
])
def test_plain_and_odd_values_round_trip_exactly(value: Any) -> None:
    body = {"v": value}
    assert json.loads(encode_body(body)) == json.loads(json.dumps(body))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {1, 2}, b"x", decimal.Decimal("1.5"), object()])
def test_what_json_cannot_say_is_refused_not_rewritten(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        encode_body({"data": {"nested": [value]}})


def test_a_cycle_is_refused_by_name() -> None:
    body: dict[str, Any] = {}
    body["self"] = body
    with pytest.raises(ValueError, match="Circular reference"):
        encode_body(body)
