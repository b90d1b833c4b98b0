from __future__ import annotations

import pytest

from telemetry.topics import (
    CHANNEL_SPECS,
    Channel,
    parse_topic,
    subscription_filter,
    topic_for,
)
from telemetry.url import parse_broker_url


def test_topic_tree_is_versioned_per_robot_and_channel() -> None:
    assert topic_for("ward-3", "rover-01", Channel.STATE) == "medbot/v1/ward-3/rover-01/state"
    assert topic_for("ward-3", "rover-01", "commands/ack") == "medbot/v1/ward-3/rover-01/commands/ack"


@pytest.mark.parametrize("bad", ["", "Ward", "a/b", "a+b", "a#", "a b", "a\tb", "é", "x" * 65, "ward_3", "+", "#"])
def test_bad_site_is_rejected_naming_the_value(bad: str) -> None:
    with pytest.raises(ValueError, match="site") as info:
        topic_for(bad, "rover-01", Channel.STATE)
    if bad:
        assert repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", ["", "r/1", "r 1", "R1", "r#"])
def test_bad_robot_id_is_rejected_naming_the_value(bad: str) -> None:
    with pytest.raises(ValueError, match="robot_id"):
        topic_for("ward-3", bad, Channel.STATE)


def test_segment_of_64_chars_is_fine() -> None:
    assert topic_for("a" * 64, "b", Channel.VIZ).endswith("/viz")


def test_unknown_channel_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown channel 'telemetry'.*state"):
        topic_for("ward-3", "r1", "telemetry")


def test_qos_and_retain_table() -> None:
    assert set(CHANNEL_SPECS) == set(Channel)
    qos = {ch.value: spec.qos for ch, spec in CHANNEL_SPECS.items()}
    assert qos == {
        "connection": 1, "state": 0, "viz": 0, "events": 1, "alerts": 1,
        "clinical": 1, "factsheet": 1, "media": 1, "commands": 1, "commands/ack": 1,
        "tasks/request": 1, "tasks": 1, "traffic": 1, "census": 1,
    }  # fmt: skip
    assert {ch for ch, spec in CHANNEL_SPECS.items() if spec.retain} == {Channel.CONNECTION, Channel.FACTSHEET,
                                                                          Channel.CENSUS}


def test_parse_topic_round_trips_and_rejects_foreign_topics() -> None:
    parts = parse_topic("medbot/v1/ward-3/r1/commands/ack")
    assert (parts.site, parts.robot_id, parts.channel) == ("ward-3", "r1", Channel.COMMANDS_ACK)
    for bad in ("medbot/v2/ward-3/r1/state", "medbot/v1/ward-3/state", "medbot/v1/w/r/nope"):
        with pytest.raises(ValueError):
            parse_topic(bad)


def test_subscription_filter() -> None:
    assert subscription_filter() == "medbot/v1/+/+/#"
    assert subscription_filter("ward-3", channel=Channel.STATE) == "medbot/v1/ward-3/+/state"
    with pytest.raises(ValueError, match="site"):
        subscription_filter("ward/3")


def test_broker_url_parsing() -> None:
    a = parse_broker_url("mqtt://127.0.0.1:1884")
    assert (a.host, a.port, a.url) == ("127.0.0.1", 1884, "mqtt://127.0.0.1:1884")
    assert parse_broker_url("mqtt://broker.local").port == 1883


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("127.0.0.1:1883", "must look like"),
        ("http://h:1883", "scheme 'http'"),
        ("mqtt://:1883", "no host"),
        ("mqtt://h:notaport", "bad port"),
        ("mqtt://h:70000", "bad port"),
        ("mqtt://h:1883/x", "path"),
        ("mqtt://u:p@h:1883", "username"),
    ],
)
def test_bad_broker_url_says_what_is_wrong(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_broker_url(url)
