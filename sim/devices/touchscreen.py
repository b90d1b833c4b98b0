"""Simulated touchscreen: the outbreak case in front of the robot answers (sim/outbreak.py).

Nobody in front, a case who does not respond, or a question the person leaves alone → the
handle succeeds with `answered=False` after the question's timeout, as a real screen would.
"""

from __future__ import annotations

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.handle import Handle, HandleStatus, ResolvedHandle
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from hal.touchscreen import ScreenAnswer, ScreenQuestion, Touchscreen
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.outbreak import outbreak_for


class SimTouchscreenConfig(DeviceConfig):
    max_patient_distance_m: float = 1.5


class _ScreenHandle(ResolvedHandle[ScreenAnswer, str]):
    """Fails when the screen faults while the question is shown."""

    def __init__(self, link: SimLink, clock: Clock) -> None:
        super().__init__(clock.now_s)
        self._link = link

    def poll(self) -> HandleStatus:
        if self._status is HandleStatus.RUNNING:
            reason = self._link.fault()
            if reason is not None:
                self._status, self._error = HandleStatus.FAILED, f"device fault: {reason}"
        return super().poll()


class SimTouchscreen(Touchscreen):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimTouchscreenConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.shown: list[str] = []  # question ids, for tests
        self._current: _ScreenHandle | None = None

    def start_question(self, question: ScreenQuestion) -> Handle[ScreenAnswer, str]:
        self._require_open()
        self.sim.raise_on_fault()
        if self._current is not None:
            self._current.cancel()
        now_s = self.clock.now_s()
        self.shown.append(question.question_id)
        handle = _ScreenHandle(self.sim, self.clock)
        self._current = handle
        patient = self.sim.env.patient_facing(self.sim.body, self.config.max_patient_distance_m)
        case = outbreak_for(self.sim.env).case_for(patient.patient_ref) if patient is not None else None
        value = case.answer(question.question_id) if case is not None else None
        if case is None or value is None or case.answer_delay_s >= question.timeout_s:
            done_s = now_s + question.timeout_s
            handle.succeed_at(done_s, ScreenAnswer(question.question_id, False, None, done_s))
        else:
            done_s = now_s + case.answer_delay_s
            handle.succeed_at(done_s, ScreenAnswer(question.question_id, True, value, done_s))
        handle.set_feedback("shown")
        return handle

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimTouchscreenConfig, ctx: BuildContext) -> SimTouchscreen:
    env, body = sim_context(ctx)
    return SimTouchscreen(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("touchscreen", "sim", SimTouchscreenConfig, build)
