"""Voice inquiry: ask the patient a question and hear whether, and how, they answer.

The robot uses it for the nursing inquiry and to assess consciousness for NEWS2 (ACVPU): a
coherent answer is Alert; an incoherent one is new Confusion; no answer is escalated.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device
from hal.handle import Handle


@dataclass(frozen=True, slots=True)
class InquiryReply:
    answered: bool
    coherent: bool
    transcript: str
    stamp_s: float


class VoiceInquiry(Device):
    kind = "voice_inquiry"

    @abstractmethod
    def start_inquiry(self, question: str) -> Handle[InquiryReply, str]: ...
