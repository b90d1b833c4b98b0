"""Simulated voice inquiry: the faced patient answers per their consciousness (ACVPU)."""

from __future__ import annotations

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.handle import Handle, ResolvedHandle
from hal.registry import BuildContext, DeviceConfig
from hal.voice_inquiry import InquiryReply, VoiceInquiry
from sim.body import SimBody
from sim.devices.common import NO_PATIENT, SimLink, sim_context
from sim.environment import SimEnvironment

# consciousness → (answered, coherent, transcript)
_REPLIES = {
    "alert": (True, True, "I'm fine, thank you. I slept quite well."),
    "confusion": (True, False, "Where is... is it Tuesday? I need to get the bus."),
    "voice": (False, False, "(opens eyes to voice, no words)"),
    "unresponsive": (False, False, ""),
}


class SimVoiceInquiryConfig(DeviceConfig):
    answer_delay_s: float = 4.0  # question spoken plus the patient's answer
    silence_timeout_s: float = 10.0  # how long it listens when nobody answers
    max_patient_distance_m: float = 1.5


class SimVoiceInquiry(VoiceInquiry):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimVoiceInquiryConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.questions: list[str] = []

    def start_inquiry(self, question: str) -> Handle[InquiryReply, str]:
        self._require_open()
        now_s = self.clock.now_s()
        self.questions.append(question)
        handle: ResolvedHandle[InquiryReply, str] = ResolvedHandle(self.clock.now_s)
        fault = self.sim.fault()
        patient = self.sim.env.patient_facing(self.sim.body, self.config.max_patient_distance_m)
        if fault is not None:
            handle.fail_at(now_s, f"device fault: {fault}")
            return handle
        if patient is None:
            handle.fail_at(now_s, NO_PATIENT)
            return handle
        handle.set_feedback("listening")
        answered, coherent, transcript = _REPLIES[patient.vitals_at(now_s).consciousness]
        done_s = now_s + (self.config.answer_delay_s if answered else self.config.silence_timeout_s)
        handle.succeed_at(done_s, InquiryReply(answered, coherent, transcript, done_s))
        return handle

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimVoiceInquiryConfig, ctx: BuildContext) -> SimVoiceInquiry:
    env, body = sim_context(ctx)
    return SimVoiceInquiry(name, ctx.clock, env, body, config)
