"""Where a robot sends telemetry: the :class:`TelemetrySink` protocol and two in-process sinks.

``TelemetryPublisher`` (MQTT) is the real one; :class:`RecordingSink` keeps what would have been
sent (validated and numbered exactly like the real one) for tests and the simulator's summary;
:class:`NullSink` drops everything.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any, NamedTuple, Protocol, runtime_checkable

from telemetry.codec import MessageEncoder
from telemetry.topics import Channel, as_channel


@runtime_checkable
class TelemetrySink(Protocol):
    def publish(self, channel: Channel | str, body: dict[str, Any], stamp_s: float) -> None:
        """Send ``body`` on ``channel`` stamped ``stamp_s`` (epoch seconds); raises PayloadError if invalid."""
        ...

    def close(self) -> None: ...


def caller_channel(channel: Channel | str) -> Channel:
    """The channel a caller may publish on: the connection topic belongs to the sink itself."""
    ch = as_channel(channel)
    if ch is Channel.CONNECTION:
        raise ValueError("the connection channel is managed by the sink (ONLINE/OFFLINE/Last Will)")
    return ch


class Recorded(NamedTuple):
    channel: Channel
    envelope: dict[str, Any]


class RecordingSink:
    """In-memory sink: every message as a consumer would decode it. Thread-safe.

    ``max_records`` bounds memory for long simulations (oldest dropped first).
    """

    def __init__(self, site: str, robot_id: str, *, validate: bool = True, max_records: int | None = None) -> None:
        self._encoder = MessageEncoder(site, robot_id, validate=validate)
        self._records: deque[Recorded] = deque(maxlen=max_records)
        self._lock = threading.Lock()
        self.closed = False

    def publish(self, channel: Channel | str, body: dict[str, Any], stamp_s: float) -> None:
        if self.closed:
            raise RuntimeError("RecordingSink is closed")
        prepared = self._encoder.prepare(caller_channel(channel), body, stamp_s)
        with self._lock:
            wire = self._encoder.seal(prepared)
            self._records.append(Recorded(wire.channel, json.loads(wire.payload)))

    def close(self) -> None:
        self.closed = True

    @property
    def records(self) -> list[Recorded]:
        with self._lock:
            return list(self._records)

    def bodies(self, channel: Channel | str) -> list[dict[str, Any]]:
        ch = as_channel(channel)
        return [r.envelope["body"] for r in self.records if r.channel is ch]

    def topic(self, channel: Channel | str) -> str:
        return self._encoder.topic(channel)


class NullSink:
    """Accepts and drops everything (counts it, so a caller can tell it was fed)."""

    def __init__(self) -> None:
        self.count = 0

    def publish(self, channel: Channel | str, body: dict[str, Any], stamp_s: float) -> None:
        caller_channel(channel)
        self.count += 1

    def close(self) -> None:
        pass
