"""Sends recorded segments as they are made, in order; holds them in a bounded buffer while the
uplink is down. Overflow is an explicit failure (`BufferOverflow`), never a silently dropped
segment: a recording of an interview is evidence, and a gap in it must be visible."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hal.recorder import RecordedSegment
from missions.media import media_ref


class BufferOverflow(Exception):
    def __init__(self, capacity: int, index: int) -> None:
        super().__init__(f"segment buffer overflow: {capacity} segments already waiting for the uplink, "
                         f"segment {index} cannot be kept")
        self.capacity = capacity
        self.index = index


@dataclass(frozen=True, slots=True)
class Sent:
    index: int
    ref: str
    sha256: str


class SegmentUploader:
    """`offer()` a finished segment; `pump(uplink_up)` sends what it can, oldest first, through
    `send` (which stores the segment and announces it; it returns what was sent)."""

    def __init__(self, send: Callable[[RecordedSegment], Sent], *, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._send = send
        self.capacity = capacity
        self._buffer: deque[RecordedSegment] = deque()
        self.sent: list[Sent] = []
        self.max_buffered = 0
        self._last_index = -1

    def offer(self, segment: RecordedSegment) -> None:
        if segment.index <= self._last_index:
            return  # already taken (a re-offered segment after a restart is not sent twice)
        if len(self._buffer) >= self.capacity:
            raise BufferOverflow(self.capacity, segment.index)
        self._buffer.append(segment)
        self._last_index = segment.index
        self.max_buffered = max(self.max_buffered, len(self._buffer))

    def skip_through(self, index: int) -> None:
        """Segments up to `index` were sent before a restart."""
        self._last_index = max(self._last_index, index)

    def pump(self, uplink_up: bool) -> list[Sent]:
        sent: list[Sent] = []
        while uplink_up and self._buffer:
            item = self._send(self._buffer.popleft())
            sent.append(item)
            self.sent.append(item)
        return sent

    def pending(self) -> list[RecordedSegment]:
        """Segments waiting for the uplink, oldest first."""
        return list(self._buffer)

    @property
    def last_index(self) -> int:
        """The highest segment index taken so far (-1 before the first)."""
        return self._last_index

    @property
    def buffered(self) -> int:
        return len(self._buffer)


def segment_record(segment: RecordedSegment) -> dict[str, Any]:
    ref, _ = media_ref(segment.video)
    audio_ref, _ = media_ref(segment.audio)
    return {"index": segment.index, "ref": ref, "sha256": segment.video_sha256, "audio_ref": audio_ref,
            "audio_sha256": segment.audio_sha256, "start_s": segment.start_s, "end_s": segment.end_s}
