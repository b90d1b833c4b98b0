"""The nursing inquiry: a short questionnaire on the bedside terminal, with skip logic.

Each item is asked only when its `ask_if` holds for the answers so far (no pain → no pain score;
slept well → no "what kept you awake"). Answers are choices, never free text. A pain score of
`PAIN_ALERT_SCORE` or more raises a medium alert so the nurse reassesses analgesia (a common ward
trigger for severe pain on the 0–10 numeric rating scale).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hal.patient_terminal import Question

PAIN_ALERT_SCORE = 7

Answers = Mapping[str, str | None]


@dataclass(frozen=True)
class Item:
    question: Question
    record_as: str  # the observation's name (with its unit where it has one)
    ask_if: Callable[[Answers], bool] | None = None
    song: bool = False  # part of the "play a song" offer (left out when not offered)


QUESTIONNAIRE: tuple[Item, ...] = (
    Item(Question("pain_present", "Do you have any pain right now?", ("yes", "no")), "pain_present"),
    Item(Question("pain_score", "How bad is the pain, from 0 (no pain) to 10 (worst imaginable)?",
                  tuple(str(i) for i in range(11))), "pain_score_0_10",
         ask_if=lambda a: a.get("pain_present") == "yes"),
    Item(Question("sleep", "How did you sleep last night?", ("good", "fair", "poor")), "sleep_quality"),
    Item(Question("sleep_disturbance", "What kept you awake?", ("pain", "noise", "worry", "other")),
         "sleep_disturbance", ask_if=lambda a: a.get("sleep") == "poor"),
    Item(Question("appetite", "How is your appetite?", ("good", "reduced", "none")), "appetite"),
    Item(Question("eaten_since_evening", "Have you eaten anything since yesterday evening?", ("yes", "no")),
         "eaten_since_evening", ask_if=lambda a: a.get("appetite") in ("reduced", "none")),
    Item(Question("song_offer", "Would you like me to play a song for you?", ("yes", "no")), "song_requested",
         song=True),
    Item(Question("song_genre", "What kind of music would you like?", ("calm", "classical", "folk", "pop")),
         "song_genre", ask_if=lambda a: a.get("song_offer") == "yes", song=True),
)


def next_item(answers: Answers, asked: set[str], *, offer_song: bool) -> Item | None:
    """The next question to ask, or None when the questionnaire is done."""
    for item in QUESTIONNAIRE:
        qid = item.question.question_id
        if qid in asked or (item.song and not offer_song):
            continue
        if item.ask_if is not None and not item.ask_if(answers):
            continue
        return item
    return None


def observations(answers: Answers) -> dict[str, str | int | bool | None]:
    """The answers as charted: yes/no as booleans, the pain score as an integer."""
    out: dict[str, str | int | bool | None] = {}
    for item in QUESTIONNAIRE:
        qid = item.question.question_id
        if qid not in answers:
            continue
        value = answers[qid]
        if value is not None and item.question.choices == ("yes", "no"):
            out[item.record_as] = value == "yes"
        elif value is not None and qid == "pain_score":
            out[item.record_as] = int(value)
        else:
            out[item.record_as] = value
    return out
