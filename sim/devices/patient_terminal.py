"""Simulated bedside terminal: the faced patient answers per their true state
(`sim.nursing_orders.patient_answer`); tests script answers gpiozero-style with `script_answer`
and `script_hand_over`, and read back what was asked in `questions` / `hand_overs`."""

from __future__ import annotations

from collections import defaultdict
from typing import TypeVar

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.handle import Handle, ResolvedHandle
from hal.patient_terminal import HandOver, HandOverOutcome, PatientTerminal, Question, TerminalAnswer
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import NO_PATIENT, SimLink, sim_context
from sim.environment import SimEnvironment
from sim.nursing_orders import hand_over_outcome, patient_answer

T = TypeVar("T")


class SimPatientTerminalConfig(DeviceConfig):
    answer_delay_s: float = 6.0  # question read out plus the patient's tap or word
    listen_timeout_s: float = 30.0  # how long it waits when nobody answers
    hand_over_s: float = 20.0  # patient takes the item and taps "received"
    nurse_hand_over_s: float = 60.0  # the nurse confirms for a patient who cannot
    max_patient_distance_m: float = 1.5


class SimPatientTerminal(PatientTerminal):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimPatientTerminalConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.questions: list[Question] = []
        self.hand_overs: list[str] = []  # item refs, in order
        self._scripted: dict[str, list[str | None]] = defaultdict(list)
        self._scripted_hand_overs: list[tuple[HandOverOutcome, str | None]] = []

    # -- input injection for tests ---------------------------------------------------------------

    def script_answer(self, question_id: str, *answers: str | None) -> None:
        """The next answers to this question (None: no answer), before the patient model."""
        self._scripted[question_id].extend(answers)

    def script_hand_over(self, outcome: HandOverOutcome, confirmed_by: str | None = None) -> None:
        self._scripted_hand_overs.append((outcome, confirmed_by))

    # -- the interface ---------------------------------------------------------------------------

    def start_question(self, question: Question) -> Handle[TerminalAnswer, str]:
        self._require_open()
        now_s = self.clock.now_s()
        self.questions.append(question)
        handle: ResolvedHandle[TerminalAnswer, str] = ResolvedHandle(self.clock.now_s)
        if self._failed(handle, now_s):
            return handle
        if self._scripted[question.question_id]:
            choice = self._scripted[question.question_id].pop(0)
        else:
            patient = self.sim.env.patient_facing(self.sim.body, self.config.max_patient_distance_m)
            assert patient is not None  # checked by _failed
            choice = patient_answer(patient, question.question_id, question.choices, now_s, self.sim.rng())
        if choice is not None and choice not in question.choices:
            choice = None  # a scripted answer outside the choices counts as none
        done_s = now_s + (self.config.answer_delay_s if choice is not None else self.config.listen_timeout_s)
        handle.succeed_at(done_s, TerminalAnswer(question.question_id, choice is not None, choice, done_s))
        return handle

    def start_hand_over(self, item_ref: str, description: str) -> Handle[HandOver, str]:
        self._require_open()
        now_s = self.clock.now_s()
        self.hand_overs.append(item_ref)
        handle: ResolvedHandle[HandOver, str] = ResolvedHandle(self.clock.now_s)
        if self._failed(handle, now_s):
            return handle
        if self._scripted_hand_overs:
            outcome, by = self._scripted_hand_overs.pop(0)
        else:
            patient = self.sim.env.patient_facing(self.sim.body, self.config.max_patient_distance_m)
            assert patient is not None
            raw, by = hand_over_outcome(patient, now_s, self.sim.rng())
            outcome = HandOverOutcome(raw)
        delay_s = {HandOverOutcome.NO_ANSWER: self.config.listen_timeout_s}.get(
            outcome, self.config.nurse_hand_over_s if by == "nurse" else self.config.hand_over_s)
        done_s = now_s + delay_s
        confirmed_by = by if outcome is HandOverOutcome.RECEIVED else None
        handle.succeed_at(done_s, HandOver(item_ref, outcome, confirmed_by, done_s))
        return handle

    def _failed(self, handle: ResolvedHandle[T, str], now_s: float) -> bool:
        fault = self.sim.fault()
        if fault is not None:
            handle.fail_at(now_s, f"device fault: {fault}")
            return True
        if self.sim.env.patient_facing(self.sim.body, self.config.max_patient_distance_m) is None:
            handle.fail_at(now_s, NO_PATIENT)
            return True
        return False

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimPatientTerminalConfig, ctx: BuildContext) -> SimPatientTerminal:
    env, body = sim_context(ctx)
    return SimPatientTerminal(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("patient_terminal", "sim", SimPatientTerminalConfig, build)
