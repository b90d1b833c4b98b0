"""What a mission tells the world. One frozen event type; `kind` says which.

Events never carry a patient's name: patients are named by pseudonymous references (`pt-…`) and
beds by their ids. Consumers dedupe clinical records by `record_id` and alerts by `alert_id`,
because the journal's outbox may re-emit either after a restart (never a new measurement).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

MISSION_QUEUED = "mission.queued"
MISSION_STARTED = "mission.started"
MISSION_STEP = "mission.step"
MISSION_PAUSED = "mission.paused"
MISSION_RESUMED = "mission.resumed"
MISSION_SUCCEEDED = "mission.succeeded"
MISSION_FAILED = "mission.failed"
MISSION_CANCELLED = "mission.cancelled"
MISSION_REQUEUED = "mission.requeued"
#: data: alert_id, severity (`Severity`), category ("news2", "device", "battery"), summary, where
ALERT = "alert"
#: data: record_id, record_type ("vitals"), patient_ref, bed_ref, observations, news2
CLINICAL_RECORD = "clinical.record"
#: reason says why; data: bed_ref, patient_ref
PATIENT_SKIPPED = "patient.skipped"

EVENT_KINDS = frozenset(
    {
        MISSION_QUEUED, MISSION_STARTED, MISSION_STEP, MISSION_PAUSED, MISSION_RESUMED,
        MISSION_SUCCEEDED, MISSION_FAILED, MISSION_CANCELLED, MISSION_REQUEUED,
        ALERT, CLINICAL_RECORD, PATIENT_SKIPPED,
    }
)


class Severity(enum.StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class MissionEvent:
    kind: str
    robot_id: str
    mission_id: str
    mission_kind: str
    stamp_s: float
    step: str | None = None
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown mission event kind {self.kind!r}; known: {sorted(EVENT_KINDS)}")
