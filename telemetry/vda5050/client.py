"""A small paho client for VDA 5050: subscribe to topics, hand checked messages on, send checked ones.

Used by the fleet's vehicle adapter (master side) and by the medbot robot's bridge (vehicle side).
What it guarantees:

* every message sent is checked against its official schema first (`protocol.encode`); one that
  fails is our bug, logged and not sent;
* every message received is checked too: one that fails is logged with its topic and the JSON path
  and dropped (counted in ``rejected``), never handed on; the network thread never raises;
* a Last Will can be set (the vehicle side's ``connection`` CONNECTIONBROKEN), and ``online``
  messages are re-published after every (re)connect, before the subscriptions are renewed;
* `start` and `close` are bounded.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from telemetry.paho_loop import stop_loop
from telemetry.subscriber import cut_like_a_dead_process
from telemetry.tls import TlsConfig
from telemetry.url import parse_broker_url
from telemetry.vda5050.protocol import TOPIC_SPECS, Topic, TopicParts, Vda5050Error, decode, encode, parse_topic

log = logging.getLogger(__name__)

#: handler(parts, message): called on paho's network thread with a message that passed its schema
Handler = Callable[[TopicParts, dict[str, Any]], None]


class Vda5050Client:
    def __init__(self, broker_url: str, *, client_id: str, interface: str = "uagv", username: str | None = None,
                 password: str | None = None, tls: TlsConfig | None = None, keepalive_s: int = 15,
                 connect_timeout_s: float = 10.0) -> None:
        self.address = parse_broker_url(broker_url)
        self.interface = interface
        self.client_id = client_id
        self.connect_timeout_s = connect_timeout_s
        self._keepalive_s = keepalive_s
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        if username is not None:
            self._client.username_pw_set(username, password)
        if self.address.tls:
            (tls or TlsConfig()).apply(self._client)
        self._client.reconnect_delay_set(1, 10)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._filters: list[str] = []
        self._handler: Handler | None = None
        #: (topic, Topic, message factory) re-sent after every connect (a vehicle's ONLINE)
        self._on_connect_messages: list[tuple[str, Topic, Callable[[], dict[str, Any]]]] = []
        self._subscribed = threading.Event()
        self._connected = threading.Event()
        self._error: str | None = None
        self._closed = False
        self._lock = threading.Lock()
        self.received = 0
        self.rejected = 0
        self.sent = 0

    # ---- life ---------------------------------------------------------------------------------

    def set_will(self, topic: str, kind: Topic, message: dict[str, Any]) -> None:
        spec = TOPIC_SPECS[kind]
        self._client.will_set(topic, encode(kind, message), qos=spec.qos, retain=spec.retain)

    def publish_on_connect(self, topic: str, kind: Topic, factory: Callable[[], dict[str, Any]]) -> None:
        """Send ``factory()`` after every connect (before subscribing), e.g. ONLINE."""
        self._on_connect_messages.append((topic, kind, factory))

    def start(self, filters: list[str], handler: Handler) -> None:
        """Connect and subscribe; return once subscribed, or raise within ``connect_timeout_s``."""
        self._filters = list(filters)
        self._handler = handler
        self._client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive_s)
        self._client.loop_start()
        if not self._filters:
            self._subscribed.set()
        if self._subscribed.wait(self.connect_timeout_s) and self._connected.is_set() and self._error is None:
            return
        self._client.disconnect()
        stop_loop(self._client)
        self._closed = True
        why = self._error or f"no connection within {self.connect_timeout_s} s"
        raise (ConnectionRefusedError if self._error else TimeoutError)(
            f"VDA 5050 client {self.client_id!r} to {self.address.url}: {why}")

    def close(self, last: tuple[str, Topic, dict[str, Any]] | None = None, timeout_s: float = 5.0) -> None:
        """Optionally send `last` (a vehicle's OFFLINE) and wait for it, then disconnect; bounded."""
        if self._closed:
            return
        deadline = time.monotonic() + timeout_s
        if last is not None and self._connected.is_set():
            info = self.publish(*last)
            if info is not None:
                with contextlib.suppress(ValueError, RuntimeError):
                    info.wait_for_publish(max(0.1, deadline - time.monotonic() - 0.5))
        self._closed = True
        self._client.disconnect()
        stop_loop(self._client)

    def abort(self) -> None:
        """Tests: drop the connection like a dead process (the broker publishes the Last Will)."""
        self._closed = True
        cut_like_a_dead_process(self._client)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # ---- sending ------------------------------------------------------------------------------

    def publish(self, topic: str, kind: Topic, message: dict[str, Any]) -> mqtt.MQTTMessageInfo | None:
        """Check and send; None (logged) if the message breaks its schema or the client is closed."""
        try:
            payload = encode(kind, message)
        except Vda5050Error as exc:
            log.error("vda5050: not sending %s on %s: %s", kind.value, topic, exc)
            return None
        if self._closed:
            return None
        spec = TOPIC_SPECS[kind]
        with self._lock:
            self.sent += 1
            return self._client.publish(topic, payload, qos=spec.qos, retain=spec.retain)

    # ---- paho callbacks (network thread) ------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._error = f"connection refused: {reason_code}"
            self._subscribed.set()
            return
        self._connected.set()
        for topic, kind, factory in self._on_connect_messages:
            self.publish(topic, kind, factory())
        if self._filters:
            client.subscribe([(f, 1) for f in self._filters])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: list[Any],
                      properties: Any) -> None:
        if any(rc.is_failure for rc in reason_codes):
            self._error = f"subscriptions refused by the broker (ACL?): {reason_codes}"
        self._subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        self._connected.clear()
        if not self._closed:
            log.warning("vda5050: %s disconnected from %s (%s); reconnecting", self.client_id, self.address.url,
                        reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            parts = parse_topic(message.topic, interface=self.interface)
            body = decode(parts.topic, bytes(message.payload), where=message.topic)
            header_vehicle = (body.get("manufacturer"), body.get("serialNumber"))
            if header_vehicle != (parts.vehicle.manufacturer, parts.vehicle.serial_number):
                raise Vda5050Error(f"header names {header_vehicle[0]}/{header_vehicle[1]}, the topic {parts.vehicle}")
        except Vda5050Error as exc:
            self.rejected += 1
            log.warning("vda5050: dropped a message on %s: %s", message.topic, exc)
            return
        handler = self._handler
        if handler is None:
            return
        try:
            handler(parts, body)
            self.received += 1
        except Exception:  # the network thread must survive a handler's bug; it is logged with its trace
            self.rejected += 1
            log.exception("vda5050: handling %s failed", message.topic)
