"""FleetState and MediaAssembler: what the dashboard makes of telemetry, without a broker."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from dashboard.media import MediaAssembler
from dashboard.state import FleetState
from telemetry.envelope import make_envelope
from telemetry.examples import example_body
from telemetry.topics import Channel, topic_for
from telemetry.validate import validate

SITE, ROBOT = "ward-3", "rover-01"
T0 = 1767600000.0


def feed(state: FleetState, channel: Channel, body: dict[str, Any], stamp_s: float, *, retained: bool = False,
         robot: str = ROBOT, seq: int = 0) -> None:
    envelope = make_envelope(channel, robot, seq, stamp_s, body)
    validate(channel, envelope)  # the tests feed only what the contract allows
    state.ingest(topic_for(SITE, robot, channel), envelope, retained)


def state_body(x_m: float, mission: dict[str, Any] | None = None, errors: list[dict[str, Any]] | None = None
               ) -> dict[str, Any]:
    return {**example_body(Channel.STATE), "pose": {"x_m": x_m, "y_m": 2.0, "yaw_rad": 0.0, "level": 0},
            "mission": mission, "errors": errors or []}


def test_connection_states_are_distinguished_and_a_stale_will_is_ignored() -> None:
    state = FleetState()
    feed(state, Channel.CONNECTION, {"state": "ONLINE", "session": 2}, T0)
    assert state.robots[f"{SITE}/{ROBOT}"]["connection"] == "ONLINE"
    # the will of session 1, delivered late (e.g. retained), must not mark the robot broken
    feed(state, Channel.CONNECTION, {"state": "CONNECTION_BROKEN", "session": 1}, T0 - 100, retained=True)
    assert state.robots[f"{SITE}/{ROBOT}"]["connection"] == "ONLINE"
    feed(state, Channel.CONNECTION, {"state": "CONNECTION_BROKEN", "session": 2}, T0 + 1)
    assert state.robots[f"{SITE}/{ROBOT}"]["connection"] == "CONNECTION_BROKEN"
    feed(state, Channel.CONNECTION, {"state": "OFFLINE", "session": 3}, T0 + 2)
    assert state.robots[f"{SITE}/{ROBOT}"]["connection"] == "OFFLINE"


def test_an_older_state_does_not_overwrite_a_newer_one_and_last_seen_follows_the_robot() -> None:
    state = FleetState()
    feed(state, Channel.STATE, state_body(5.0), T0 + 10)
    feed(state, Channel.STATE, state_body(1.0), T0 + 5)
    robot = state.robots[f"{SITE}/{ROBOT}"]
    assert robot["pose"]["x_m"] == 5.0
    assert robot["last_seen_s"] == T0 + 10
    assert state.fleet_time_s == T0 + 10


def test_alerts_are_deduplicated_and_device_faults_and_failed_missions_become_alerts() -> None:
    state = FleetState()
    alert = {**example_body(Channel.ALERTS), "alert_id": "a-1"}
    feed(state, Channel.ALERTS, alert, T0)
    feed(state, Channel.ALERTS, alert, T0)  # QoS 1 redelivery
    feed(state, Channel.STATE, state_body(1.0, errors=[{"level": "CRITICAL", "device": "lidar", "reason": "stale"}]),
         T0 + 1)
    feed(state, Channel.STATE, state_body(1.0, errors=[{"level": "CRITICAL", "device": "lidar", "reason": "stale"}]),
         T0 + 2)  # still the same fault: no second alert
    feed(state, Channel.EVENTS, {"event": "mission.failed", "mission_id": "m-1", "mission_kind": "vitals_round",
                                 "step": "navigate", "reason": "door stuck", "data": {}}, T0 + 3)
    categories = sorted(a["category"] for a in state.alerts.values())
    assert categories == sorted([alert["category"], "device.fault", "mission.failed"])
    assert state.kpis()["missions"] == {"vitals_round": {"failed": 1}}


def test_acknowledgement_records_who_and_when_and_the_first_one_stands() -> None:
    state = FleetState()
    feed(state, Channel.ALERTS, {**example_body(Channel.ALERTS), "alert_id": "a-1"}, T0)
    key = f"{SITE}/{ROBOT}/a-1"
    first = state.acknowledge_alert(key, "op-1", "2026-01-05T07:00:00.000Z")
    second = state.acknowledge_alert(key, "op-2", "2026-01-05T07:01:00.000Z")
    assert first is not None and second is not None
    assert (first["acked_by"], first["acked_at"]) == ("op-1", "2026-01-05T07:00:00.000Z")
    assert (second["acked_by"], second["acked_at"]) == ("op-1", "2026-01-05T07:00:00.000Z")
    assert state.acknowledge_alert("nope", "op-1", "x") is None


def test_clinical_records_and_patient_refs_reach_only_the_clinical_role() -> None:
    state = FleetState()
    feed(state, Channel.CLINICAL, example_body(Channel.CLINICAL), T0)
    feed(state, Channel.ALERTS, {**example_body(Channel.ALERTS), "alert_id": "n-1",
                                 "summary": "NEWS2 7 for pt-00c0ffee at bed A-01", "data": {"news2": 7}}, T0)
    clinical = state.snapshot(clinical=True)
    other = state.snapshot(clinical=False)
    assert clinical["clinical"] and clinical["clinical"][0]["patient_ref"] == example_body(Channel.CLINICAL)[
        "patient_ref"]
    assert other["clinical"] is None
    redacted = next(a for a in other["alerts"] if a["alert_id"] == "n-1")
    assert "pt-00c0ffee" not in redacted["summary"] and redacted["data"] == {}


def test_utilisation_counts_time_on_a_mission() -> None:
    state = FleetState()
    mission = {"id": "m-1", "kind": "vitals_round", "state": "running", "step": "navigate", "progress_fraction": 0.1}
    feed(state, Channel.STATE, state_body(1.0), T0)
    feed(state, Channel.STATE, state_body(1.0, mission), T0 + 10)  # idle for those 10 s
    feed(state, Channel.STATE, state_body(1.0, mission), T0 + 40)  # busy for these 30 s
    assert state.kpis()["utilisation"] == {f"{SITE}/{ROBOT}": 0.75}


def _media_bodies(data: bytes, chunk_bytes: int) -> list[dict[str, Any]]:
    digest = hashlib.sha256(data).hexdigest()
    chunks = [data[i:i + chunk_bytes] for i in range(0, len(data), chunk_bytes)]
    return [{"media_ref": f"sha256:{digest}", "media_kind": "evidence_image", "content_type": "image/jpeg",
             "total_bytes": len(data), "sha256": digest, "chunk_index": i, "chunk_count": len(chunks),
             "chunk_sha256": hashlib.sha256(c).hexdigest(), "data_b64": base64.b64encode(c).decode(),
             "related": {}} for i, c in enumerate(chunks)]


def test_media_is_assembled_in_any_order_and_a_tampered_chunk_is_rejected() -> None:
    data = bytes(range(256)) * 40
    bodies = _media_bodies(data, 1000)
    assembler = MediaAssembler()
    results = [assembler.add_chunk(b) for b in reversed(bodies)]
    assert results[:-1] == [None] * (len(bodies) - 1)
    assert results[-1] is not None and results[-1].data == data
    assert assembler.resolve(bodies[0]["media_ref"]) is results[-1]
    assert assembler.resolve("media-" + bodies[0]["sha256"][:20]) is results[-1]  # the older short reference

    tampered = _media_bodies(b"x" * 3000, 1000)
    tampered[1]["data_b64"] = base64.b64encode(b"y" * 1000).decode()
    other = MediaAssembler()
    assert [other.add_chunk(b) for b in tampered] == [None, None, None]
    assert other.rejected == 1 and other.get(tampered[0]["sha256"]) is None


def test_evidence_arriving_after_its_alert_attaches_to_it() -> None:
    state = FleetState()
    data = b"\xff\xd8jpeg" * 100
    bodies = _media_bodies(data, 10_000)
    feed(state, Channel.ALERTS, {**example_body(Channel.ALERTS), "alert_id": "h-1",
                                 "evidence_ref": bodies[0]["media_ref"]}, T0)
    assert state.alerts[f"{SITE}/{ROBOT}/h-1"]["media_url"] is None
    feed(state, Channel.MEDIA, bodies[0], T0)
    assert state.alerts[f"{SITE}/{ROBOT}/h-1"]["media_url"] == f"/media/{bodies[0]['sha256']}"
    item = state.media_item(bodies[0]["sha256"])
    assert item is not None and item.data == data


def test_acks_of_other_consoles_commands_are_kept_apart_and_never_evict_ours() -> None:
    # under a fleet service every dispatch it makes is answered on commands/ack, which the dashboard hears
    state = FleetState(max_commands=3)
    state.record_command("dash-1", f"{SITE}/{ROBOT}", "pause", {}, "op-1", "2026-01-05T08:00:00.000Z")
    for i in range(10):
        feed(state, Channel.COMMANDS_ACK, {**example_body(Channel.COMMANDS_ACK), "command_id": f"fleet-{i}"}, T0 + i,
             seq=i)
    assert list(state.commands) == ["dash-1"] and state.commands["dash-1"]["status"] == "sent"
    assert list(state.other_commands) == ["fleet-7", "fleet-8", "fleet-9"]
    feed(state, Channel.COMMANDS_ACK, {**example_body(Channel.COMMANDS_ACK), "command_id": "dash-1",
                                       "command": "pause", "result": {}}, T0 + 20, seq=10)
    assert state.commands["dash-1"]["status"] == "ack" and "dash-1" not in state.other_commands
    snapshot = state.snapshot(clinical=False)["commands"]
    assert [(c["command_id"], c["ours"]) for c in snapshot] == [
        ("fleet-7", False), ("fleet-8", False), ("fleet-9", False), ("dash-1", True)]
