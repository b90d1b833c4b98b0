"""Nursing inquiry: at each bed, a short questionnaire on the terminal (pain 0–10, sleep,
appetite, and the offer of a song), answers into the nursing record.

Per bed: NAVIGATE → IDENTIFY (wristband) → ASK (the questionnaire of `missions.nursing.
questionnaire`, with its skip logic; a requested song is played through the speaker at once)
→ COMMIT a `clinical.record` (record_type "nursing_inquiry") or SKIP_BED; then home.
A pain score ≥ 7 raises a medium "pain" alert for the nurse; a patient who answers nothing gets a
low alert (the nurse should see them). A terminal fault ends the questions for that bed and the
record is committed incomplete. A restart never asks a committed bed again.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field

from hal.clock import iso_utc
from hal.device import DeviceError
from hal.patient_terminal import TerminalAnswer
from missions import events as ev
from missions.journal import CommittedStep
from missions.nursing import bedside
from missions.nursing.beds import BedVisit
from missions.nursing.bedside_mission import BedsideMission
from missions.nursing.questionnaire import PAIN_ALERT_SCORE, Item, next_item, observations


class Step(enum.Enum):
    CHOOSE_BED = "choose_bed"
    NAVIGATE = "navigate"
    IDENTIFY = "identify"
    ASK = "ask"
    COMMIT = "commit"
    SKIP_BED = "skip_bed"
    RETURN_HOME = "return_home"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [s for s in Step if s not in (Step.DONE, Step.ABANDONED)]

# trigger          source                                       destination
STEP_TABLE = (
    ("next_bed",     Step.CHOOSE_BED,                               Step.NAVIGATE),
    ("all_done",     Step.CHOOSE_BED,                               Step.RETURN_HOME),
    ("arrived",      Step.NAVIGATE,                                 Step.IDENTIFY),
    ("identified",   Step.IDENTIFY,                                 Step.ASK),
    ("asked",        Step.ASK,                                      Step.COMMIT),
    ("committed",    [Step.COMMIT, Step.SKIP_BED],                  Step.CHOOSE_BED),
    ("home",         Step.RETURN_HOME,                              Step.DONE),
    ("fault",        [Step.NAVIGATE, Step.IDENTIFY],                Step.SKIP_BED),
    ("fault",        Step.ASK,                                      Step.COMMIT),   # record incomplete
    ("fault",        [Step.CHOOSE_BED, Step.COMMIT, Step.SKIP_BED, Step.RETURN_HOME], Step.ABANDONED),
    ("abandon",      WORKING,                                       Step.ABANDONED),
    ("restart",      WORKING,                                       "="),
)  # fmt: skip


class NursingInquiryParams(bedside.BedsideTuning):
    beds: list[BedVisit] = Field(min_length=1, max_length=200)
    offer_song: bool = True


class NursingInquiry(BedsideMission):
    kind = "nursing_inquiry"
    Params = NursingInquiryParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.CHOOSE_BED
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})
    resumable_after_restart = True
    HOME_FAULT = "return to dock failed"

    params: NursingInquiryParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._done: dict[str, dict[str, Any]] = {}
        self._bed: BedVisit | None = None
        self._answers: dict[str, str | None] = {}
        self._item: Item | None = None

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        return {
            Step.CHOOSE_BED: self._choose, Step.NAVIGATE: self._navigate, Step.IDENTIFY: self._identify,
            Step.ASK: self._ask, Step.COMMIT: self._commit_bed, Step.SKIP_BED: self._skip_bed,
            Step.RETURN_HOME: self._home,
        }

    def _advance(self, now_s: float) -> None:
        self._step_handler()(now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        super()._on_step_start(step)
        self._item = None  # a question interrupted by a pause is asked again

    def _choose(self, now_s: float) -> None:
        for bed in self.params.beds:
            if bed.bed_id not in self._done:
                self._bed, self._answers, self._problem = bed, {}, None
                self._go("next_bed")
                return
        self._bed = None
        self._go("all_done")

    def _ask(self, now_s: float) -> None:
        if self._item is None:
            self._item = next_item(self._answers, set(self._answers), offer_song=self.params.offer_song)
            if self._item is None:
                self._go("asked")
                return
        question = self._item.question
        answer = self._poll(now_s, lambda: bedside.ask(self.ctx, question, self.params), "terminal")
        if answer is None:
            return
        assert isinstance(answer, TerminalAnswer)
        qid = question.question_id
        self._answers[qid] = answer.choice
        if qid == "song_genre" and answer.choice is not None:
            self._play_song(answer.choice)
        self._item, self._attempt, self._op = None, None, None

    def _play_song(self, genre: str) -> None:
        bedside.say(self.ctx, f"Here is a {genre} song for you.")
        speaker = self.ctx.devices.speaker
        if speaker is not None:
            with contextlib.suppress(DeviceError):  # no music is no reason to fail the inquiry
                speaker.play(f"genre:{genre}")
        self._emit(ev.MISSION_STEP, step="song", data={"bed_ref": self._current().bed_id, "genre": genre,
                                                      "progress_fraction": round(self._progress_fraction(), 4)})

    def _commit_bed(self, now_s: float) -> None:
        bed = self._current()
        obs = observations(self._answers)
        answered = [v for v in self._answers.values() if v is not None]
        complete = self._problem is None and None not in self._answers.values()
        record_id = f"{self.mission_id}.{bed.bed_id}.inquiry"
        record = {"record_id": record_id, "record_type": "nursing_inquiry", "patient_ref": bed.patient_ref,
                  "bed_ref": bed.bed_id, "news2": None,
                  "observations": {**obs, "complete": complete, "incomplete_reason": self._problem
                                   or (None if complete else "some questions not answered"),
                                   "asked_at": iso_utc(now_s)}}
        alerts = []
        where = bedside.where(self.ctx, bed.place)
        pain = obs.get("pain_score_0_10")
        if isinstance(pain, int) and pain >= PAIN_ALERT_SCORE:
            alerts.append(bedside.alert(f"{record_id}.pain", ev.Severity.MEDIUM, "pain", where,
                                        f"Bed {bed.bed_id}: pain {pain}/10 reported - nurse to assess analgesia",
                                        bed_ref=bed.bed_id, record_id=record_id, score=pain))
        if not answered:
            alerts.append(bedside.alert(f"{record_id}.no_answer", ev.Severity.LOW, "inquiry", where,
                                        f"Bed {bed.bed_id}: no answer to the nursing inquiry"
                                        f" ({self._problem or 'patient did not answer'}) - nurse to see the patient",
                                        bed_ref=bed.bed_id, record_id=record_id))
        self._record(bed, {"outcome": "asked", "bed_id": bed.bed_id, "record": record, "alerts": alerts})

    def _skip_bed(self, now_s: float) -> None:
        bed = self._current()
        reason = self._problem or "not identified"
        self._record(bed, {"outcome": "skipped", "bed_id": bed.bed_id, "reason": reason, "alerts": [
            bedside.alert(f"{self.mission_id}.{bed.bed_id}.inquiry.skipped", ev.Severity.LOW, "inquiry",
                          bedside.where(self.ctx, bed.place),
                          f"Bed {bed.bed_id}: nursing inquiry not done ({reason})", bed_ref=bed.bed_id)]})

    def _record(self, bed: BedVisit, data: dict[str, Any]) -> None:
        self._done[bed.bed_id] = data
        self._commit(f"bed:{bed.bed_id}", data)
        self._bed = None
        self._go("committed")

    def _publish(self, step: str, data: dict[str, Any]) -> None:
        if "record" in data:
            self._emit(ev.CLINICAL_RECORD, step="commit", data=dict(data["record"]))
        for item in data.get("alerts", []):
            self._emit(ev.ALERT, step="commit", reason=item["summary"], data=dict(item))

    def _restore(self, committed: Sequence[CommittedStep]) -> None:
        for item in committed:
            if item.step.startswith("bed:"):
                self._done[item.step.removeprefix("bed:")] = item.data

    def _progress_fraction(self) -> float:
        return len(self._done) / len(self.params.beds)

    def _result_data(self) -> dict[str, Any]:
        return {
            "beds_asked": [b for b, d in self._done.items() if d["outcome"] == "asked"],
            "beds_skipped": [{"bed_id": b, "reason": d["reason"]} for b, d in self._done.items()
                             if d["outcome"] == "skipped"],
            "alerts_raised": [a["alert_id"] for d in self._done.values() for a in d.get("alerts", [])],
        }

    def _current(self) -> BedVisit:
        if self._bed is None:  # pragma: no cover - bed steps are reached only via CHOOSE_BED
            raise RuntimeError(f"step {self.step.name} without a bed")
        return self._bed


MISSIONS = (NursingInquiry,)
