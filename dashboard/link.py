"""The dashboard's one MQTT connection: subscribe to the fleet, publish operator commands.

paho reconnects by itself (backoff 1..5 s); on every (re)connect the subscription is renewed, so
the broker sends its retained ``connection`` and ``factsheet`` messages again and the fleet state
re-syncs after a broker restart. Commands are framed by `telemetry.commands.CommandEncoder` (schema
checked before anything is sent) and go out at QoS 1.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from dashboard.state import FleetState
from telemetry.commands import CommandEncoder
from telemetry.subscriber import decode
from telemetry.topics import CHANNEL_SPECS, TOPIC_PREFIX, Channel
from telemetry.url import parse_broker_url

log = logging.getLogger(__name__)


class NotConnected(RuntimeError):
    """The broker link is down: a command cannot be sent now (it is not queued either, so an operator
    never has a stale pause or e-stop delivered minutes later)."""


class FleetLink:
    def __init__(self, broker_url: str, state: FleetState, *, username: str | None = None,
                 password: str | None = None, topic_filter: str = f"{TOPIC_PREFIX}/#") -> None:
        self.address = parse_broker_url(broker_url)
        self.state = state
        self.topic_filter = topic_filter
        self.client_id = f"medbot-dashboard-{uuid.uuid4().hex[:10]}"
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                   protocol=mqtt.MQTTv311, clean_session=True)
        if username is not None:
            self._client.username_pw_set(username, password)
        if self.address.tls:
            from telemetry.tls import TlsConfig

            TlsConfig().apply(self._client)
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._encoders: dict[tuple[str, str], CommandEncoder] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.connects = 0

    def start(self) -> None:
        # connect_async: the dashboard comes up (and says "broker down") even when the broker is not
        self._client.connect_async(self.address.host, self.address.port, keepalive=10)
        self._client.loop_start()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def send_command(self, body: dict[str, Any], stamp_s: float) -> None:
        """Frame and publish one command; PayloadError if it breaks the contract, NotConnected if
        the broker is unreachable."""
        target = body["target"]
        with self._lock:
            encoder = self._encoders.setdefault((target["site"], target["robot_id"]),
                                                CommandEncoder(target["site"], target["robot_id"]))
            wire = encoder.encode(body, stamp_s)
            if not self._connected.is_set():
                raise NotConnected(f"no connection to the broker at {self.address.url}")
            info = self._client.publish(wire.topic, wire.payload, qos=CHANNEL_SPECS[Channel.COMMANDS].qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise NotConnected(f"publish to {wire.topic} failed: {mqtt.error_string(info.rc)}")

    # -- paho callbacks (network thread) -----------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            log.warning("dashboard: broker %s refused the connection: %s", self.address.url, reason_code)
            return
        self.connects += 1
        client.subscribe(self.topic_filter, qos=1)
        self._connected.set()
        self.state.set_broker_connected(True)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        self._connected.clear()
        self.state.set_broker_connected(False)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if not mqtt.topic_matches_sub(self.topic_filter, message.topic):
            return  # amqtt may send retained messages of other clients' subscriptions
        received = decode(message.topic, message.payload, bool(message.retain), message.qos)
        try:
            self.state.ingest(received.topic, received.envelope, received.retained)
        except Exception:  # one bad message must not kill paho's network thread
            log.exception("dashboard: could not fold in a message on %s", message.topic)
