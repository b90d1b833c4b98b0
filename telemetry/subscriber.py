"""A small collecting subscriber: tests, the dashboard and the data center start from it.

Collects every message under a filter (default ``medbot/v1/#``) as :class:`Received`, decoded from
JSON, into a thread-safe list; :meth:`TelemetrySubscriber.wait_for` blocks (bounded) until a
predicate over that list holds.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from telemetry.paho_loop import stop_loop
from telemetry.tls import TlsConfig
from telemetry.topics import TOPIC_PREFIX, Channel, TopicParts, parse_topic
from telemetry.url import parse_broker_url


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    envelope: dict[str, Any] | None  # None if the payload was not a JSON object
    retained: bool
    qos: int
    error: str | None = None  # why decoding failed

    @property
    def parts(self) -> TopicParts | None:
        try:
            return parse_topic(self.topic)
        except ValueError:
            return None

    @property
    def channel(self) -> Channel | None:
        parts = self.parts
        return None if parts is None else parts.channel

    @property
    def seq(self) -> int | None:
        return None if self.envelope is None else self.envelope.get("header", {}).get("seq")

    @property
    def body(self) -> dict[str, Any] | None:
        return None if self.envelope is None else self.envelope.get("body")


def decode(topic: str, payload: bytes | bytearray, retained: bool, qos: int) -> Received:
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Received(topic, None, retained, qos, f"not JSON: {exc}")
    if not isinstance(obj, dict):
        return Received(topic, None, retained, qos, f"not a JSON object: {type(obj).__name__}")
    return Received(topic, obj, retained, qos)


class TelemetrySubscriber:
    """Subscribe to ``topic_filter`` and collect what arrives. Context manager: connect/close."""

    def __init__(
        self,
        broker_url: str,
        topic_filter: str = f"{TOPIC_PREFIX}/#",
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        qos: int = 1,
        connect_timeout_s: float = 10.0,
        tls: TlsConfig | None = None,
    ) -> None:
        self.address = parse_broker_url(broker_url)
        self.topic_filter = topic_filter
        self.qos = qos
        self.connect_timeout_s = connect_timeout_s
        self.client_id = client_id or f"medbot-sub-{uuid.uuid4().hex[:12]}"
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv311, clean_session=True
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if self.address.tls:
            (tls or TlsConfig()).apply(self._client)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._messages: list[Received] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._error: str | None = None
        self._started = False
        self.ignored = 0  # messages outside topic_filter that a broker sent anyway

    def connect(self) -> None:
        """Connect and subscribe; returns once the broker acknowledged the subscription."""
        if self._started:
            raise RuntimeError("connect() may be called once per TelemetrySubscriber")
        self._started = True
        self._client.connect_async(self.address.host, self.address.port)
        self._client.loop_start()
        if not self._subscribed.wait(self.connect_timeout_s) or self._error is not None:
            self.close()
            why = self._error or f"no subscription acknowledged within {self.connect_timeout_s} s"
            raise TimeoutError(f"subscriber on {self.address.url} ({self.topic_filter}): {why}")

    def close(self) -> None:
        if self._started:
            self._client.disconnect()
            stop_loop(self._client)

    def __enter__(self) -> TelemetrySubscriber:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def messages(self) -> list[Received]:
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout_s: float = 10.0) -> list[Received]:
        """Block until ``predicate(messages)`` holds; return the messages, or raise TimeoutError."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self._messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    tail = ", ".join(f"{m.topic}#{m.seq}" for m in self._messages[-5:])
                    raise TimeoutError(
                        f"condition not met within {timeout_s} s; {len(self._messages)} messages, last: [{tail}]"
                    )
                self._cond.wait(remaining)
            return list(self._messages)

    def on_channel(self, channel: Channel | str) -> list[Received]:
        ch = Channel(channel)
        return [m for m in self.messages if m.channel is ch]

    # -- paho callbacks (network thread) ---------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._error = f"connection refused: {reason_code}"
            self._subscribed.set()
            return
        client.subscribe(self.topic_filter, qos=self.qos)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: list[Any], properties: Any
    ) -> None:
        if any(rc.is_failure for rc in reason_codes):
            self._error = f"subscription to {self.topic_filter!r} refused: {reason_codes}"
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if not mqtt.topic_matches_sub(self.topic_filter, message.topic):
            # amqtt 0.12 sends a connecting client the retained messages of *every* client's
            # subscriptions; a consumer must only see what it asked for.
            self.ignored += 1
            return
        received = decode(message.topic, message.payload, bool(message.retain), message.qos)
        with self._cond:
            self._messages.append(received)
            self._cond.notify_all()


def cut_like_a_dead_process(client: mqtt.Client) -> None:
    """Tests: drop a paho client's connection as a killed process would — no DISCONNECT, nothing
    pending acknowledged — so that the broker publishes its Last Will."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    stop_loop(client)
