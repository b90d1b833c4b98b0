"""Speaker: announcements and music. A `VoiceInquiry` also listens for the answer."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


@dataclass(frozen=True, slots=True)
class Utterance:
    text: str
    language: str
    stamp_s: float


@dataclass(frozen=True, slots=True)
class Playback:
    track_ref: str  # a track of the ward's music library ("genre:classical", a catalogue id)
    started_s: float


class Speaker(Device):
    kind = "speaker"

    @abstractmethod
    def say(self, text: str, *, language: str = "en") -> None: ...

    @abstractmethod
    def play(self, track_ref: str) -> Playback:
        """Start playing a track from the robot's music library (a patient's request)."""

    @abstractmethod
    def stop_playback(self) -> None: ...

    @abstractmethod
    def history(self) -> list[Utterance]:
        """What was said, oldest first (bounded), for logs and tests."""
