"""Touchscreen for questions the person in front of the robot answers by touch.

A question is shown with its kind (a choice among options, free text on an on-screen keyboard,
or a date picker); the handle ends with what was entered, or with `answered=False` when nobody
answered within the question's time. A device fault fails the handle with a reason.
"""

from __future__ import annotations

import enum
import re
from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device
from hal.handle import Handle

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class AnswerKind(enum.StrEnum):
    CHOICE = "choice"  # one of `choices`
    TEXT = "text"  # free text (on-screen keyboard)
    DATE = "date"  # ISO 8601 calendar date, YYYY-MM-DD


@dataclass(frozen=True, slots=True)
class ScreenQuestion:
    question_id: str  # stable id of the question (no personal data)
    prompt: str
    answer_kind: AnswerKind
    choices: tuple[str, ...] = ()
    timeout_s: float = 60.0  # how long the screen waits for a touch

    def __post_init__(self) -> None:
        if self.answer_kind is AnswerKind.CHOICE and len(self.choices) < 2:
            raise ValueError(f"question {self.question_id!r}: a choice needs at least two choices")
        if self.timeout_s <= 0:
            raise ValueError(f"question {self.question_id!r}: timeout_s must be positive")

    def accepts(self, value: str) -> bool:
        """Whether `value` is a well-formed answer of this question's kind."""
        if self.answer_kind is AnswerKind.CHOICE:
            return value in self.choices
        if self.answer_kind is AnswerKind.DATE:
            return bool(_DATE.match(value))
        return bool(value.strip())


@dataclass(frozen=True, slots=True)
class ScreenAnswer:
    question_id: str
    answered: bool  # False: nobody touched the screen within the question's timeout
    value: str | None  # the choice, the text or the ISO date; None when not answered
    stamp_s: float


class Touchscreen(Device):
    kind = "touchscreen"

    @abstractmethod
    def start_question(self, question: ScreenQuestion) -> Handle[ScreenAnswer, str]:
        """Show the question; any question still shown is withdrawn. DeviceError on fault."""
