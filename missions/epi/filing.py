"""What the survey writes down: the interview segments as they are recorded (`store_segment`), the
case report stored as JSON and as a FHIR R4 QuestionnaireResponse (`store_case_report`), the
`report.filed` record, and the alert when the robot is held inside the isolation area. Plain
functions; the mission journals and emits them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from hal.recorder import RecordedSegment
from missions import events as ev
from missions.epi.params import EpiSurveyParams
from missions.epi.questionnaire import YES
from missions.epi.report import ReportContext, questionnaire_response, report_json
from missions.epi.uploader import Sent, segment_record
from missions.media import MediaStore

#: the two ways a subject ends the survey early (the mission's failure reasons)
REFUSED, NOT_RESPONSIVE = "consent refused", "subject not responsive"


def report_context(
    mission_id: str, robot_id: str, params: EpiSurveyParams, *, interview_started_s: float | None,
    now_s: float, end_reason: str | None, consent: str | None,
) -> ReportContext:
    """What the report says about the survey itself: who, where, when, how it ended, consent."""
    outcome = {REFUSED: "consent_refused", NOT_RESPONSIVE: "subject_not_responsive", None: "completed"}.get(
        end_reason, "interrupted")
    return ReportContext(
        report_id=f"{mission_id}.report", robot_id=robot_id, mission_id=mission_id,
        case_ref=params.case_ref, patient_ref=params.patient_ref, room=params.room_place,
        case_reported_s=params.case_reported_s, interview_started_s=interview_started_s,
        interview_ended_s=now_s, outcome=outcome,
        consent={YES: True, "no": False}.get(consent or ""),
    )


def store_segment(
    media: MediaStore, case_ref: str, segment: RecordedSegment, now_s: float
) -> tuple[dict[str, Any], Sent]:
    """Store one interview segment (video, then audio); its `segment:<n>` data and the receipt."""
    label = f"epi interview {case_ref} segment {segment.index}"
    video = media.put(segment.video, content_type="video/x-msvideo", label=label, stamp_s=now_s)
    audio = media.put(segment.audio, content_type=f"audio/L16;rate={segment.audio_rate_hz}",
                      label=label + " (audio)", stamp_s=now_s)
    data = segment_record(segment)
    data.update(ref=video.ref, audio_ref=audio.ref)
    return data, Sent(segment.index, video.ref, video.sha256)


def store_case_report(
    media: MediaStore, ctx: ReportContext, case_ref: str, answers: Mapping[str, str | None],
    recording: Sequence[dict[str, Any]], now_s: float,
) -> dict[str, Any]:
    """Store both forms of the report; the `report` step's data (refs, hashes, outcome, delay)."""
    body = report_json(ctx, answers, recording)
    fhir = questionnaire_response(ctx, answers)
    label = f"epi case report {case_ref}"
    report = media.put(json.dumps(body, sort_keys=True).encode(), content_type="application/json",
                       label=label, stamp_s=now_s)
    qr = media.put(json.dumps(fhir, sort_keys=True).encode(), content_type="application/fhir+json",
                   label=f"{label} (FHIR QuestionnaireResponse)", stamp_s=now_s)
    return {"report_ref": report.ref, "report_sha256": report.sha256, "fhir_ref": qr.ref,
            "fhir_sha256": qr.sha256, "outcome": ctx.outcome,
            "hours_since_case_report": body["hours_since_case_report"]}


def filed_record(mission_id: str, params: EpiSurveyParams, segments: int, report: Mapping[str, Any]) -> dict[str, Any]:
    """The `report.filed` data (pseudonymous refs only), once every segment is delivered."""
    return {"report_id": f"{mission_id}.report", "record_type": "epi_case_report",
            "case_ref": params.case_ref, "patient_ref": params.patient_ref,
            "room": params.room_place, "segments": segments, **report}


def held_alert(mission_id: str, anteroom: str, reason: str) -> dict[str, Any]:
    """High `infection_control`: the robot stopped inside the isolation area and must be fetched."""
    return {
        "alert_id": f"{mission_id}.held", "severity": ev.Severity.HIGH.value,
        "category": "infection_control",
        "summary": f"Survey robot held in {anteroom} area ({reason}) - staff to retrieve it "
                   "and disinfect it by hand; anteroom doors never both open",
        "where": {"place": anteroom, "x_m": 0.0, "y_m": 0.0}, "evidence_ref": None,
    }
