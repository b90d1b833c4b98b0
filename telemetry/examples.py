"""One valid body per channel with a schema: for tests, docs and consumers developing against the contract."""

from __future__ import annotations

import copy
from typing import Any

from telemetry.topics import Channel

_EXAMPLES: dict[Channel, dict[str, Any]] = {
    Channel.CONNECTION: {"state": "ONLINE", "session": 0},
    Channel.STATE: {
        "pose": {"x_m": 12.5, "y_m": -3.25, "yaw_rad": 1.571, "level": 2},
        "velocity": {"linear_mps": 0.6, "angular_radps": 0.0},
        "battery": {"soc_fraction": 0.82, "charging": False},
        "operating_mode": "automatic",
        "safety": {"state": "normal", "estop_latched": False, "reason": ""},
        "mission": {
            "id": "m-0007",
            "kind": "vitals_round",
            "state": "measuring",
            "step": "bed-12",
            "progress_fraction": 0.4,
        },
        "errors": [{"level": "WARNING", "device": "thermometer", "reason": "probe cover low"}],
        "devices": {"drive_base": "ok", "thermometer": "warning"},
    },
    Channel.VIZ: {
        "pose": {"x_m": 12.5, "y_m": -3.25, "yaw_rad": 1.571, "level": 2},
        "velocity": {"linear_mps": 0.6, "angular_radps": 0.0},
    },
    Channel.EVENTS: {
        "event": "mission.step",
        "mission_id": "m-0007",
        "mission_kind": "vitals_round",
        "step": "bed-12",
        "reason": None,
        "data": {"attempt": 1},
    },
    Channel.ALERTS: {
        "alert_id": "al-0001",
        "severity": "high",
        "category": "news2",
        "summary": "NEWS2 7 at bed-12: emergency assessment",
        "where": {"place": "bed-12", "x_m": 12.5, "y_m": -3.25, "level": 2},
        "evidence_ref": None,
        "data": {"news2_total": 7},
    },
    Channel.CLINICAL: {
        "record_id": "rec-0001",
        "record_type": "vitals",
        "patient_ref": "pt-3fa9c2",
        "bed_ref": "bed-12",
        "observations": {
            "respiration_rate_per_min": 24,
            "spo2_percent": 93,
            "on_oxygen": False,
            "consciousness": "A",
            "temperature_c": 38.4,
        },
        "news2": {"total": 7, "risk": "high", "per_parameter": {"respiration_rate": 2}, "response": "emergency"},
    },
    Channel.FACTSHEET: {
        "kind": "vitals-rover",
        "capabilities": ["navigate", "measure_vitals"],
        "software_version": "0.1.0",
    },
    Channel.COMMANDS: {
        "command_id": "cmd-0001",
        "command": "dispatch",
        "target": {"site": "ward-3", "robot_id": "rover-01"},
        "issued_by": {"user": "op-0001", "role": "operator"},
        "params": {"kind": "nursing_round", "params": {"beds": ["bed-12"]}, "priority": 60},
    },
    Channel.COMMANDS_ACK: {
        "command_id": "cmd-0001",
        "command": "dispatch",
        "status": "ack",
        "reason": None,
        "duplicate": False,
        "result": {"mission_id": "m-0008"},
    },
    Channel.TASK_REQUESTS: {
        "action": "submit",
        "issued_by": {"user": "op-0001", "role": "operator"},
        "task": {"task_id": "deliver-0001", "kind": "supply_delivery", "params": {"ward": "ward-a"},
                 "priority": 50, "robot_kinds": ["logistics"], "earliest_start": None,
                 "deadline": "2026-01-05T10:00:00.000Z", "zone": "ward-a", "place": "ward-a-store"},
    },
    Channel.TASKS: {
        "task_id": "deliver-0001", "kind": "supply_delivery", "state": "running", "priority": 50,
        "robot_kinds": ["logistics"], "zone": "ward-a", "place": "ward-a-store", "robot_id": "logistics-1",
        "mission_id": "deliver-0001", "attempts": 1, "reallocations": 0, "requested_by": "op-0001",
        "created": "2026-01-05T09:00:00.000Z", "earliest_start": None, "deadline": "2026-01-05T10:00:00.000Z",
        "started": "2026-01-05T09:01:00.000Z", "finished": None, "updated": "2026-01-05T09:01:00.000Z",
        "reason": None, "unassignable": None, "done_items": 0,
    },
    # a robot's traffic state: it holds the charger bay it stands on and waits for the lift lobby
    Channel.TRAFFIC: {
        "seq": 12, "held": ["charger:dock-ward-a"],
        "wanted": {"groups": ["door:ward-a-entrance", "lift:lift-1"], "priority": 60, "task_id": "deliver-0001",
                   "at": "ward-a-corridor-10"},
    },
    # the HIS link's census: one bed occupied, as the hospital's ADT left it
    Channel.CENSUS: {
        "revision": 42,
        "beds": [{"bed_id": "A-01", "ward": "ward-a", "patient_ref": "pt-3fa9c2d41b7e0a55"}],
    },
    Channel.MEDIA: {
        "media_ref": "sha256:" + "ab" * 32,
        "media_kind": "evidence_image",
        "content_type": "image/png",
        "total_bytes": 3,
        "sha256": "ab" * 32,
        "chunk_index": 0,
        "chunk_count": 1,
        "chunk_sha256": "cd" * 32,
        "data_b64": "AAEC",
        "related": {"alert_id": "al-0001"},
    },
}


def example_body(channel: Channel | str) -> dict[str, Any]:
    """A fresh deep copy of the example body of ``channel`` (KeyError if it has no schema yet)."""
    return copy.deepcopy(_EXAMPLES[Channel(channel)])


def example_channels() -> tuple[Channel, ...]:
    return tuple(_EXAMPLES)
