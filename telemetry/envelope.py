"""The envelope every payload travels in, and the per-topic sequence numbers in its header.

``{"header": {"seq", "timestamp", "schema", "robot_id"}, "body": {...}}`` — after VDA 5050's
header (``headerId`` +1 per topic on every send, ISO 8601 UTC timestamp with ms). The sequence lets a
consumer detect lost and duplicated messages with :class:`GapDetector`; a sequence that falls back to
0 means the publisher restarted.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from telemetry.topics import Channel, as_channel

SCHEMA_VERSION = 1


def schema_name(channel: Channel | str) -> str:
    """``medbot.<channel>/1``; ``commands/ack`` becomes ``medbot.commands.ack/1``."""
    return f"medbot.{as_channel(channel).value.replace('/', '.')}/{SCHEMA_VERSION}"


# the last second formatted: a publisher stamps many messages within one second, and strftime is
# the dearest part of a stamp (one tuple, replaced whole, so threads never see half an update)
_last_second: tuple[int, str] = (-1, "")


def iso_timestamp(stamp_s: float) -> str:
    """Epoch seconds -> ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds, truncated)."""
    global _last_second
    if not math.isfinite(stamp_s) or stamp_s < 0:
        raise ValueError(f"timestamp must be finite epoch seconds >= 0, got {stamp_s!r}")
    secs, ms = divmod(math.floor(stamp_s * 1000.0), 1000)
    cached_secs, prefix = _last_second
    if cached_secs != secs:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        _last_second = (secs, prefix)
    return f"{prefix}.{ms:03d}Z"


def make_envelope(
    channel: Channel | str, robot_id: str, seq: int, stamp_s: float, body: dict[str, Any]
) -> dict[str, Any]:
    return {
        "header": {
            "seq": seq,
            "timestamp": iso_timestamp(stamp_s),
            "schema": schema_name(channel),
            "robot_id": robot_id,
        },
        "body": body,
    }


class SequenceCounter:
    """Per-key sequence numbers starting at 0, +1 on every :meth:`next`. Thread-safe."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()

    def next(self, key: str) -> int:
        with self._lock:
            seq = self._next.get(key, 0)
            self._next[key] = seq + 1
            return seq

    def peek(self, key: str) -> int:
        """The number the next :meth:`next` call for ``key`` will return."""
        with self._lock:
            return self._next.get(key, 0)


class SeqVerdict(StrEnum):
    FIRST = "first"  # first message seen on this topic (may start anywhere: retained, late join)
    OK = "ok"
    GAP = "gap"  # one or more messages were skipped
    DUPLICATE = "duplicate"  # seen before (QoS 1 redelivery) or out of order
    RESTART = "restart"  # back to 0: the publisher restarted


@dataclass(frozen=True, slots=True)
class Gap:
    topic: str
    expected: int
    got: int

    @property
    def missing(self) -> int:
        return self.got - self.expected


@dataclass(frozen=True, slots=True)
class Duplicate:
    topic: str
    seq: int
    last: int


@dataclass
class GapDetector:
    """Consumer-side bookkeeping of header ``seq`` per topic. Not thread-safe; feed it from one thread.

    A 0 after a higher number counts as a publisher restart, not as a duplicate.
    """

    gaps: list[Gap] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    restarts: list[str] = field(default_factory=list)
    _last: dict[str, int] = field(default_factory=dict)

    def observe(self, topic: str, seq: int) -> SeqVerdict:
        last = self._last.get(topic)
        if last is None:
            self._last[topic] = seq
            return SeqVerdict.FIRST
        if seq == last + 1:
            self._last[topic] = seq
            return SeqVerdict.OK
        if seq > last + 1:
            self.gaps.append(Gap(topic, last + 1, seq))
            self._last[topic] = seq
            return SeqVerdict.GAP
        if seq == 0 and last > 0:
            self.restarts.append(topic)
            self._last[topic] = seq
            return SeqVerdict.RESTART
        self.duplicates.append(Duplicate(topic, seq, last))
        return SeqVerdict.DUPLICATE

    def observe_envelope(self, topic: str, envelope: dict[str, Any]) -> SeqVerdict:
        return self.observe(topic, int(envelope["header"]["seq"]))

    @property
    def missing_total(self) -> int:
        return sum(g.missing for g in self.gaps)
