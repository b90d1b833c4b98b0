"""The case report: a JSON document for the health authority and a FHIR R4 QuestionnaireResponse.

Both hold the subject only by pseudonymous references (case ref, patient ref) and the people
they named only as `ct-` references with relation, contact type and dates. `fhir.resources`
(R4B, wire-compatible with R4 here) checks the structure; `check_required` checks what it does
not: every enabled required item answered with the right value type, and a valid status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hal.clock import iso_utc
from missions.epi.questionnaire import (
    CONTACT_REF,
    QUESTIONNAIRE,
    QUESTIONNAIRE_URL,
    QUESTIONNAIRE_VERSION,
    YES,
    Group,
    Item,
    Prompt,
    iter_enabled,
)

QR_STATUSES = ("in-progress", "completed", "amended", "entered-in-error", "stopped")
_VALUE_KEY = {"boolean": "valueBoolean", "date": "valueDate", "decimal": "valueDecimal", "string": "valueString"}


@dataclass(frozen=True, slots=True)
class ReportContext:
    report_id: str
    robot_id: str
    mission_id: str
    case_ref: str
    patient_ref: str
    room: str
    case_reported_s: float
    interview_started_s: float | None
    interview_ended_s: float
    outcome: str  # completed, consent_refused, subject_not_responsive, interrupted
    consent: bool | None


def _value(item: Item, raw: str) -> Any:
    if item.value_type == "boolean":
        return raw == YES
    if item.value_type == "decimal":
        return float(raw)
    return raw


def _answered(prompts: Sequence[Prompt], answers: Mapping[str, str | None]) -> list[tuple[Prompt, Any]]:
    out = []
    for prompt in prompts:
        raw = answers.get(prompt.question_id)
        if raw is not None:
            out.append((prompt, _value(prompt.item, raw)))
    return out


def report_json(ctx: ReportContext, answers: Mapping[str, str | None],
                recording: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The structured case report (DOMAIN.md §5), names replaced by references."""
    a = {p.question_id: v for p, v in _answered(iter_enabled(answers), answers)}
    contacts = []
    for n in range(100):
        prefix = f"close_contact[{n}]."
        if prefix + "name" not in a:
            break
        contacts.append({"contact_ref": a[prefix + "name"], "relation": a.get(prefix + "relation"),
                         "contact_type": a.get(prefix + "contact_type"),
                         "last_contact_date": a.get(prefix + "last_date")})
    hours = (ctx.interview_ended_s - ctx.case_reported_s) / 3600.0
    return {
        "report_id": ctx.report_id,
        "report_type": "epi_case_investigation",
        "case_ref": ctx.case_ref,
        "patient_ref": ctx.patient_ref,
        "room": ctx.room,
        "robot_id": ctx.robot_id,
        "mission_id": ctx.mission_id,
        "outcome": ctx.outcome,
        "consent": ctx.consent,
        "case_reported_at": iso_utc(ctx.case_reported_s),
        "interview_started_at": iso_utc(ctx.interview_started_s) if ctx.interview_started_s is not None else None,
        "interview_ended_at": iso_utc(ctx.interview_ended_s),
        "hours_since_case_report": round(hours, 3),
        "within_24_h": hours <= 24.0,
        "onset_date": a.get("onset_date"),
        "symptoms": {
            "fever": a.get("fever"), "highest_temperature_c": a.get("highest_temp_c"), "cough": a.get("cough"),
            "sore_throat": a.get("sore_throat"), "shortness_of_breath": a.get("short_breath"),
        },
        "exposure_14_days": {
            "travel": {"travelled": a.get("travel"), "place": a.get("travel_place"),
                       "from_date": a.get("travel_from"), "to_date": a.get("travel_to")},
            "health_facility_visit": {"visited": a.get("facility_visit"), "facility": a.get("facility_name"),
                                      "date": a.get("facility_date")},
            "confirmed_case_contact": {"had_contact": a.get("confirmed_contact"),
                                       "contact_ref": a.get("confirmed_who"),
                                       "first_contact_date": a.get("confirmed_first"),
                                       "last_contact_date": a.get("confirmed_last"),
                                       "setting": a.get("confirmed_setting")},
        },
        "close_contacts": contacts,
        "unanswered": sorted(q for q, v in answers.items() if v is None),
        "recording": [dict(r) for r in recording],
    }


def questionnaire_response(ctx: ReportContext, answers: Mapping[str, str | None]) -> dict[str, Any]:
    """A FHIR R4 QuestionnaireResponse (as JSON), validated by fhir.resources (R4B)."""
    status = "completed" if ctx.outcome == "completed" else "stopped"
    items: list[dict[str, Any]] = [_fhir_item("consent", ctx.consent)] if ctx.consent is not None else []
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for prompt, value in _answered(iter_enabled(answers), answers):
        if prompt.repetition is None:
            items.append(_fhir_item(prompt.item.link_id, value, prompt.item.value_type))
            continue
        group = prompt.question_id.split("[", 1)[0]
        key = (group, prompt.repetition)
        if key not in groups:
            groups[key] = []
            items.append({"linkId": group, "item": groups[key]})  # a repeating group repeats its linkId
        groups[key].append(_fhir_item(f"{group}.{prompt.item.link_id}", value, prompt.item.value_type))
    body: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": ctx.report_id.replace("_", "-")[:64],
        "identifier": {"system": "urn:medbot:epi-report", "value": ctx.report_id},
        "questionnaire": f"{QUESTIONNAIRE_URL}|{QUESTIONNAIRE_VERSION}",
        "status": status,
        "subject": {"identifier": {"system": "urn:medbot:case", "value": ctx.case_ref},
                    "display": ctx.patient_ref},
        "authored": iso_utc(ctx.interview_ended_s),
        "author": {"identifier": {"system": "urn:medbot:robot", "value": ctx.robot_id}},
        "source": {"identifier": {"system": "urn:medbot:patient", "value": ctx.patient_ref}},
        "item": items,
    }
    # imported here, when a report is filed: its ~3 MB of FHIR models would otherwise sit in every
    # robot process (the mission catalog imports every mission module)
    from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

    return QuestionnaireResponse.model_validate(body).model_dump(mode="json", exclude_none=True)


def _fhir_item(link_id: str, value: Any, value_type: str = "boolean") -> dict[str, Any]:
    return {"linkId": link_id, "answer": [{_VALUE_KEY[value_type]: value}]}


def check_required(qr: Mapping[str, Any]) -> list[str]:
    """Problems fhir.resources does not see: status, consent, and (for a completed response) every
    item the skip logic enables given its own answers, answered with the right type; contacts
    only as ct- references."""
    problems: list[str] = []
    if qr.get("status") not in QR_STATUSES:
        problems.append(f"status {qr.get('status')!r} is not a QuestionnaireResponse status")
    answers: dict[str, str | None] = {}
    by_id: dict[str, Any] = {}
    repetition: dict[str, int] = {}
    for top in qr.get("item", []):
        if "item" in top:
            n = repetition.get(top["linkId"], 0)
            repetition[top["linkId"]] = n + 1
            for sub in top["item"]:
                field = sub["linkId"].split(".", 1)[1]
                by_id[f"{top['linkId']}[{n}].{field}"] = sub["answer"][0]
        else:
            by_id[top["linkId"]] = top["answer"][0]
    for qid, answer in by_id.items():
        value = next(iter(answer.values()))
        answers[qid] = (YES if value else "no") if isinstance(value, bool) else str(value)
    if "consent" not in by_id:
        problems.append("consent: missing")
    if qr.get("status") != "completed":
        return problems
    if by_id.get("consent") != {"valueBoolean": True}:
        problems.append("consent: a completed response needs consent given")
    for prompt in iter_enabled(answers):
        answer = by_id.get(prompt.question_id)
        key = _VALUE_KEY[prompt.item.value_type]
        if answer is None:
            if prompt.item.required:
                problems.append(f"{prompt.question_id}: required item not answered")
        elif key not in answer:
            problems.append(f"{prompt.question_id}: expected {key}, got {', '.join(answer)}")
        elif prompt.item.pseudonymous and not CONTACT_REF.match(str(answer[key])):
            problems.append(f"{prompt.question_id}: a person must be given as a ct- reference")
    return problems


def all_link_ids() -> list[str]:
    out: list[str] = ["consent"]
    for entry in QUESTIONNAIRE:
        if isinstance(entry, Group):
            out.extend(f"{entry.link_id}.{i.link_id}" for i in entry.items)
        else:
            out.append(entry.link_id)
    return out
