"""Turns the robot's ticks and mission events into telemetry messages, at the right rates.

State goes out on every relevant change and at least every `state_period_s`; pose for
visualisation every `viz_period_s`; mission events, alerts and clinical records as they happen,
each on its own channel (clinical data only on the clinical channel).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from missions.events import MissionEvent
from missions.media import MediaStore
from robots.config import RobotKindConfig
from telemetry.sinks import TelemetrySink
from telemetry.topics import Channel

SOFTWARE_VERSION = "0.1.0"


#: raw bytes per media chunk (base64 of it stays under the contract's 256 KiB per message)
MEDIA_CHUNK_BYTES = 192 * 1024


class TelemetryBridge:
    def __init__(self, robot_id: str, config: RobotKindConfig, sink: TelemetrySink, media: MediaStore, *,
                 task_of: Callable[[str], str | None] = lambda mission_id: None) -> None:
        self.robot_id = robot_id
        self._task_of = task_of
        self.config = config
        self.sink = sink
        self.media = media
        self._last_state_s = float("-inf")
        self._last_viz_s = float("-inf")
        self._last_signature: tuple[Any, ...] | None = None

    def publish_factsheet(self, now_s: float, extra: dict[str, Any] | None = None) -> None:
        self.sink.publish(
            Channel.FACTSHEET,
            {"kind": self.config.kind, "capabilities": list(self.config.capabilities),
             "software_version": SOFTWARE_VERSION, **(extra or {})},
            now_s,
        )

    def on_tick(
        self,
        now_s: float,
        signature: tuple[Any, ...],
        state: Callable[[], dict[str, Any]],
        viz: Callable[[], dict[str, Any]],
    ) -> None:
        """Publish state when its signature changed or the period ran out; viz at its rate.
        The bodies are built only when they are sent."""
        period = self.config.telemetry
        if signature != self._last_signature or now_s - self._last_state_s >= period.state_period_s:
            self.sink.publish(Channel.STATE, state(), now_s)
            self._last_state_s = now_s
            self._last_signature = signature
        if now_s - self._last_viz_s >= period.viz_period_s:
            self.sink.publish(Channel.VIZ, viz(), now_s)
            self._last_viz_s = now_s

    def on_event(self, event: MissionEvent) -> None:
        if event.kind == "alert":
            body = alert_body(event)
            # the evidence first, so that a consumer that sees the alert can already fetch it
            if body["evidence_ref"]:
                self.publish_media(str(body["evidence_ref"]), "evidence_image", {"alert_id": body["alert_id"]},
                                   event.stamp_s)
            self.sink.publish(Channel.ALERTS, body, event.stamp_s)
        elif event.kind == "clinical.record":
            self.sink.publish(Channel.CLINICAL, dict(event.data), event.stamp_s)
            # progress for the fleet (which bed of which task is done), without the clinical content
            self.sink.publish(Channel.EVENTS, event_body(event, data=_record_progress(event.data),
                                                         task_id=self._task_of(event.mission_id)), event.stamp_s)
        elif event.kind == "report.filed":
            # a case report is clinical data: only the clinical channel, by pseudonymous refs
            self.sink.publish(Channel.CLINICAL, case_report_record(event.data), event.stamp_s)
            self.sink.publish(Channel.EVENTS, event_body(event, data=_without_patient(event.data),
                                                         task_id=self._task_of(event.mission_id)), event.stamp_s)
        elif event.kind == "media.segment":
            # the interview recording goes up as it is made, segment by segment
            related = {"mission_id": event.mission_id}
            for key in ("ref", "audio_ref"):
                if event.data.get(key):
                    self.publish_media(str(event.data[key]), "interview_segment", related, event.stamp_s)
            self.sink.publish(Channel.EVENTS, event_body(event, task_id=self._task_of(event.mission_id)),
                              event.stamp_s)
        else:
            self.sink.publish(Channel.EVENTS, event_body(event, task_id=self._task_of(event.mission_id)),
                              event.stamp_s)


    def publish_media(self, ref: str, media_kind: str, related: dict[str, Any], stamp_s: float) -> None:
        """Chunk a stored media item onto the media channel (hash per chunk and for the whole)."""
        item = self.media.get(ref)
        if item is None:
            return
        data = item.data
        count = max(1, -(-len(data) // MEDIA_CHUNK_BYTES))
        content_type = item.content_type.split(";", 1)[0].strip().lower()
        for index in range(count):
            chunk = data[index * MEDIA_CHUNK_BYTES:(index + 1) * MEDIA_CHUNK_BYTES]
            self.sink.publish(Channel.MEDIA, {
                "media_ref": item.ref, "media_kind": media_kind, "content_type": content_type,
                "total_bytes": len(data), "sha256": item.sha256, "chunk_index": index, "chunk_count": count,
                "chunk_sha256": hashlib.sha256(chunk).hexdigest(),
                "data_b64": base64.b64encode(chunk).decode("ascii"), "related": related,
            }, stamp_s)


def event_body(event: MissionEvent, *, data: dict[str, Any] | None = None,
               task_id: str | None = None) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "event": event.kind,
        "mission_id": event.mission_id,
        "mission_kind": event.mission_kind,
        "step": event.step,
        "reason": event.reason,
        "data": dict(event.data) if data is None else data,
    }


def _record_progress(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data.get(k) for k in ("record_id", "record_type", "bed_ref")}


def _without_patient(data: dict[str, Any]) -> dict[str, Any]:
    """Events are read by every operator: patient references stay on the clinical channel."""
    return {k: v for k, v in data.items() if k not in ("patient_ref", "case_ref")}


def case_report_record(data: dict[str, Any]) -> dict[str, Any]:
    """An epidemiological case report as a clinical record (refs to the stored report and its
    FHIR QuestionnaireResponse; the contents travel on the media channel to the data center)."""
    scalars = {k: v for k, v in data.items()
               if k not in ("report_id", "record_type", "patient_ref", "room") and (v is None or isinstance(
                   v, (str, int, float, bool)))}
    return {
        "record_id": str(data["report_id"]),
        "record_type": str(data.get("record_type", "epi_case_report")),
        "patient_ref": str(data["patient_ref"]),
        "bed_ref": data.get("room"),
        "observations": scalars,
        "news2": None,
    }


def alert_body(event: MissionEvent) -> dict[str, Any]:
    data = dict(event.data)
    return {
        "alert_id": data.pop("alert_id", f"{event.mission_id}-{event.stamp_s:.0f}"),
        "severity": data.pop("severity", "info"),
        "category": data.pop("category", "mission"),
        "summary": data.pop("summary", event.reason or ""),
        "where": data.pop("where", None),
        "evidence_ref": data.pop("evidence_ref", None),
        "data": data,
    }
