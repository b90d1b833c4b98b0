from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from telemetry.envelope import make_envelope
from telemetry.examples import example_body, example_channels
from telemetry.topics import Channel
from telemetry.validate import (
    BODY_SCHEMAS,
    PayloadError,
    fast_validator_for,
    load_schema,
    schema_names,
    validate,
    validator_for,
)

STAMP = 1_700_000_000.5


def envelope(channel: Channel, body: dict[str, Any], robot_id: str = "r1") -> dict[str, Any]:
    return make_envelope(channel, robot_id, 3, STAMP, body)


@pytest.mark.parametrize("name", schema_names())
def test_every_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_channel_with_a_schema_has_an_example() -> None:
    assert set(example_channels()) == set(BODY_SCHEMAS)


@pytest.mark.parametrize("channel", list(BODY_SCHEMAS))
def test_good_example_passes(channel: Channel) -> None:
    validate(channel, envelope(channel, example_body(channel)))


# (channel, mutation of the example body, JSON path the error must name)
BAD_CASES: list[tuple[Channel, str, str]] = [
    (Channel.CONNECTION, "body['state'] = 'online'", "$.body.state"),
    (Channel.STATE, "body['pose']['x_m'] = '12'", "$.body.pose.x_m"),
    (Channel.STATE, "body['battery']['soc_fraction'] = 1.2", "$.body.battery.soc_fraction"),
    (Channel.STATE, "body['errors'][0]['level'] = 'ERROR'", "$.body.errors[0].level"),
    (Channel.STATE, "body['safety']['estop_latched'] = 'no'", "$.body.safety.estop_latched"),
    (Channel.STATE, "body['devices']['drive_base'] = 'fine'", "$.body.devices.drive_base"),
    (Channel.STATE, "del body['mission']", "$.body"),
    (Channel.VIZ, "body['pose'] = {'x_m': 1}", "$.body.pose"),
    (Channel.EVENTS, "body['event'] = 'Mission Started'", "$.body.event"),
    (Channel.ALERTS, "body['severity'] = 'severe'", "$.body.severity"),
    (Channel.CLINICAL, "body['patient_ref'] = 'Jane Doe'", "$.body.patient_ref"),
    (Channel.CLINICAL, "body['patient_name'] = 'Jane Doe'", "$.body"),
    (Channel.FACTSHEET, "body['capabilities'] = ['a', 'a']", "$.body.capabilities"),
]


@pytest.mark.parametrize(("channel", "mutation", "path"), BAD_CASES)
def test_bad_example_is_rejected_with_its_path(channel: Channel, mutation: str, path: str) -> None:
    body = example_body(channel)
    exec(mutation, {}, {"body": body})
    with pytest.raises(PayloadError) as info:
        validate(channel, envelope(channel, body), topic=f"medbot/v1/ward-3/r1/{channel.value}")
    err = info.value
    assert err.path == path, str(err)
    assert err.channel == channel.value
    assert f"medbot/v1/ward-3/r1/{channel.value}" in str(err) and path in str(err)


def test_nullable_fields_accept_null() -> None:
    state = example_body(Channel.STATE)
    state["mission"] = None
    validate(Channel.STATE, envelope(Channel.STATE, state))
    clinical = example_body(Channel.CLINICAL)
    clinical["news2"] = None
    validate(Channel.CLINICAL, envelope(Channel.CLINICAL, clinical))
    alert = example_body(Channel.ALERTS)
    alert["where"] = None
    validate(Channel.ALERTS, envelope(Channel.ALERTS, alert))


def test_header_is_checked_including_schema_name_of_the_channel() -> None:
    msg = envelope(Channel.VIZ, example_body(Channel.VIZ))
    msg["header"]["schema"] = "medbot.state/1"
    with pytest.raises(PayloadError, match=r"\$\.header\.schema"):
        validate(Channel.VIZ, msg)
    msg = envelope(Channel.VIZ, example_body(Channel.VIZ))
    msg["header"]["timestamp"] = "2023-11-14T22:13:20Z"
    with pytest.raises(PayloadError, match=r"\$\.header\.timestamp"):
        validate(Channel.VIZ, msg)
    msg = envelope(Channel.VIZ, example_body(Channel.VIZ))
    msg["header"]["seq"] = -1
    with pytest.raises(PayloadError, match=r"\$\.header\.seq"):
        validate(Channel.VIZ, msg)


def test_every_channel_has_a_body_schema_since_the_fleet_contract() -> None:
    # commands, commands/ack and media got theirs with the fleet contract (issue 5)
    assert set(BODY_SCHEMAS) == set(Channel)
    with pytest.raises(PayloadError, match="header"):
        validate(Channel.COMMANDS, {"header": {}, "body": {}})


def test_payload_error_is_a_value_error_and_validators_are_cached() -> None:
    assert issubclass(PayloadError, ValueError)
    assert validator_for(Channel.STATE) is validator_for(Channel.STATE)


@pytest.mark.parametrize(("channel", "mutation", "path"), BAD_CASES)
def test_fast_validator_agrees_with_jsonschema(channel: Channel, mutation: str, path: str) -> None:
    fast = fast_validator_for(channel)
    assert fast is not None, "jsonschema-rs is not installed: validation would take ~1 ms per message"
    good = envelope(channel, example_body(channel))
    assert fast.is_valid(good) and validator_for(channel).is_valid(good)
    body = example_body(channel)
    exec(mutation, {}, {"body": body})
    bad = envelope(channel, body)
    assert not fast.is_valid(bad) and not validator_for(channel).is_valid(bad)
