"""The survey's own event kinds.

`missions.events.MissionEvent` accepts only the kinds listed in `missions.events.EVENT_KINDS`,
which this robot kind does not own; `EpiEvent` is the same event, accepting these kinds too, so
every consumer (telemetry bridge, collectors, workloads) takes it as a `MissionEvent`.
"""

from __future__ import annotations

from dataclasses import dataclass

from missions import events as ev

#: data: index, ref, sha256, audio_ref, audio_sha256, start_s, end_s (no names, no transcript)
MEDIA_SEGMENT = "media.segment"
#: data: report_id, record_type "epi_case_report", case_ref, patient_ref, room, report_ref,
#: report_sha256, fhir_ref, fhir_sha256, outcome, hours_since_case_report, segments
REPORT_FILED = "report.filed"
EPI_EVENT_KINDS = frozenset({MEDIA_SEGMENT, REPORT_FILED})


@dataclass(frozen=True, slots=True)
class EpiEvent(ev.MissionEvent):
    def __post_init__(self) -> None:
        if self.kind not in EPI_EVENT_KINDS and self.kind not in ev.EVENT_KINDS:
            raise ValueError(f"unknown epi event kind {self.kind!r}; known: {sorted(EPI_EVENT_KINDS)}")
