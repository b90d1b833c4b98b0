"""The case investigation questionnaire (WHO case report form; China CDC 流行病学调查方案) as data.

Items are asked on the touchscreen one at a time. Skip logic is `enable_when`: an item is asked
only when an earlier answer in the same scope (top level, or the same repetition of a group) has
the given value — no travel, no travel questions. The close-contact group repeats while the
subject answers "yes" to "anyone else?" (bounded). Answers are keyed by question id: the item's
link id, or `<group>[<n>].<item>` inside a repetition (n from 0).

People the subject names are never kept: a `pseudonymous` item's text is replaced by a contact
reference (`ct-` + 12 hex of an HMAC keyed by the case) the moment it is entered.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from hal.touchscreen import AnswerKind, ScreenQuestion

YES, NO = "yes", "no"
YES_NO = (YES, NO)
RELATIONS = ("household", "family", "friend", "colleague", "healthcare worker", "other")
CONTACT_TYPES = ("shared meal", "same room", "same ward", "care", "visit", "transport")
QUESTIONNAIRE_URL = "http://medbot.example/fhir/Questionnaire/epi-case-investigation"
QUESTIONNAIRE_VERSION = "1"
CONTACT_REF = re.compile(r"^ct-[0-9a-f]{12}$")


@dataclass(frozen=True, slots=True)
class Item:
    link_id: str
    text: str
    kind: AnswerKind
    value_type: str  # FHIR answer type: boolean, date, decimal, string
    choices: tuple[str, ...] = ()
    enable_when: tuple[str, str] | None = None  # (link id in the same scope, answer)
    required: bool = True
    pseudonymous: bool = False  # names a person: kept only as a ct- reference
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True, slots=True)
class Group:
    link_id: str
    text: str
    items: tuple[Item, ...]
    enable_when: tuple[str, str] | None = None
    more_link_id: str = "more"  # the item asking whether another repetition follows
    max_repeats: int = 20


def _yn(link_id: str, text: str, enable_when: tuple[str, str] | None = None) -> Item:
    return Item(link_id, text, AnswerKind.CHOICE, "boolean", YES_NO, enable_when)


def _date(link_id: str, text: str, enable_when: tuple[str, str] | None = None) -> Item:
    return Item(link_id, text, AnswerKind.DATE, "date", enable_when=enable_when)


CONSENT = _yn("consent", "I am the epidemiological survey robot. May I ask you some questions about your illness "
                         "and the people you met? The interview is recorded (video and sound) for the health "
                         "authority.")

QUESTIONNAIRE: tuple[Item | Group, ...] = (
    _date("onset_date", "On what day did your first symptoms start?"),
    _yn("fever", "Have you had a fever?"),
    Item("highest_temp_c", "What was your highest temperature (°C)?", AnswerKind.TEXT, "decimal",
         enable_when=("fever", YES), minimum=34.0, maximum=43.0),
    _yn("cough", "Have you had a cough?"),
    _yn("sore_throat", "Have you had a sore throat?"),
    _yn("short_breath", "Have you been short of breath?"),
    _yn("travel", "Did you travel in the 14 days before your symptoms started?"),
    Item("travel_place", "Where did you travel to?", AnswerKind.TEXT, "string", enable_when=("travel", YES)),
    _date("travel_from", "On what day did you leave?", ("travel", YES)),
    _date("travel_to", "On what day did you come back?", ("travel", YES)),
    _yn("facility_visit", "Did you visit a hospital, clinic or other health facility in those 14 days?"),
    Item("facility_name", "Which kind of health facility?", AnswerKind.TEXT, "string",
         enable_when=("facility_visit", YES)),
    _date("facility_date", "On what day was the visit?", ("facility_visit", YES)),
    _yn("confirmed_contact", "Were you in contact with a confirmed case in those 14 days?"),
    Item("confirmed_who", "Who was it? (name)", AnswerKind.TEXT, "string", enable_when=("confirmed_contact", YES),
         pseudonymous=True),
    _date("confirmed_first", "First day of contact?", ("confirmed_contact", YES)),
    _date("confirmed_last", "Last day of contact?", ("confirmed_contact", YES)),
    Item("confirmed_setting", "Where or how did you meet?", AnswerKind.CHOICE, "string", CONTACT_TYPES,
         ("confirmed_contact", YES)),
    _yn("close_contacts", "Since 4 days before your symptoms, were you within 1 metre of anyone?"),
    Group(
        "close_contact", "Close contact",
        (
            Item("name", "Name of the person", AnswerKind.TEXT, "string", pseudonymous=True),
            Item("relation", "How are you related?", AnswerKind.CHOICE, "string", RELATIONS),
            Item("contact_type", "Type of contact", AnswerKind.CHOICE, "string", CONTACT_TYPES),
            _date("last_date", "Last day you were together?"),
            _yn("more", "Was there anyone else?"),
        ),
        enable_when=("close_contacts", YES),
    ),
)


@dataclass(frozen=True, slots=True)
class Prompt:
    """The next question: its id (`<group>[n].<item>` inside a repetition) and its item."""

    question_id: str
    item: Item
    repetition: int | None = None

    def screen_question(self, timeout_s: float) -> ScreenQuestion:
        return ScreenQuestion(self.question_id, self.item.text, self.item.kind, self.item.choices, timeout_s)


def _enabled(rule: tuple[str, str] | None, answers: Mapping[str, str | None], prefix: str = "") -> bool:
    if rule is None:
        return True
    return answers.get(prefix + rule[0]) == rule[1]


def iter_enabled(answers: Mapping[str, str | None],
                 questionnaire: tuple[Item | Group, ...] = QUESTIONNAIRE) -> list[Prompt]:
    """Every question the skip logic enables given `answers`, in order, up to the first one not
    yet answered (inclusive). Recorded non-answers (None) count as asked."""
    out: list[Prompt] = []
    for entry in questionnaire:
        if isinstance(entry, Item):
            if _enabled(entry.enable_when, answers):
                out.append(Prompt(entry.link_id, entry))
                if entry.link_id not in answers:
                    return out
            continue
        if not _enabled(entry.enable_when, answers):
            continue
        for n in range(entry.max_repeats):
            prefix = f"{entry.link_id}[{n}]."
            for item in entry.items:
                if _enabled(item.enable_when, answers, prefix):
                    out.append(Prompt(prefix + item.link_id, item, n))
                    if prefix + item.link_id not in answers:
                        return out
            if answers.get(prefix + entry.more_link_id) != YES:
                break
    return out


def next_prompt(answers: Mapping[str, str | None]) -> Prompt | None:
    """The next question to ask, or None when the questionnaire is complete."""
    enabled = iter_enabled(answers)
    if enabled and enabled[-1].question_id not in answers:
        return enabled[-1]
    return None


def parse_answer(item: Item, value: str) -> str | None:
    """The answer as stored (normalised), or None when it does not fit the item (ask again)."""
    value = value.strip()
    if item.kind is AnswerKind.CHOICE:
        return value if value in item.choices else None
    if item.value_type == "date":
        return value if re.match(r"^\d{4}-\d{2}-\d{2}$", value) else None
    if item.value_type == "decimal":
        try:
            number = float(value.replace(",", "."))
        except ValueError:
            return None
        if (item.minimum is not None and number < item.minimum) or (item.maximum is not None and number > item.maximum):
            return None
        return f"{number:.1f}"
    return value or None


def contact_ref(case_key: str, name: str) -> str:
    """Pseudonymous reference for a person the subject named: the same person named twice in one
    case gets the same reference; the name itself is not kept anywhere."""
    normalised = " ".join(name.casefold().split())
    digest = hmac.new(case_key.encode(), normalised.encode(), hashlib.sha256).hexdigest()
    return f"ct-{digest[:12]}"
