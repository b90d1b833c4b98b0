"""Nursing round: for each bed, go there, identify the patient by wristband, ask how they feel
(ACVPU), measure the vitals, score NEWS2, write the nursing record and escalate per the RCP.

Per bed, in order (the table below):

1. NAVIGATE to the bed's place (bounded retries; still unreachable → the bed is skipped).
2. IDENTIFY: the wristband must read exactly ``MEDBOT-PT:<patient_ref>``. Unreadable or wrong →
   ask the patient to show it and re-read after a short wait, up to `wristband_reads` reads; still
   wrong → skipped ("wristband mismatch" / "wristband unreadable"). No device ever touches a patient
   who has not been identified.
3. INQUIRE "How are you feeling today?": coherent answer → Alert; incoherent → new Confusion; no
   answer → asked again, louder and by name of the robot; still none → Voice. The robot cannot
   apply a pain stimulus, so it never charts P or U: any non-Alert level scores 3 and escalates, and
   the nurse who responds grades V/P/U properly.
4. MEASURE temperature, SpO2 + pulse, respiration rate, blood pressure (+ glucose, weight when
   ordered), one device at a time, each with a deadline and bounded retries. A device that still
   fails marks the record incomplete: NEWS2 is not computed (a partial score would look falsely
   reassuring) and a low "device" alert asks the nurse to take the observations by hand.
5. COMMIT: the record goes to the journal first, then `clinical.record` and any alert are emitted
   (outbox; see `missions.journal`). Escalation: ≥7 critical "emergency response"; 5–6 high
   "urgent review"; a single 3 medium "inform medical team"; 1–4 recorded only (nurse assessment).
   The record is built in `missions.clinical.vitals_record`, the escalation decided in
   `missions.clinical.escalation`; this module keeps the steps.

After the last bed, back to the dock if asked. A restart resumes with the first uncommitted bed.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from hal.device import DeviceError
from hal.geometry import Pose2D
from hal.handle import Handle
from hal.navigator import NavigationResult
from hal.voice_inquiry import InquiryReply
from missions import events as ev
from missions.base import Mission
from missions.clinical.escalation import clinical_alert, escalation_alerts, incomplete_record_alert
from missions.clinical.news2 import Consciousness
from missions.clinical.vitals_record import build_record_parts, vitals_record
from missions.journal import CommittedStep
from missions.journey import go_to
from missions.nursing.beds import BedVisit
from missions.timing import Attempts, Deadline, OpStatus, RetryBudget

WRISTBAND_PREFIX = "MEDBOT-PT:"
QUESTION = "How are you feeling today?"
LOUDER_QUESTION = "HELLO! I am the ward robot. Can you hear me? How are you feeling today?"
SHOW_WRISTBAND = "Please hold up your wristband so that I can read it."


class Step(enum.Enum):
    CHOOSE_BED = "choose_bed"
    NAVIGATE = "navigate"
    IDENTIFY = "identify"
    INQUIRE = "inquire"
    MEASURE = "measure"
    COMMIT = "commit"
    SKIP_BED = "skip_bed"
    RETURN_HOME = "return_home"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [s for s in Step if s not in (Step.DONE, Step.ABANDONED)]

# trigger           source                                  destination
STEP_TABLE = (
    ("next_bed",      Step.CHOOSE_BED,                         Step.NAVIGATE),
    ("all_beds_done", Step.CHOOSE_BED,                         Step.RETURN_HOME),
    ("finish",        Step.CHOOSE_BED,                         Step.DONE),       # return_to_dock: false
    ("arrived",       Step.NAVIGATE,                           Step.IDENTIFY),
    ("identified",    Step.IDENTIFY,                           Step.INQUIRE),
    ("inquired",      Step.INQUIRE,                            Step.MEASURE),
    ("measured",      Step.MEASURE,                            Step.COMMIT),
    ("committed",     [Step.COMMIT, Step.SKIP_BED],            Step.CHOOSE_BED),
    ("home",          Step.RETURN_HOME,                        Step.DONE),
    # fault: each step's defined fallback
    ("fault",         [Step.NAVIGATE, Step.IDENTIFY],          Step.SKIP_BED),   # unreachable / not identified
    ("fault",         Step.INQUIRE,                            Step.MEASURE),    # consciousness not assessed
    ("fault",         Step.MEASURE,                            Step.COMMIT),     # record incomplete
    ("fault",         [Step.CHOOSE_BED, Step.COMMIT, Step.SKIP_BED, Step.RETURN_HOME],
                                                               Step.ABANDONED),  # mission fails
    ("abandon",       WORKING,                                 Step.ABANDONED),  # cancelled / failed
    ("restart",       WORKING,                                 "="),             # after pause / e-stop
)  # fmt: skip


class BedOrder(BedVisit):
    on_oxygen: StrictBool  # required on purpose: oxygen changes the score, so it is never assumed
    spo2_scale: Literal[1, 2] = 1
    measure_glucose: StrictBool = False
    measure_weight: StrictBool = False
    #: the escalation the ward already acted on for this patient (from its earlier alert): a
    #: re-measurement at the same or a lower level is recorded but raises no new alert, so the
    #: team is not paged every 15 minutes for what it already knows; a rise alerts at once
    escalation_in_force: Literal["none", "medium", "high", "critical"] = "none"


class NursingRoundParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    beds: list[BedOrder] = Field(min_length=1, max_length=200)
    return_to_dock: StrictBool = True
    nav_timeout_s: float = Field(default=600.0, gt=0)
    nav_attempts: int = Field(default=3, ge=1, le=10)
    nav_retry_wait_s: float = Field(default=5.0, ge=0)
    wristband_reads: int = Field(default=3, ge=1, le=10)
    reposition_wait_s: float = Field(default=3.0, ge=0)
    inquiry_timeout_s: float = Field(default=30.0, gt=0)
    measurement_timeout_s: float = Field(default=180.0, gt=0)
    measurement_attempts: int = Field(default=2, ge=1, le=5)
    measurement_retry_wait_s: float = Field(default=5.0, ge=0)

    @model_validator(mode="after")
    def _beds_unique(self) -> NursingRoundParams:
        seen: set[str] = set()
        for bed in self.beds:
            if bed.bed_id in seen:
                raise ValueError(f"beds: bed_id {bed.bed_id!r} appears twice")
            seen.add(bed.bed_id)
        return self


@dataclass(frozen=True, slots=True)
class Measurement:
    name: str  # also the step suffix, e.g. "measure.temperature"
    device_slot: str  # the DeviceSet slot
    required_for_news2: bool


MEASUREMENT_PLAN = (
    Measurement("temperature", "thermometer", True),
    Measurement("pulse_oximetry", "pulse_oximeter", True),
    Measurement("respiration", "respiration_monitor", True),
    Measurement("blood_pressure", "blood_pressure", True),
    Measurement("glucose", "glucometer", False),
    Measurement("weight", "scale", False),
)

@dataclass
class BedWork:
    """What is known of the bed being worked on (lost on restart: nothing here is committed)."""

    order: BedOrder
    plan: list[Measurement]
    pose: Pose2D | None = None
    consciousness: Consciousness | None = None
    asked_louder: bool = False
    readings: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    next_measurement: int = 0
    skip_reason: str | None = None
    saw_mismatch: bool = False


class NursingRound(Mission):
    kind = "nursing_round"
    Params = NursingRoundParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.CHOOSE_BED
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})
    resumable_after_restart = True

    params: NursingRoundParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._done: dict[str, dict[str, Any]] = {}  # bed_id → committed outcome
        self._bed: BedWork | None = None
        self._attempt: Attempts[Any] | None = None
        self._tag_budget = RetryBudget(self.params.wristband_reads)
        self._next_read: Deadline | None = None

    # ---- the step handlers ------------------------------------------------------------------

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        return {
            Step.CHOOSE_BED: self._choose_bed,
            Step.NAVIGATE: self._navigate,
            Step.IDENTIFY: self._identify,
            Step.INQUIRE: self._inquire,
            Step.MEASURE: self._measure,
            Step.COMMIT: self._commit_bed,
            Step.SKIP_BED: self._skip_bed,
            Step.RETURN_HOME: self._return_home,
        }

    def _advance(self, now_s: float) -> None:
        self._step_handler()(now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        self._attempt = None
        self._tag_budget = RetryBudget(self.params.wristband_reads)
        self._next_read = None
        if self._bed is not None and step is Step.INQUIRE:
            self._bed.asked_louder = False

    def _on_fault(self, reason: str) -> None:
        bed = self._bed
        if bed is None:
            return
        if self.step in (Step.NAVIGATE, Step.IDENTIFY):
            bed.skip_reason = bed.skip_reason or reason
        elif self.step in (Step.INQUIRE, Step.MEASURE):
            bed.problems.append(reason)

    def _choose_bed(self, now_s: float) -> None:
        for order in self.params.beds:
            if order.bed_id not in self._done:
                plan = [m for m in MEASUREMENT_PLAN if m.required_for_news2]
                if order.measure_glucose:
                    plan.append(MEASUREMENT_PLAN[4])
                if order.measure_weight:
                    plan.append(MEASUREMENT_PLAN[5])
                self._bed = BedWork(order, plan)
                self._go("next_bed")
                return
        self._bed = None
        if self.params.return_to_dock:
            self._go("all_beds_done")
        else:
            self._go("finish")
            self._succeed()

    def _navigate(self, now_s: float) -> None:
        bed = self._current_bed()
        if self._attempt is None:
            self._attempt = self._track(self._drive_to(bed.order.place))
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            result = self._attempt.result
            bed.pose = result.final_pose if isinstance(result, NavigationResult) else None
            self._go("arrived")
        elif status is OpStatus.FAILED:
            self._step_fault(f"navigation failed: {self._attempt.reason}")

    def _identify(self, now_s: float) -> None:
        bed = self._current_bed()
        if self._next_read is not None and not self._next_read.expired(now_s):
            return
        self._tag_budget.take()
        expected = WRISTBAND_PREFIX + bed.order.patient_ref
        try:
            payload = self._require(self.ctx.devices.tag_reader, "tag_reader").read_tag().payload
        except DeviceError:
            payload = None
        if payload == expected:
            self._go("identified")
            return
        bed.saw_mismatch = bed.saw_mismatch or payload is not None
        if self._tag_budget.exhausted:
            self._step_fault("wristband mismatch" if bed.saw_mismatch else "wristband unreadable")
            return
        self._say(SHOW_WRISTBAND)
        self._next_read = Deadline.after(now_s, self.params.reposition_wait_s)

    def _inquire(self, now_s: float) -> None:
        bed = self._current_bed()
        if self._attempt is None:
            voice = self._require(self.ctx.devices.voice_inquiry, "voice_inquiry")
            question = LOUDER_QUESTION if bed.asked_louder else QUESTION
            self._attempt = self._track(
                Attempts(
                    "voice_inquiry",
                    lambda: voice.start_inquiry(question),
                    timeout_s=self.params.inquiry_timeout_s,
                    max_attempts=2,
                )
            )
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"consciousness not assessed: voice_inquiry: {self._attempt.reason}")
            return
        if status is not OpStatus.SUCCEEDED:
            return
        reply = self._attempt.result
        assert isinstance(reply, InquiryReply)
        if reply.answered:
            bed.consciousness = Consciousness.ALERT if reply.coherent else Consciousness.CONFUSION
        elif not bed.asked_louder:
            bed.asked_louder = True  # no answer: ask once more, louder
            self._attempt = None
            return
        else:
            bed.consciousness = Consciousness.VOICE
        self._go("inquired")

    def _measure(self, now_s: float) -> None:
        bed = self._current_bed()
        if bed.next_measurement >= len(bed.plan):
            self._go("measured")
            return
        measurement = bed.plan[bed.next_measurement]
        if self._attempt is None:
            device = getattr(self.ctx.devices, measurement.device_slot)
            if device is None:
                self._measurement_done(bed, None, f"{measurement.name}: no {measurement.device_slot} on this robot")
                return
            self._emit(ev.MISSION_STEP, step=f"measure.{measurement.name}",
                       data={"progress_fraction": round(self._progress_fraction(), 4)})
            start: Callable[[], Handle[Any, str]] = device.start_measurement
            self._attempt = self._track(
                Attempts(
                    measurement.name,
                    start,
                    timeout_s=self.params.measurement_timeout_s,
                    max_attempts=self.params.measurement_attempts,
                    retry_wait_s=self.params.measurement_retry_wait_s,
                )
            )
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._measurement_done(bed, self._attempt.result, None)
        elif status is OpStatus.FAILED:
            self._measurement_done(bed, None, f"{measurement.device_slot}: {self._attempt.reason}")

    def _measurement_done(self, bed: BedWork, reading: Any, problem: str | None) -> None:
        measurement = bed.plan[bed.next_measurement]
        if problem is not None:
            bed.problems.append(problem)
        else:
            bed.readings[measurement.name] = reading
        bed.next_measurement += 1
        self._attempt = None
        self._op = None
        if bed.next_measurement >= len(bed.plan):
            self._go("measured")

    def _commit_bed(self, now_s: float) -> None:
        bed = self._current_bed()
        record_id = f"{self.mission_id}.{bed.order.bed_id}"
        observations, news2, problems = build_record_parts(bed.order, bed.consciousness, bed.readings, bed.problems)
        record = vitals_record(record_id, bed.order.patient_ref, bed.order.bed_id, observations, news2, now_s)
        where = self._where(bed)
        alerts = escalation_alerts(record_id, bed.order.bed_id, news2, where,
                                   in_force=bed.order.escalation_in_force)
        if problems:
            alerts.append(incomplete_record_alert(record_id, bed.order.bed_id, where, problems))
        self._record_outcome(
            bed,
            {"outcome": "measured", "bed_id": bed.order.bed_id, "complete": not problems,
             "record": record, "alerts": alerts},
        )
        self._go("committed")

    def _skip_bed(self, now_s: float) -> None:
        bed = self._current_bed()
        reason = bed.skip_reason or "not identified"
        where = self._where(bed)
        severity = ev.Severity.MEDIUM if reason == "wristband mismatch" else ev.Severity.LOW
        alert = clinical_alert(
            f"{self.mission_id}.{bed.order.bed_id}.skipped", severity, "round", where,
            f"Bed {bed.order.bed_id}: not measured ({reason}) - nurse to check and take the observations",
            bed_ref=bed.order.bed_id,
        )
        self._record_outcome(
            bed,
            {"outcome": "skipped", "bed_id": bed.order.bed_id, "patient_ref": bed.order.patient_ref,
             "place": bed.order.place, "reason": reason, "alerts": [alert]},
        )
        self._go("committed")

    def _drive_to(self, place: str) -> Attempts[Any]:
        self._require(self.ctx.devices.navigator, "navigator")
        return go_to(self.ctx.devices, place, nav_timeout_s=self.params.nav_timeout_s,
                     nav_attempts=self.params.nav_attempts, nav_retry_wait_s=self.params.nav_retry_wait_s)

    def _return_home(self, now_s: float) -> None:
        if self._attempt is None:
            self._attempt = self._track(self._drive_to(self.ctx.home_dock))
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._go("home")
            self._succeed()
        elif status is OpStatus.FAILED:
            self._step_fault(f"return to dock failed: {self._attempt.reason}")

    # ---- outbox, restore, result ------------------------------------------------------------

    def _record_outcome(self, bed: BedWork, outcome: dict[str, Any]) -> None:
        self._done[bed.order.bed_id] = outcome  # progress counts the bed from here on
        self._commit(f"bed:{bed.order.bed_id}", outcome)
        self._bed = None

    def _publish(self, step: str, data: dict[str, Any]) -> None:
        if data.get("outcome") == "measured":
            self._emit(ev.CLINICAL_RECORD, step="commit", data=dict(data["record"]))
        elif data.get("outcome") == "skipped":
            self._emit(
                ev.PATIENT_SKIPPED, step="skip_bed", reason=str(data["reason"]),
                data={"bed_ref": data["bed_id"], "patient_ref": data["patient_ref"], "place": data["place"]},
            )
        where = "commit" if data.get("outcome") == "measured" else "skip_bed"
        for alert in data.get("alerts", []):
            self._emit(ev.ALERT, step=where, reason=alert["summary"], data=dict(alert))

    def _restore(self, committed: Sequence[CommittedStep]) -> None:
        for item in committed:
            if item.step.startswith("bed:"):
                self._done[item.step.removeprefix("bed:")] = item.data

    def _progress_fraction(self) -> float:
        return len(self._done) / len(self.params.beds)

    def _result_data(self) -> dict[str, Any]:
        measured = [b for b, d in self._done.items() if d.get("outcome") == "measured"]
        return {
            "beds_measured": measured,
            "beds_incomplete": [b for b in measured if not self._done[b].get("complete", True)],
            "beds_skipped": [
                {"bed_id": b, "reason": d.get("reason")} for b, d in self._done.items()
                if d.get("outcome") == "skipped"
            ],
            "alerts_raised": [
                {"alert_id": a["alert_id"], "bed_id": b, "severity": a["severity"], "category": a["category"],
                 "score": a.get("score")}
                for b, d in self._done.items() for a in d.get("alerts", [])
            ],
        }

    # ---- small helpers ----------------------------------------------------------------------

    def _current_bed(self) -> BedWork:
        if self._bed is None:  # pragma: no cover - the table only reaches bed steps via CHOOSE_BED
            raise RuntimeError(f"step {self.step.name} without a bed")
        return self._bed

    def _track(self, attempt: Attempts[Any]) -> Attempts[Any]:
        self._op = attempt
        return attempt

    def _say(self, text: str) -> None:
        speaker = self.ctx.devices.speaker
        if speaker is not None:
            with contextlib.suppress(DeviceError):  # a courtesy prompt; the re-read happens anyway
                speaker.say(text)

    def _where(self, bed: BedWork) -> dict[str, Any]:
        pose = bed.pose
        if pose is None and self.ctx.devices.drive_base is not None:
            try:
                pose = self.ctx.devices.drive_base.odometry().pose
            except DeviceError:
                pose = None
        where: dict[str, Any] = {"place": bed.order.place, "x_m": 0.0, "y_m": 0.0}
        if pose is not None:
            where.update(x_m=round(pose.x_m, 3), y_m=round(pose.y_m, 3), level=pose.level)
        return where
