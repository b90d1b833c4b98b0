from __future__ import annotations

import pytest

from telemetry.examples import example_body
from telemetry.publisher import NullSink, RecordingSink, TelemetryPublisher, TelemetrySink
from telemetry.topics import Channel
from telemetry.validate import PayloadError

STAMP = 1_700_000_000.0


def test_recording_sink_numbers_and_validates_like_the_publisher() -> None:
    sink = RecordingSink("ward-3", "r1")
    for i in range(3):
        sink.publish(Channel.STATE, example_body(Channel.STATE), STAMP + i)
    sink.publish("events", example_body(Channel.EVENTS), STAMP + 3)
    records = sink.records
    assert [(c.value, e["header"]["seq"]) for c, e in records] == [
        ("state", 0), ("state", 1), ("state", 2), ("events", 0),
    ]  # fmt: skip
    assert records[1].envelope["header"]["timestamp"] == "2023-11-14T22:13:21.000Z"
    assert sink.bodies(Channel.EVENTS) == [example_body(Channel.EVENTS)]
    assert sink.topic(Channel.STATE) == "medbot/v1/ward-3/r1/state"


def test_recording_sink_rejects_invalid_body_without_consuming_a_seq() -> None:
    sink = RecordingSink("ward-3", "r1")
    bad = example_body(Channel.STATE)
    bad["battery"]["soc_fraction"] = "full"
    with pytest.raises(PayloadError, match=r"medbot/v1/ward-3/r1/state at \$\.body\.battery\.soc_fraction"):
        sink.publish(Channel.STATE, bad, STAMP)
    sink.publish(Channel.STATE, example_body(Channel.STATE), STAMP)
    assert sink.records[0].envelope["header"]["seq"] == 0


def test_recording_sink_keeps_a_copy_not_the_callers_dict() -> None:
    sink = RecordingSink("ward-3", "r1")
    body = example_body(Channel.VIZ)
    sink.publish(Channel.VIZ, body, STAMP)
    body["pose"]["x_m"] = 999.0
    assert sink.records[0].envelope["body"]["pose"]["x_m"] == 12.5


def test_non_json_values_are_payload_errors_even_without_validation() -> None:
    sink = RecordingSink("ward-3", "r1", validate=False)
    with pytest.raises(PayloadError, match="not JSON-encodable"):
        sink.publish(Channel.EVENTS, {"data": {1, 2}}, STAMP)
    with pytest.raises(PayloadError, match="not JSON-encodable"):
        sink.publish(Channel.VIZ, {"x": float("nan")}, STAMP)
    sink.publish(Channel.COMMANDS_ACK, {"anything": 1}, STAMP)  # no schema yet: only with validate=False
    assert len(sink.records) == 1


def test_max_records_bounds_memory() -> None:
    sink = RecordingSink("ward-3", "r1", max_records=2)
    for i in range(5):
        sink.publish(Channel.VIZ, example_body(Channel.VIZ), STAMP + i)
    assert [e["header"]["seq"] for _, e in sink.records] == [3, 4]


def test_connection_channel_belongs_to_the_sink() -> None:
    for sink in (RecordingSink("ward-3", "r1"), NullSink()):
        with pytest.raises(ValueError, match="managed by the sink"):
            sink.publish(Channel.CONNECTION, {"state": "ONLINE", "session": 0}, STAMP)


def test_sinks_satisfy_the_protocol() -> None:
    null = NullSink()
    null.publish(Channel.STATE, {}, STAMP)
    assert null.count == 1
    for sink in (null, RecordingSink("w", "r")):
        assert isinstance(sink, TelemetrySink)
    assert isinstance(TelemetryPublisher("mqtt://127.0.0.1:1", "w", "r"), TelemetrySink)


def test_publisher_refuses_to_publish_before_connect_and_bad_segments_early() -> None:
    pub = TelemetryPublisher("mqtt://127.0.0.1:1", "ward-3", "r1")
    with pytest.raises(RuntimeError, match="not connected yet"):
        pub.publish(Channel.VIZ, example_body(Channel.VIZ), STAMP)
    with pytest.raises(ValueError, match="robot_id 'R 1'"):
        TelemetryPublisher("mqtt://127.0.0.1:1", "ward-3", "R 1")
    with pytest.raises(ValueError, match="scheme 'tcp'"):
        TelemetryPublisher("tcp://127.0.0.1:1883", "ward-3", "r1")


def test_connect_to_nothing_times_out_within_bound() -> None:
    import socket
    import time

    with socket.socket() as s:  # a port that refuses connections
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pub = TelemetryPublisher(f"mqtt://127.0.0.1:{port}", "ward-3", "r1", connect_timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match=f"127.0.0.1:{port}"):
        pub.connect()
    assert time.monotonic() - t0 < 3.0
