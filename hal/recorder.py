"""Camera + microphone recorder for interviews: continuous recording cut into segments.

Each finished segment is a self-contained file (video: Motion-JPEG in AVI, written by OpenCV's
`VideoWriter`; audio: raw PCM) with its SHA-256, so it can be uploaded and verified on its own
while the recording goes on. The recorder also reports the state of its uplink: a segment made
while the link is down must be buffered by the caller, never dropped.

Non-blocking: `take_segments()` returns the segments finished since the last call (a hardware
driver fills them from its capture thread; the simulated one renders them on the injected clock).
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


@dataclass(frozen=True, slots=True, eq=False)
class RecordedSegment:
    index: int  # 0, 1, 2 ... within one recording (a resumed recording continues the count)
    start_s: float
    end_s: float
    video: bytes  # AVI container, MJPG codec
    audio: bytes  # PCM, signed 16-bit little endian, mono
    audio_rate_hz: int
    video_sha256: str
    audio_sha256: str

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def make_segment(index: int, start_s: float, end_s: float, video: bytes, audio: bytes, audio_rate_hz: int
                 ) -> RecordedSegment:
    """A segment with its hashes computed from the bytes (the only way backends build one)."""
    return RecordedSegment(index, start_s, end_s, video, audio, audio_rate_hz,
                           hashlib.sha256(video).hexdigest(), hashlib.sha256(audio).hexdigest())


@dataclass(frozen=True, slots=True)
class UplinkState:
    up: bool
    reason: str  # why it is down ("" when up)
    stamp_s: float


class Recorder(Device):
    kind = "recorder"

    @abstractmethod
    def start_recording(self, *, segment_s: float, first_index: int = 0) -> None:
        """Start recording now; a segment is finished every `segment_s`. DeviceError on fault or
        when already recording."""

    @abstractmethod
    def stop_recording(self) -> None:
        """Stop; the partial segment in progress is finished and becomes available to take."""

    @property
    @abstractmethod
    def recording(self) -> bool: ...

    @abstractmethod
    def take_segments(self) -> list[RecordedSegment]:
        """Segments finished since the last call, oldest first (each is returned exactly once).
        A device fault while recording raises DeviceError (segments already finished stay)."""

    @abstractmethod
    def uplink(self) -> UplinkState:
        """Whether segments can be sent now (the robot's media uplink)."""
