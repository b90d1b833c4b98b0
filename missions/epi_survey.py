"""Epidemiological survey (传染病流调): interview a confirmed case in an isolation room.

APPROACH the anteroom → ENTER (open outer door, drive in, close it and read it back closed, only
then open the inner door, drive to the subject, close it) → CONSENT on the touchscreen (greeting
on the speaker) → INTERVIEW with skip logic (missions/epi/questionnaire.py), the whole dialogue
recorded in segments, each stored in `ctx.media` and announced (`media.segment`) as it is made,
or buffered (bounded) while the uplink is down → WRAP_UP (stop recording; the case report as
JSON + FHIR QuestionnaireResponse into `ctx.media`) → LEAVE_ROOM into the anteroom → DISINFECT
the robot with UV (lamp only with nobody in range; dose target reached) → EXIT through the outer
door → FILE (`report.filed` once every segment is delivered) → RETURN_HOME.

Refusal ("consent refused") or no response ("subject not responsive") skip the interview but
not the disinfection; the mission then ends FAILED with that reason (the survey is not done and
a human investigator must follow up). A fault inside the isolation area leaves the robot HELD
where it is with a high `infection_control` alert; the two anteroom doors are never both open
(asserted before every opening here and in the door controller). Names the subject gives are
replaced by `ct-` references the moment they are entered.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Sequence
from typing import Any

from hal.device import DeviceError
from hal.door_controller import DoorController
from hal.recorder import RecordedSegment, Recorder
from hal.touchscreen import ScreenAnswer, Touchscreen
from hal.uv_lamp import UvLamp
from missions import events as ev
from missions.base import Mission
from missions.epi import filing
from missions.epi.epi_events import MEDIA_SEGMENT, REPORT_FILED, EpiEvent
from missions.epi.filing import NOT_RESPONSIVE, REFUSED
from missions.epi.params import EpiSurveyParams
from missions.epi.passage import Action, InterlockViolation, Passage, PassageFailed
from missions.epi.questionnaire import CONSENT, YES, Prompt, contact_ref, next_prompt, parse_answer
from missions.epi.routes import go_to, passage_plan, passage_timing
from missions.epi.uploader import BufferOverflow, SegmentUploader, Sent, segment_record
from missions.journal import CommittedStep
from missions.timing import Attempts, Deadline, OpStatus

GREETING = "Hello. I am the epidemiological survey robot of the health authority. Please look at my screen."
CLEAR_ROOM = "UV disinfection is about to start. Please leave the anteroom."


class Step(enum.Enum):
    PLAN = "plan"
    APPROACH = "approach"
    ENTER = "enter"
    CONSENT = "consent"
    INTERVIEW = "interview"
    WRAP_UP = "wrap_up"
    LEAVE_ROOM = "leave_room"
    DISINFECT = "disinfect"
    EXIT = "exit"
    FILE = "file"
    RETURN_HOME = "return_home"
    HOLD = "hold"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [s for s in Step if s not in (Step.DONE, Step.ABANDONED)]

# trigger             source                                   destination
STEP_TABLE = (
    ("planned",         Step.PLAN,                                 Step.APPROACH),
    ("resume_interview", Step.PLAN,                                Step.INTERVIEW),  # restart in the room
    ("resume_consent",  Step.PLAN,                                 Step.CONSENT),
    ("resume_wrap_up",  Step.PLAN,                                 Step.WRAP_UP),
    ("resume_leave",    Step.PLAN,                                 Step.LEAVE_ROOM),
    ("resume_file",     Step.PLAN,                                 Step.FILE),
    ("resume_home",     Step.PLAN,                                 Step.RETURN_HOME),
    ("resume_unsafe",   Step.PLAN,                                 Step.HOLD),       # killed mid-passage
    ("arrived",         Step.APPROACH,                             Step.ENTER),
    ("entered",         Step.ENTER,                                Step.CONSENT),
    ("consented",       Step.CONSENT,                              Step.INTERVIEW),
    ("declined",        Step.CONSENT,                              Step.WRAP_UP),    # refused / no response
    ("answered_all",    Step.INTERVIEW,                            Step.WRAP_UP),
    ("wrapped",         Step.WRAP_UP,                              Step.LEAVE_ROOM),
    ("in_anteroom",     Step.LEAVE_ROOM,                           Step.DISINFECT),
    ("disinfected",     Step.DISINFECT,                            Step.EXIT),
    ("outside",         Step.EXIT,                                 Step.FILE),
    ("filed",           Step.FILE,                                 Step.RETURN_HOME),
    ("finish",          [Step.FILE, Step.RETURN_HOME],             Step.DONE),
    # fault: each step's defined fallback
    ("fault",           [Step.PLAN, Step.APPROACH, Step.RETURN_HOME, Step.HOLD], Step.ABANDONED),
    ("fault",           [Step.ENTER, Step.LEAVE_ROOM, Step.DISINFECT, Step.EXIT], Step.HOLD),
    ("fault",           [Step.CONSENT, Step.INTERVIEW],            Step.WRAP_UP),    # interview ends early
    ("fault",           Step.WRAP_UP,                              Step.LEAVE_ROOM),  # leave anyway
    ("fault",           Step.FILE,                                 Step.RETURN_HOME),
    ("abandon",         WORKING,                                   Step.ABANDONED),
    ("restart",         WORKING,                                   "="),
)  # fmt: skip

_PASSAGE_STEPS = (Step.ENTER, Step.LEAVE_ROOM, Step.EXIT)
_RECORDING_STEPS = (Step.CONSENT, Step.INTERVIEW)


class EpiSurvey(Mission):
    kind = "epi_survey"
    Params = EpiSurveyParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.PLAN
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})
    resumable_after_restart = True

    params: EpiSurveyParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answers: dict[str, str | None] = {}
        self._consent: str | None = None  # "yes" / "no" / "none" once committed
        self._milestones: set[str] = set()
        self._segments: list[dict[str, Any]] = []  # sent (committed) segments
        self._report: dict[str, Any] | None = None
        self._end_reason: str | None = None
        self._uplink_down_reason = ""  # the recorder's last word on why its uplink was down
        self._interview_started_s: float | None = None
        self._passages: dict[Step, Passage] = {}
        self._attempt: Attempts[Any] | None = None
        self._tries = 0
        self._unanswered_in_row = 0
        self._wait: Deadline | None = None
        self._hold_reason: str | None = None
        self._uploader = SegmentUploader(self._send_segment, capacity=self.params.buffer_segments)

    # ---- the tick -----------------------------------------------------------------------------

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        return {
            Step.PLAN: self._plan, Step.APPROACH: self._approach, Step.CONSENT: self._ask_consent,
            Step.INTERVIEW: self._interview, Step.WRAP_UP: self._wrap_up, Step.DISINFECT: self._disinfect,
            Step.FILE: self._file, Step.RETURN_HOME: self._return_home, Step.HOLD: self._hold,
        }

    def _advance(self, now_s: float) -> None:
        self._pump_media()
        if self.step in _PASSAGE_STEPS:
            self._pass(now_s)
        else:
            self._step_handler()(now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        self._attempt = None
        self._tries = 0
        self._wait = None
        passage = self._passages.get(step)  # type: ignore[call-overload]
        if passage is not None:
            passage.interrupt()  # a restart re-issues the interrupted action
        if step not in _RECORDING_STEPS:
            self._stop_recording()

    def _on_fault(self, reason: str) -> None:
        if self.step in (Step.CONSENT, Step.INTERVIEW, Step.WRAP_UP, Step.FILE):
            self._end_reason = self._end_reason or reason

    def _pump_media(self) -> None:
        recorder = self.ctx.devices.find(Recorder)
        if recorder is None:
            return
        try:
            for segment in recorder.take_segments():
                self._uploader.offer(segment)
        except BufferOverflow as exc:
            self._fault_or_note("recording", str(exc))
        except DeviceError as exc:
            self._fault_or_note("recorder", exc.reason)
        uplink = recorder.uplink()
        if not uplink.up:
            self._uplink_down_reason = uplink.reason  # said in the result if the recording cannot be delivered
        self._uploader.pump(uplink.up)

    def _fault_or_note(self, what: str, reason: str) -> None:
        if self.step in _RECORDING_STEPS:
            raise _EndInterview(what, reason)
        self._end_reason = self._end_reason or f"{what}: {reason}"

    # ---- steps --------------------------------------------------------------------------------

    def _plan(self, now_s: float) -> None:
        m = self._milestones
        if "filed" in m:
            if self.params.return_to_dock:
                self._go("resume_home")
            else:
                self._finish()
        elif "outside" in m:
            self._go("resume_file")
        elif "in_room" in m and "leaving" not in m:
            if self._report is not None:
                self._go("resume_leave")
            elif self._consent is None:
                self._go("resume_consent")
            elif self._consent == YES and "interview_done" not in m:
                self._go("resume_interview")
            else:
                self._go("resume_wrap_up")
        elif "inside" in m:
            self._end_reason = "interrupted by restart inside the isolation area"
            self._go("resume_unsafe")
        else:
            self._go("planned")

    def _approach(self, now_s: float) -> None:
        if self._attempt is None:
            navigator = self._require(self.ctx.devices.navigator, "navigator")
            self._attempt = self._track(go_to(navigator, self.params.approach, self.params))
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._go("arrived")
        elif status is OpStatus.FAILED:
            self._step_fault(f"navigation failed: {self._attempt.reason}")

    def _pass(self, now_s: float) -> None:
        passage = self._passage(self.step)
        self._op = passage
        try:
            result = passage.poll(now_s)
        except (PassageFailed, InterlockViolation) as exc:
            self._step_fault(str(exc))
            return
        if result != "done":
            return
        self._op = None
        if self.step is Step.ENTER:
            self._milestone("in_room")
            self._go("entered")
        elif self.step is Step.LEAVE_ROOM:
            self._go("in_anteroom")
        else:
            self._milestone("outside")
            self._go("outside")

    def _ask_consent(self, now_s: float) -> None:
        self._ensure_recording()
        if self._attempt is None:
            self._say(GREETING)
        answer = self._screen(now_s, Prompt(CONSENT.link_id, CONSENT))
        if answer is None:
            return
        if not answer.answered or answer.value is None:
            if self._tries < self.params.question_attempts:
                self._attempt = None
                return
            self._commit_consent("none", NOT_RESPONSIVE)
        elif answer.value == YES:
            self._commit_consent(YES, None)
            self._go("consented")
            return
        else:
            self._commit_consent("no", REFUSED)
        self._go("declined")

    def _interview(self, now_s: float) -> None:
        self._ensure_recording()
        prompt = next_prompt(self._answers)
        if prompt is None:
            self._milestone("interview_done")
            self._go("answered_all")
            return
        answer = self._screen(now_s, prompt)
        if answer is None:
            return
        value = parse_answer(prompt.item, answer.value) if answer.answered and answer.value is not None else None
        if value is None and self._tries < self.params.question_attempts:
            self._attempt = None  # not answered or not valid: ask again
            return
        if value is not None and prompt.item.pseudonymous:
            value = contact_ref(f"{self.params.case_ref}:{self.mission_id}", value)  # the name goes no further
        self._unanswered_in_row = 0 if value is not None else self._unanswered_in_row + 1
        self._answers[prompt.question_id] = value
        self._commit(f"answer:{prompt.question_id}", {"question_id": prompt.question_id, "value": value})
        self._attempt, self._tries = None, 0
        if self._unanswered_in_row >= self.params.max_unanswered_in_row:
            self._step_fault(NOT_RESPONSIVE)

    def _wrap_up(self, now_s: float) -> None:
        self._stop_recording()
        self._pump_media()
        ctx = filing.report_context(self.mission_id, self.ctx.robot_id, self.params,
                                    interview_started_s=self._interview_started_s, now_s=now_s,
                                    end_reason=self._end_reason, consent=self._consent)
        recording = [*self._segments, *(segment_record(s) for s in self._uploader.pending())]
        self._report = filing.store_case_report(self.ctx.media, ctx, self.params.case_ref, self._answers,
                                                recording, now_s)
        self._commit("report", dict(self._report))
        self._go("wrapped")

    def _disinfect(self, now_s: float) -> None:
        lamp = self.ctx.devices.require(UvLamp)
        if self._attempt is None:
            if lamp.person_in_range():
                if self._wait is None:
                    self._say(CLEAR_ROOM)
                    self._wait = Deadline.after(now_s, self.params.uv_clear_wait_s)
                elif self._wait.expired(now_s):
                    self._step_fault("disinfection not started: a person stayed within the UV lamp's range")
                return
            self._attempt = self._track(Attempts(
                "UV disinfection", lambda: lamp.start_dose(self.params.uv_dose_j_per_m2),
                timeout_s=self.params.uv_timeout_s, max_attempts=2, retry_wait_s=self.params.retry_wait_s))
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._milestone("disinfected", dose_j_per_m2=self.params.uv_dose_j_per_m2)
            self._go("disinfected")
        elif status is OpStatus.FAILED:
            self._step_fault(f"disinfection not completed: {self._attempt.reason}")

    def _file(self, now_s: float) -> None:
        if self._uploader.buffered:
            if self._wait is None:
                self._wait = Deadline.after(now_s, self.params.upload_timeout_s)
            if self._wait.expired(now_s):
                self._step_fault(f"recording not delivered: {self._uploader.buffered} segments still buffered "
                                 f"(uplink down: {self._uplink_down_reason or 'no reason given'})")
            return
        assert self._report is not None
        data = filing.filed_record(self.mission_id, self.params, len(self._segments), self._report)
        self._milestone("filed")
        self._commit("filed", data)
        if self.params.return_to_dock:
            self._go("filed")
        else:
            self._finish()

    def _return_home(self, now_s: float) -> None:
        if self._attempt is None:
            navigator = self._require(self.ctx.devices.navigator, "navigator")
            self._attempt = self._track(go_to(navigator, self.ctx.home_dock, self.params))
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._finish()
        elif status is OpStatus.FAILED:
            self._step_fault(f"return to dock failed: {self._attempt.reason}")

    def _hold(self, now_s: float) -> None:
        reason = self._hold_reason or self._end_reason or "fault in the isolation area"
        inside = "inside" in self._milestones and "outside" not in self._milestones
        if inside:
            alert = filing.held_alert(self.mission_id, self.params.anteroom, reason)
            self._commit("held", {"alert": alert})
        self.fail(reason)

    # ---- helpers ------------------------------------------------------------------------------

    def _step_fault(self, reason: str) -> None:
        if self.step in (Step.ENTER, Step.LEAVE_ROOM, Step.DISINFECT, Step.EXIT):
            self._hold_reason = reason
        super()._step_fault(reason)

    def _passage(self, step: enum.Enum) -> Passage:
        if step not in self._passages:
            doors = self.ctx.devices.require(DoorController)
            navigator = self._require(self.ctx.devices.navigator, "navigator")
            self._passages[step] = Passage(  # type: ignore[index]
                passage_plan(self.params, step.value), doors, navigator, passage_timing(self.params),
                on_action=self._on_passage_action)
        return self._passages[step]  # type: ignore[index]

    def _on_passage_action(self, action: Action) -> None:
        if self.step is Step.ENTER and action.verb == "go" and action.target == self.params.anteroom:
            self._milestone("inside")  # from here a restart cannot know where the robot stands
        if self.step is Step.LEAVE_ROOM and "leaving" not in self._milestones:
            self._milestone("leaving")

    def _screen(self, now_s: float, prompt: Prompt) -> ScreenAnswer | None:
        """Poll the question on the touchscreen; the answer once there, else None."""
        if self._attempt is None:
            screen = self.ctx.devices.require(Touchscreen)
            question = prompt.screen_question(self.params.question_timeout_s)
            self._tries += 1
            self._attempt = self._track(Attempts(
                f"question {prompt.question_id}", lambda: screen.start_question(question),
                timeout_s=self.params.question_timeout_s + 10.0, max_attempts=2,
                retry_wait_s=self.params.retry_wait_s))
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            raise _EndInterview("touchscreen", str(self._attempt.reason))
        if status is OpStatus.SUCCEEDED:
            result = self._attempt.result
            assert isinstance(result, ScreenAnswer)
            return result
        return None

    def _ensure_recording(self) -> None:
        recorder = self.ctx.devices.require(Recorder)
        if not recorder.recording:
            if self._interview_started_s is None:
                self._interview_started_s = self.ctx.clock.now_s()
            first = max((s["index"] for s in self._segments), default=-1) + 1
            first = max(first, self._uploader.last_index + 1)  # never reuse a segment number
            recorder.start_recording(segment_s=self.params.segment_s, first_index=first)

    def _stop_recording(self) -> None:
        recorder = self.ctx.devices.find(Recorder)
        if recorder is not None and recorder.recording:
            with contextlib.suppress(DeviceError):
                recorder.stop_recording()

    def _send_segment(self, segment: RecordedSegment) -> Sent:
        data, sent = filing.store_segment(self.ctx.media, self.params.case_ref, segment, self.ctx.clock.now_s())
        self._segments.append(data)
        self._commit(f"segment:{segment.index}", data)
        return sent

    def _commit_consent(self, value: str, reason: str | None) -> None:
        self._consent = value
        if reason is not None:
            self._end_reason = reason
        self._commit("consent", {"consent": value, "reason": reason})

    def _milestone(self, name: str, **data: Any) -> None:
        self._milestones.add(name)
        self._commit(f"milestone:{name}", dict(data))

    def _finish(self) -> None:
        self._go("finish")
        if self._end_reason is not None:
            self.fail(self._end_reason)
        else:
            self._succeed()

    def _track(self, attempt: Attempts[Any]) -> Attempts[Any]:
        self._op = attempt
        return attempt

    def _say(self, text: str) -> None:
        speaker = self.ctx.devices.speaker
        if speaker is not None:
            with contextlib.suppress(DeviceError):  # the screen shows the same words
                speaker.say(text)

    # ---- journal: publish and restore ---------------------------------------------------------

    def _publish(self, step: str, data: dict[str, Any]) -> None:
        if step.startswith("segment:"):
            self._emit_epi(MEDIA_SEGMENT, "interview", data)
        elif step == "filed":
            self._emit_epi(REPORT_FILED, "file", data)
        elif step == "held":
            alert = data["alert"]
            self._emit(ev.ALERT, step="hold", reason=alert["summary"], data=dict(alert))

    def _emit_epi(self, kind: str, step: str, data: dict[str, Any]) -> None:
        self.ctx.emit(EpiEvent(kind=kind, robot_id=self.ctx.robot_id, mission_id=self.mission_id,
                               mission_kind=self.kind, stamp_s=self.ctx.clock.now_s(), step=step, data=dict(data)))

    def _restore(self, committed: Sequence[CommittedStep]) -> None:
        for item in committed:
            name, data = item.step, item.data
            if name.startswith("answer:"):
                self._answers[data["question_id"]] = data["value"]
            elif name.startswith("segment:"):
                self._segments.append(dict(data))
                self._uploader.skip_through(int(data["index"]))
            elif name.startswith("milestone:"):
                self._milestones.add(name.removeprefix("milestone:"))
            elif name == "consent":
                self._consent = data["consent"]
                self._end_reason = data.get("reason") or self._end_reason
            elif name == "report":
                self._report = dict(data)

    def _progress_fraction(self) -> float:
        order = ["inside", "in_room", "interview_done", "leaving", "disinfected", "outside", "filed"]
        return sum(1 for m in order if m in self._milestones) / (len(order) + 1)

    def _result_data(self) -> dict[str, Any]:
        return {
            "case_ref": self.params.case_ref,
            "survey_outcome": (self._report or {}).get("outcome"),
            "report_ref": (self._report or {}).get("report_ref"),
            "fhir_ref": (self._report or {}).get("fhir_ref"),
            "segments_sent": len(self._segments),
            "segments_buffered": self._uploader.buffered,
            "max_buffered": self._uploader.max_buffered,
            "disinfected": "disinfected" in self._milestones,
            "questions_answered": sum(1 for v in self._answers.values() if v is not None),
            "hours_since_case_report": (self._report or {}).get("hours_since_case_report"),
        }



class _EndInterview(DeviceError):
    """Ends the interview early (recorder, touchscreen, buffer overflow) through the step's fault
    exit; a DeviceError so that the base class routes it there."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(what, reason)


MISSIONS = (EpiSurvey,)
