"""The HIS link's MQTT transport: the census out, task requests to the fleet, task states back.

* ``medbot/v1/<site>/his/census`` — the whole census, retained, QoS 1, after every change and on
  every (re)connect (a broker restarted without persistence has lost the retained one);
* ``medbot/v1/<site>/fleet/tasks/request`` — submits and cancels of lab pick-ups (QoS 1);
* ``medbot/v1/<site>/fleet/tasks`` — read: each task's state, validated against the contract, so
  the service knows what the fleet has and whether a pick-up already started;
* ``medbot/v1/<site>/+/clinical`` — read (when results go out): every robot's clinical records,
  validated against the contract, each handed to the results intake and acknowledged to the broker
  only after it returns (paho sends the PUBACK after the callback: the record is committed first);
* ``medbot/v1/<site>/his/alerts`` — what an operator must look at: a result refused by the record
  system, one about a patient the census does not know, the record system unreachable;
* ``medbot/v1/<site>/his/connection`` — ONLINE after connect, OFFLINE on close, CONNECTION_BROKEN
  as the Last Will (the robots' and the fleet's convention).

With ``session_expiry_s`` the broker keeps the link's session (subscriptions and the QoS 1
messages for it) that long while the service is away, so records published during a restart are
delivered when it is back.

Every body is checked against its channel's schema before it is sent (telemetry.codec); a publish
never raises (paho queues QoS 1 messages while the broker is away, bounded by ``max_queued``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from telemetry.codec import MessageEncoder
from telemetry.paho_loop import stop_loop
from telemetry.tls import TlsConfig
from telemetry.topics import FLEET_ID, HIS_ID, Channel, check_segment, parse_topic, subscription_filter, topic_for
from telemetry.url import parse_broker_url
from telemetry.validate import PayloadError, checker_for

log = logging.getLogger(__name__)

#: on_task(task_id, state, reason), on paho's network thread
TaskCallback = Callable[[str, str, str | None], None]
#: on_clinical(robot_id, record body, stamp_s), on paho's network thread
ClinicalCallback = Callable[[str, dict[str, Any], float], object]


class HisLink:
    def __init__(self, broker_url: str, site: str, *, client_id: str | None = None, username: str | None = None,
                 password: str | None = None, tls: TlsConfig | None = None, mqtt5: bool = True,
                 connect_timeout_s: float = 10.0, keepalive_s: int = 30, max_queued: int = 10_000,
                 session_expiry_s: int = 0, clock_s: Callable[[], float] = time.time) -> None:
        self.address = parse_broker_url(broker_url)
        self.site = check_segment(site, "site")
        self.client_id = client_id or f"medbot-his-{self.site}"
        self.connect_timeout_s = connect_timeout_s
        self._keepalive_s = keepalive_s
        self._clock_s = clock_s
        protocol = mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311
        self._mqtt5 = mqtt5
        self.session_expiry_s = session_expiry_s
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=protocol,
                                   clean_session=None if mqtt5 else session_expiry_s <= 0)
        if username is not None:
            self._client.username_pw_set(username, password)
        if self.address.tls:
            (tls or TlsConfig()).apply(self._client)
        self._client.reconnect_delay_set(1, 30)
        self._client.max_queued_messages_set(max_queued)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._own = MessageEncoder(self.site, HIS_ID)
        self._fleet = MessageEncoder(self.site, FLEET_ID)
        self._tasks_topic = topic_for(self.site, FLEET_ID, Channel.TASKS)
        self._check_tasks = checker_for(Channel.TASKS)
        self._check_clinical = checker_for(Channel.CLINICAL)
        self._clinical_filter = subscription_filter(self.site, None, Channel.CLINICAL)
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._on_task: TaskCallback | None = None
        self._on_clinical: ClinicalCallback | None = None
        self._last_census: tuple[dict[str, Any], float] | None = None
        self._closed = False
        self.published = 0
        self.dropped = 0
        self.rejected = 0
        # per process, from the wall clock in ms: grows across restarts, so a late will is recognisably stale
        self._session = int(time.time() * 1000)
        will = self._own.encode(Channel.CONNECTION, {"state": "CONNECTION_BROKEN", "session": self._session},
                                clock_s())
        self._client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)

    def start(self, on_task: TaskCallback, on_clinical: ClinicalCallback | None = None) -> None:
        """Connect and subscribe (to the clinical channel too with ``on_clinical``); returns once
        subscribed, or raises TimeoutError after ``connect_timeout_s`` (paho keeps trying in the
        background: the service runs on without)."""
        self._on_task = on_task
        self._on_clinical = on_clinical
        if self._mqtt5 and self.session_expiry_s > 0:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry_s
            self._client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive_s,
                                       clean_start=False, properties=props)
        else:
            self._client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive_s)
        self._client.loop_start()
        if not self._subscribed.wait(self.connect_timeout_s):
            raise TimeoutError(f"his link: no connection to {self.address.url} within {self.connect_timeout_s} s")

    def close(self, timeout_s: float = 5.0) -> None:
        with self._lock:
            self._closed = True
            info = None
            if self._connected.is_set():
                wire = self._own.encode(Channel.CONNECTION, {"state": "OFFLINE", "session": self._session},
                                        self._clock_s())
                info = self._client.publish(wire.topic, wire.payload, qos=wire.qos, retain=wire.retain)
        if info is not None:
            try:
                info.wait_for_publish(timeout_s)
            except (ValueError, RuntimeError) as exc:
                log.warning("his link: OFFLINE not confirmed: %s", exc)
        self._client.disconnect()
        stop_loop(self._client)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # ---- the service's Bus ----------------------------------------------------------------------

    def publish_census(self, body: dict[str, Any], stamp_s: float) -> None:
        with self._lock:
            self._last_census = (body, stamp_s)
        self._publish(self._own, Channel.CENSUS, body, stamp_s)

    def request(self, body: dict[str, Any], stamp_s: float) -> None:
        self._publish(self._fleet, Channel.TASK_REQUESTS, body, stamp_s)

    def alert(self, body: dict[str, Any], stamp_s: float) -> None:
        self._publish(self._own, Channel.ALERTS, body, stamp_s)

    def _publish(self, encoder: MessageEncoder, channel: Channel, body: dict[str, Any], stamp_s: float) -> None:
        with self._lock:
            if self._closed:
                self.dropped += 1
                return
            try:
                wire = encoder.encode(channel, body, stamp_s)
            except (PayloadError, ValueError) as exc:  # a bug of ours: costs this message, not the service
                self.dropped += 1
                log.error("his link: not sending %s: %s", channel.value, exc)
                return
            info = self._client.publish(wire.topic, wire.payload, qos=wire.qos, retain=wire.retain)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.dropped += 1
            log.error("his link: paho's queue is full; %s dropped", wire.topic)
        else:
            self.published += 1

    # ---- paho callbacks (network thread) --------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            log.error("his link: connection to %s refused: %s", self.address.url, reason_code)
            return
        self._connected.set()
        client.subscribe(self._tasks_topic, qos=1)
        if self._on_clinical is not None:
            client.subscribe(self._clinical_filter, qos=1)
        wire = self._own.encode(Channel.CONNECTION, {"state": "ONLINE", "session": self._session}, self._clock_s())
        client.publish(wire.topic, wire.payload, qos=wire.qos, retain=wire.retain)
        with self._lock:
            last = self._last_census
        if last is not None:
            self._publish(self._own, Channel.CENSUS, *last)
        self._subscribed.set()
        log.info("his link: connected to %s as %s", self.address.url, self.client_id)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        self._connected.clear()
        if not self._closed:
            log.warning("his link: disconnected from %s (%s); reconnecting", self.address.url, reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            envelope = json.loads(message.payload)
            if message.topic == self._tasks_topic:
                self._check_tasks(envelope, message.topic)
                body = envelope["body"]
                on_task = self._on_task
                if on_task is not None:
                    on_task(str(body["task_id"]), str(body["state"]), body.get("reason"))
                return
            parts = parse_topic(message.topic)
            on_clinical = self._on_clinical
            if parts.channel is not Channel.CLINICAL or on_clinical is None:
                return
            self._check_clinical(envelope, message.topic)
            on_clinical(parts.robot_id, envelope["body"], self._clock_s())
        except (UnicodeDecodeError, json.JSONDecodeError, PayloadError, KeyError, TypeError, ValueError) as exc:
            self.rejected += 1
            log.warning("his link: dropped a message on %s: %s", message.topic, str(exc)[:200])
        except Exception:  # the network thread must survive anything (a store error in the callback)
            self.rejected += 1
            log.exception("his link: handling a message on %s failed", message.topic)
