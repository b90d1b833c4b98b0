"""RCP escalation of a NEWS2 score, and the alerts a vitals round raises.

≥7 critical "emergency response"; 5–6 high "urgent review"; a single parameter scoring 3 (total
below 5) medium "inform medical team"; 1–4 recorded only (nurse assessment). An escalation the
ward already acted on for this patient (`in_force`) is not raised again at the same or a lower
level, so the team is not paged every 15 minutes for what it already knows; a rise alerts at once.
Alerts name the bed, the score and the trigger parameters, never a patient.
"""

from __future__ import annotations

from typing import Any

from missions import events as ev
from missions.clinical.news2 import News2Score

#: (lowest total, severity, response wording); a single 3 below 5 is handled apart
ESCALATION = (
    (7, ev.Severity.CRITICAL, "emergency response"),
    (5, ev.Severity.HIGH, "urgent review"),
)
SINGLE_3_ESCALATION = (ev.Severity.MEDIUM, "inform medical team")
ESCALATION_RANK = {"none": 0, "medium": 1, "high": 2, "critical": 3}


def escalation_alerts(
    record_id: str, bed_id: str, score: News2Score | None, where: dict[str, Any], *, in_force: str = "none"
) -> list[dict[str, Any]]:
    """RCP escalation: ≥7 critical, 5–6 high, a single 3 medium, 1–4 none (record only).
    Nothing new is raised when the escalation in force is already at this level or above."""
    if score is None:
        return []
    chosen: tuple[ev.Severity, str] | None = None
    for lowest, severity, wording in ESCALATION:
        if score.total >= lowest:
            chosen = (severity, wording)
            break
    if chosen is None and score.any_single_3:
        chosen = SINGLE_3_ESCALATION
    if chosen is None:
        return []
    severity, wording = chosen
    if ESCALATION_RANK[severity.value] <= ESCALATION_RANK[in_force]:
        return []
    triggers = ", ".join(f"{name} {score.per_parameter[name]}" for name in score.triggers)
    return [
        clinical_alert(
            f"{record_id}.news2", severity, "news2", where,
            f"Bed {bed_id}: NEWS2 {score.total} - {wording} (triggers: {triggers})",
            bed_ref=bed_id, record_id=record_id, score=score.total, triggers=score.triggers,
            response=score.response.value,
        )
    ]


def incomplete_record_alert(record_id: str, bed_id: str, where: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """Low "device" alert: the record is incomplete, so no NEWS2 was computed (a partial score would
    look falsely reassuring) and the nurse takes the observations by hand."""
    return clinical_alert(
        f"{record_id}.device", ev.Severity.LOW, "device", where,
        f"Bed {bed_id}: vitals incomplete ({'; '.join(problems)}); NEWS2 not computed"
        " - nurse to take the observations manually",
        bed_ref=bed_id, record_id=record_id, manual_observation_required=True,
    )


def clinical_alert(
    alert_id: str, severity: ev.Severity, category: str, where: dict[str, Any], summary: str, **extra: Any
) -> dict[str, Any]:
    """An alert's data in the telemetry contract's field order (extra fields last)."""
    return {
        "alert_id": alert_id,
        "severity": severity.value,
        "category": category,
        "summary": summary,
        "where": where,
        "evidence_ref": None,
        **extra,
    }
