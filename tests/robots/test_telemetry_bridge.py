"""The robot's telemetry bridge: evidence goes out chunked and verifiable before its alert, and
state goes out on relevant change (not every tick) and at least every period."""

from __future__ import annotations

import base64
import hashlib
import os

from missions.events import MissionEvent
from missions.media import InMemoryMediaStore
from robots.config import kind_config_path, load_robot_config
from robots.telemetry_bridge import MEDIA_CHUNK_BYTES, TelemetryBridge
from telemetry.sinks import NullSink, RecordingSink
from telemetry.topics import Channel


def bridge() -> tuple[TelemetryBridge, RecordingSink, InMemoryMediaStore]:
    sink = RecordingSink("general-hospital", "security-1")  # validates every body against its schema
    media = InMemoryMediaStore()
    return TelemetryBridge("security-1", load_robot_config(kind_config_path("nursing")), sink, media), sink, media


def test_evidence_is_chunked_hashed_and_sent_before_its_alert():
    b, sink, media = bridge()
    jpeg = os.urandom(2 * MEDIA_CHUNK_BYTES + 1000)
    item = media.put(jpeg, content_type="image/jpeg", label="hot spot", stamp_s=1.0)
    b.on_event(MissionEvent("alert", "security-1", "patrol-1", "security_patrol", 2.0, "checkpoint", "hot spot",
                            {"alert_id": "a-1", "severity": "high", "category": "hot_spot", "summary": "hot spot",
                             "where": {"place": "plant-room", "x_m": 1.0, "y_m": 2.0}, "evidence_ref": item.ref}))
    channels = [r.channel for r in sink.records]
    assert channels == [Channel.MEDIA] * 3 + [Channel.ALERTS]
    chunks = sink.bodies(Channel.MEDIA)
    assert [c["chunk_index"] for c in chunks] == [0, 1, 2] and {c["chunk_count"] for c in chunks} == {3}
    data = b"".join(base64.b64decode(c["data_b64"]) for c in chunks)
    assert data == jpeg and hashlib.sha256(data).hexdigest() == chunks[0]["sha256"]
    assert all(hashlib.sha256(base64.b64decode(c["data_b64"])).hexdigest() == c["chunk_sha256"] for c in chunks)
    assert sink.bodies(Channel.ALERTS)[0]["evidence_ref"] == chunks[0]["media_ref"] == item.ref


def test_state_on_relevant_change_and_at_least_every_period():
    b = TelemetryBridge("nurse-a", load_robot_config(kind_config_path("nursing")), NullSink(), InMemoryMediaStore())
    sent: list[int] = []
    for tick in range(400):  # 40 s at 10 Hz; the signature changes once, at 12 s
        signature = ("running",) if tick < 120 else ("paused",)
        b.on_tick(tick * 0.1, signature, lambda: sent.append(1) or {"x": 1}, lambda: {})
    # first tick, the change at 12 s, then the 30 s heartbeat after it would be at 42 s: not yet
    assert len(sent) == 2
    for tick in range(400, 430):  # 40 s .. 43 s: the heartbeat, 30 s after the last state, at 42 s
        b.on_tick(tick * 0.1, ("paused",), lambda: sent.append(1) or {"x": 1}, lambda: {})
    assert len(sent) == 3
