"""What the nursing robot's bedside missions share: going somewhere with bounded retries,
checking the wristband with re-reads, asking the terminal, authenticating a badge, and building
alerts. Plain helpers over `hal` interfaces; the missions keep their own tables."""

from __future__ import annotations

import contextlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hal.badge_reader import BadgeReader
from hal.device import DeviceError
from hal.geometry import Pose2D
from hal.patient_terminal import PatientTerminal, Question
from missions import events as ev
from missions import journey
from missions.context import MissionContext
from missions.timing import Attempts, Deadline, RetryBudget

WRISTBAND_PREFIX = "MEDBOT-PT:"
SHOW_WRISTBAND = "Please hold up your wristband so that I can read it."


class BedsideTuning(BaseModel):
    """Timeouts and retries every bedside mission takes (each a field of its params)."""

    model_config = ConfigDict(extra="forbid")
    return_to_dock: bool = True
    nav_timeout_s: float = Field(default=600.0, gt=0)
    nav_attempts: int = Field(default=3, ge=1, le=10)
    nav_retry_wait_s: float = Field(default=5.0, ge=0)
    wristband_reads: int = Field(default=3, ge=1, le=10)
    reposition_wait_s: float = Field(default=3.0, ge=0)
    answer_timeout_s: float = Field(default=60.0, gt=0)
    answer_attempts: int = Field(default=2, ge=1, le=5)


def go_to(ctx: MissionContext, place: str, tuning: BedsideTuning) -> Attempts[Any]:
    """Navigation to a named place, retried within the mission's budget."""
    navigator = ctx.devices.navigator
    if navigator is None:
        raise DeviceError("navigator", "this robot has no navigator configured")
    return journey.go_to(ctx.devices, place, nav_timeout_s=tuning.nav_timeout_s, nav_attempts=tuning.nav_attempts,
                 nav_retry_wait_s=tuning.nav_retry_wait_s)


def ask(ctx: MissionContext, question: Question, tuning: BedsideTuning) -> Attempts[Any]:
    terminal = ctx.devices.require(PatientTerminal)
    return Attempts(
        f"question {question.question_id}", lambda: terminal.start_question(question),
        timeout_s=tuning.answer_timeout_s, max_attempts=tuning.answer_attempts,
    )


def authenticate(
    ctx: MissionContext, role: str, purpose: str, *, timeout_s: float, attempts: int = 1
) -> Attempts[Any]:
    reader = ctx.devices.require(BadgeReader)
    return Attempts(
        f"{role} badge", lambda: reader.start_authentication(required_role=role, purpose=purpose),
        timeout_s=timeout_s, max_attempts=attempts,
    )


class WristbandCheck:
    """Reads the wristband up to `reads` times, prompting and waiting between reads.

    `poll` returns None while waiting, else (ok, payload_or_reason): ok with the matching payload,
    or not ok with "wristband mismatch" (another patient's band was seen) / "wristband unreadable".
    """

    def __init__(self, ctx: MissionContext, patient_ref: str, tuning: BedsideTuning) -> None:
        self._ctx = ctx
        self._expected = WRISTBAND_PREFIX + patient_ref
        self._budget = RetryBudget(tuning.wristband_reads)
        self._wait_s = tuning.reposition_wait_s
        self._next: Deadline | None = None
        self._saw_other = False

    def poll(self, now_s: float) -> tuple[bool, str] | None:
        if self._next is not None and not self._next.expired(now_s):
            return None
        self._budget.take()
        reader = self._ctx.devices.tag_reader
        if reader is None:
            raise DeviceError("tag_reader", "this robot has no tag reader configured")
        try:
            payload = reader.read_tag().payload
        except DeviceError:
            payload = None
        if payload == self._expected:
            return True, payload
        self._saw_other = self._saw_other or payload is not None
        if self._budget.exhausted:
            return False, "wristband mismatch" if self._saw_other else "wristband unreadable"
        say(self._ctx, SHOW_WRISTBAND)
        self._next = Deadline.after(now_s, self._wait_s)
        return None


def say(ctx: MissionContext, text: str) -> None:
    speaker = ctx.devices.speaker
    if speaker is not None:
        with contextlib.suppress(DeviceError):  # a courtesy prompt; the mission goes on without it
            speaker.say(text)


def where(ctx: MissionContext, place: str, pose: Pose2D | None = None) -> dict[str, Any]:
    if pose is None and ctx.devices.drive_base is not None:
        try:
            pose = ctx.devices.drive_base.odometry().pose
        except DeviceError:
            pose = None
    out: dict[str, Any] = {"place": place, "x_m": 0.0, "y_m": 0.0}
    if pose is not None:
        out.update(x_m=round(pose.x_m, 3), y_m=round(pose.y_m, 3), level=pose.level)
    return out


def alert(
    alert_id: str, severity: ev.Severity, category: str, where_: dict[str, Any], summary: str, **extra: Any
) -> dict[str, Any]:
    return {"alert_id": alert_id, "severity": severity.value, "category": category, "summary": summary,
            "where": where_, "evidence_ref": None, **extra}
