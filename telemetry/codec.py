"""Turning ``(channel, body, stamp_s)`` into topic + wire bytes, shared by every sink.

Split in two so a publisher can do the expensive part (schema validation, JSON encoding of the body)
outside its lock and only number and frame the message inside it, which keeps wire order equal to
``seq`` order per topic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telemetry.envelope import SequenceCounter, iso_timestamp, schema_name
from telemetry.topics import CHANNEL_SPECS, Channel, as_channel, check_segment, topic_for
from telemetry.validate import PayloadError, checker_for

# json.dumps(body, separators=(",", ":"), allow_nan=False) builds this encoder on every call
_BODY_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True, slots=True)
class PreparedMessage:
    channel: Channel
    topic: str
    qos: int
    retain: bool
    timestamp: str
    body_json: str


@dataclass(frozen=True, slots=True)
class WireMessage:
    channel: Channel
    topic: str
    qos: int
    retain: bool
    seq: int
    payload: bytes


class MessageEncoder:
    """Validates, numbers and frames one robot's messages. ``seal`` is thread-safe."""

    def __init__(self, site: str, robot_id: str, *, validate: bool = True) -> None:
        self.site = check_segment(site, "site")
        self.robot_id = check_segment(robot_id, "robot_id")
        self.validate = validate
        self._topics = {ch: topic_for(site, robot_id, ch) for ch in Channel}
        self._schemas = {ch: schema_name(ch) for ch in Channel}
        self._seq = SequenceCounter()
        self._checkers: dict[Channel, Callable[[Any, str | None], None]] = {}  # bound once per channel

    def topic(self, channel: Channel | str) -> str:
        return self._topics[as_channel(channel)]

    def prepare(self, channel: Channel | str, body: dict[str, Any], stamp_s: float) -> PreparedMessage:
        """Check and encode everything but the sequence number; raises PayloadError / ValueError."""
        ch = channel if type(channel) is Channel else as_channel(channel)
        topic = self._topics[ch]
        if not isinstance(body, dict):
            raise PayloadError(ch.value, "$.body", f"body must be a dict, got {type(body).__name__}", topic)
        timestamp = iso_timestamp(stamp_s)
        if self.validate:
            # the whole envelope as it will be framed (make_envelope's shape; seq 0 stands for any seq)
            header = {"seq": 0, "timestamp": timestamp, "schema": self._schemas[ch], "robot_id": self.robot_id}
            check = self._checkers.get(ch)
            if check is None:
                check = self._checkers[ch] = checker_for(ch)
            check({"header": header, "body": body}, topic)
        try:
            body_json = _BODY_ENCODER.encode(body)
        except (TypeError, ValueError) as exc:
            raise PayloadError(ch.value, "$.body", f"not JSON-encodable: {exc}", topic) from None
        spec = CHANNEL_SPECS[ch]
        return PreparedMessage(ch, topic, spec.qos, spec.retain, timestamp, body_json)

    def reserve_seq(self, channel: Channel | str) -> int:
        """Take a ``seq`` now for a message framed later (a Last Will and its ONLINE/OFFLINE)."""
        return self._seq.next(self.topic(channel))

    def seal(self, prepared: PreparedMessage, *, seq: int | None = None) -> WireMessage:
        """Frame the bytes (compact JSON, header first) with the topic's next ``seq``, or a reserved one."""
        if seq is None:
            seq = self._seq.next(prepared.topic)
        # Every header value is JSON-safe by construction (checked segment, fixed formats), so
        # formatting beats re-encoding the whole envelope on the hot path.
        payload = (
            f'{{"header":{{"seq":{seq},"timestamp":"{prepared.timestamp}",'
            f'"schema":"{self._schemas[prepared.channel]}","robot_id":"{self.robot_id}"}},'
            f'"body":{prepared.body_json}}}'
        ).encode()
        return WireMessage(prepared.channel, prepared.topic, prepared.qos, prepared.retain, seq, payload)

    def encode(self, channel: Channel | str, body: dict[str, Any], stamp_s: float) -> WireMessage:
        return self.seal(self.prepare(channel, body, stamp_s))
