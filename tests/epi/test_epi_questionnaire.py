"""The questionnaire's skip logic and repeating group, pseudonymous contacts, the report and its
FHIR QuestionnaireResponse, and the segment uploader's bounded buffer."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from hal.recorder import RecordedSegment, make_segment
from missions.epi.questionnaire import QUESTIONNAIRE, Item, contact_ref, next_prompt, parse_answer
from missions.epi.report import ReportContext, check_required, questionnaire_response, report_json
from missions.epi.uploader import BufferOverflow, SegmentUploader, Sent


def _run(script: dict[str, str]) -> tuple[list[str], dict[str, str | None]]:
    """Answer every question from `script` (by id, repetition-aware); return the asked ids."""
    answers: dict[str, str | None] = {}
    asked: list[str] = []
    while (prompt := next_prompt(answers)) is not None:
        asked.append(prompt.question_id)
        field = prompt.question_id.split(".")[-1] if "[" in prompt.question_id else prompt.question_id
        key = prompt.question_id if prompt.question_id in script else field
        answers[prompt.question_id] = script.get(key)
        assert len(asked) < 200
    return asked, answers


BASE = {"onset_date": "2026-01-01", "fever": "yes", "highest_temp_c": "38.6", "cough": "no", "sore_throat": "no",
        "short_breath": "no", "travel": "no", "facility_visit": "no", "confirmed_contact": "no",
        "close_contacts": "yes", "name": "ct-000000000001", "relation": "family", "contact_type": "shared meal",
        "last_date": "2026-01-02", "more": "no"}


def test_no_travel_skips_the_travel_questions() -> None:
    asked, _ = _run(BASE)
    assert "travel" in asked and not {"travel_place", "travel_from", "travel_to"} & set(asked)
    asked_yes, _ = _run({**BASE, "travel": "yes", "travel_place": "Harbin", "travel_from": "2025-12-20",
                         "travel_to": "2025-12-24"})
    assert asked_yes.index("travel_place") == asked_yes.index("travel") + 1
    assert {"travel_from", "travel_to"} <= set(asked_yes)


def test_no_fever_skips_the_temperature() -> None:
    asked, _ = _run({**BASE, "fever": "no"})
    assert "highest_temp_c" not in asked


def test_close_contacts_repeat_while_there_is_anyone_else() -> None:
    script = {**BASE, "close_contact[0].more": "yes", "close_contact[1].more": "yes",
              "close_contact[2].more": "no"}
    asked, _ = _run(script)
    names = [q for q in asked if q.endswith(".name")]
    assert names == ["close_contact[0].name", "close_contact[1].name", "close_contact[2].name"]
    assert asked[-1] == "close_contact[2].more"
    none_asked, _ = _run({**BASE, "close_contacts": "no"})
    assert not any(q.startswith("close_contact[") for q in none_asked)


def test_answers_are_checked_against_the_item() -> None:
    temp = next(i for i in QUESTIONNAIRE if isinstance(i, Item) and i.link_id == "highest_temp_c")
    assert parse_answer(temp, "38,6") == "38.6" and parse_answer(temp, " 39 ") == "39.0"
    assert parse_answer(temp, "55") is None and parse_answer(temp, "hot") is None
    onset = next(i for i in QUESTIONNAIRE if isinstance(i, Item) and i.link_id == "onset_date")
    assert parse_answer(onset, "yesterday") is None and parse_answer(onset, "2026-01-01") == "2026-01-01"


def test_contact_refs_are_pseudonymous_and_stable_within_a_case() -> None:
    a = contact_ref("case-0001:m1", "Zhao  Lanfang")
    assert a == contact_ref("case-0001:m1", "zhao lanfang") and a.startswith("ct-") and len(a) == 15
    assert a != contact_ref("case-0002:m1", "Zhao Lanfang") and "zhao" not in a


def _ctx(outcome: str = "completed", consent: bool | None = True) -> ReportContext:
    return ReportContext("m1.report", "epi-1", "m1", "case-00abcdef", "pt-00abcd", "isolation-bed-01",
                         1767596400.0, 1767600000.0, 1767601800.0, outcome, consent)


def test_report_and_fhir_response_validate_and_required_items_are_checked() -> None:
    script = {**BASE, "close_contact[0].more": "yes", "close_contact[1].name": "ct-000000000002"}
    _, answers = _run(script)
    report = report_json(_ctx(), answers, [])
    assert [c["contact_ref"] for c in report["close_contacts"]] == ["ct-000000000001", "ct-000000000002"]
    assert report["symptoms"]["highest_temperature_c"] == 38.6 and report["hours_since_case_report"] == 1.5
    assert report["exposure_14_days"]["travel"]["travelled"] is False
    qr = questionnaire_response(_ctx(), answers)
    QuestionnaireResponse.model_validate(qr)
    assert check_required(qr) == []
    groups = [i for i in qr["item"] if i["linkId"] == "close_contact"]
    assert len(groups) == 2  # a repeating group repeats its linkId
    # a required item missing, a wrong type and a name where a reference belongs are all caught
    broken = dict(qr, item=[i for i in qr["item"] if i["linkId"] != "onset_date"])
    assert any("onset_date" in p for p in check_required(broken))
    typed = dict(qr, item=[{"linkId": "fever", "answer": [{"valueString": "yes"}]} if i["linkId"] == "fever" else i
                           for i in qr["item"]])
    assert any("fever: expected valueBoolean" in p for p in check_required(typed))
    named = dict(qr, item=[i if i["linkId"] != "close_contact" else
                           {"linkId": "close_contact", "item": [
                               {"linkId": "close_contact.name", "answer": [{"valueString": "Sun Meiling"}]},
                               *i["item"][1:]]} for i in qr["item"]])
    assert any("ct- reference" in p for p in check_required(named))
    assert any("status" in p for p in check_required(dict(qr, status="done")))


def test_refusal_report_is_stopped() -> None:
    qr = questionnaire_response(_ctx("consent_refused", False), {})
    assert qr["status"] == "stopped" and check_required(qr) == []


def _segment(i: int) -> RecordedSegment:
    return make_segment(i, i * 30.0, (i + 1) * 30.0, f"video{i}".encode(), f"audio{i}".encode(), 8000)


def test_uploader_holds_in_order_and_overflows_explicitly() -> None:
    sent: list[int] = []

    def send(seg: RecordedSegment) -> Sent:
        sent.append(seg.index)
        return Sent(seg.index, "ref", "sha")

    up = SegmentUploader(send, capacity=3)
    for i in range(3):
        up.offer(_segment(i))
        up.pump(False)
    assert sent == [] and up.buffered == 3
    with pytest.raises(BufferOverflow, match="segment 3"):
        up.offer(_segment(3))
    up.pump(True)
    assert sent == [0, 1, 2] and up.buffered == 0
    up.offer(_segment(1))  # already taken: not sent twice
    up.pump(True)
    assert sent == [0, 1, 2]
