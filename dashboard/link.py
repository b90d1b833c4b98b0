"""The dashboard's one MQTT connection: subscribe to the fleet, publish operator commands and task requests.

paho reconnects by itself (backoff 1..5 s); on every (re)connect the subscription is renewed, so
the broker sends its retained ``connection`` and ``factsheet`` messages again and the fleet state
re-syncs after a broker restart. Commands (to ``<site>/<robot_id>/commands``) and task requests (to
``<site>/fleet/tasks/request``) take one path: framed by `telemetry.codec.MessageEncoder` — the
envelope, a per-topic ``seq``, the channel's schema checked before anything is sent — and published
at their channel's QoS (1 for both).
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from dashboard.state import FleetState
from telemetry.codec import MessageEncoder
from telemetry.subscriber import decode
from telemetry.topics import FLEET_ID, TOPIC_PREFIX, Channel
from telemetry.url import parse_broker_url

log = logging.getLogger(__name__)


class NotConnected(RuntimeError):
    """The broker link is down: a command or task request cannot be sent now (it is not queued either,
    so an operator never has a stale pause, e-stop or task delivered minutes later)."""


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
        # one encoder per (site, robot_id) publisher identity: the header's robot_id is the topic's
        # (the target robot for a command, ``fleet`` for a task request) and seq counts per topic
        self._encoders: dict[tuple[str, str], MessageEncoder] = {}
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
        self._send(Channel.COMMANDS, target["site"], target["robot_id"], body, stamp_s)

    def send_task_request(self, site: str, body: dict[str, Any], stamp_s: float) -> None:
        """Frame and publish one tasks/request body to the fleet service of ``site``; raises as
        `send_command` does."""
        self._send(Channel.TASK_REQUESTS, site, FLEET_ID, body, stamp_s)

    def _send(self, channel: Channel, site: str, robot_id: str, body: dict[str, Any], stamp_s: float) -> None:
        with self._lock:
            encoder = self._encoders.get((site, robot_id))
            if encoder is None:
                encoder = self._encoders[(site, robot_id)] = MessageEncoder(site, robot_id)
            # framed (and schema-checked) first: a request that breaks the contract is refused as such
            # even while the broker is down
            wire = encoder.encode(channel, body, stamp_s)
            if not self._connected.is_set():
                raise NotConnected(f"no connection to the broker at {self.address.url}")
            info = self._client.publish(wire.topic, wire.payload, qos=wire.qos, retain=wire.retain)
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
