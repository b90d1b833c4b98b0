"""Bedside patient terminal: a touchscreen with voice, on the robot, facing the patient.

It asks one question with a fixed list of choices (touch or spoken answer) and confirms hand-overs
(the patient, or a nurse at the bedside, taps "received"). Both are long operations: a handle
that succeeds with the answer — or with `answered=False` when nobody answered within the
terminal's own listening time — and fails only on a device fault. Answers are choices, never free
text, so nothing identifying is ever captured.
"""

from __future__ import annotations

import enum
from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device
from hal.handle import Handle


@dataclass(frozen=True, slots=True)
class Question:
    #: stable topic id (``pain_score``, ``meal_choice`` ...): what the answer is about
    question_id: str
    text: str
    choices: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.choices:
            raise ValueError(f"question {self.question_id!r} needs at least one choice")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"question {self.question_id!r} has repeated choices")


@dataclass(frozen=True, slots=True)
class TerminalAnswer:
    question_id: str
    answered: bool
    choice: str | None  # one of the question's choices; None when not answered
    stamp_s: float


class HandOverOutcome(enum.StrEnum):
    RECEIVED = "received"  # taken from the drawer, confirmed on the terminal
    REFUSED = "refused"  # the patient declined it
    NO_ANSWER = "no_answer"  # nobody confirmed within the terminal's listening time


@dataclass(frozen=True, slots=True)
class HandOver:
    item_ref: str
    outcome: HandOverOutcome
    confirmed_by: str | None  # "patient" or "nurse"; None unless RECEIVED
    stamp_s: float


class PatientTerminal(Device):
    kind = "patient_terminal"

    @abstractmethod
    def start_question(self, question: Question) -> Handle[TerminalAnswer, str]:
        """Show and speak the question; the handle succeeds with the answer (or no answer)."""

    @abstractmethod
    def start_hand_over(self, item_ref: str, description: str) -> Handle[HandOver, str]:
        """Ask the person at the bedside to take `description` and confirm; succeeds with the
        outcome (received / refused / no answer)."""
