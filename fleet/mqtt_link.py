"""The fleet service's MQTT transport: robots' messages in, commands and task states out.

`FleetLink` is the `Outbox` of a `FleetService` and feeds its `on_message`. Guarantees, and why:

* **A persistent session** under a fixed client id per site (``medbot-fleet-<site>``; MQTT 5
  ``clean_start=False`` with a session expiry, or a 3.1.1 ``clean_session=False``): what robots
  publish at QoS 1 while the service is down or restarting (events, acks, alerts, clinical records,
  task requests) waits at the broker and is delivered when it comes back.
* **Acknowledged only after the step that handled it was committed.** paho's manual acks: a QoS 1
  message is PUBACKed once `FleetService.step` — which stores every change before it sends
  anything — returned (`take_received` before the step, `acknowledge` after). A `kill -9` between
  the two leaves the message unacknowledged and the broker redelivers it to the restarted service;
  an acknowledged message is therefore always in the store. The price is an at-least-once input:
  what the broker sends again after a reconnect (byte-identical, it was never acknowledged) is
  recognised and not handed over twice; after a restart of the process a repeat can still reach
  the service, whose task and mission ids make it harmless.
* **The contract on the way in.** Every message is decoded and validated against its channel's
  schema (`telemetry.validate`), its header's robot id must match its topic, and its stamp comes
  from the header. A bad one is logged with its topic and reason, acknowledged (a poison message
  must not be redelivered for ever) and dropped; the network thread never raises.
* **The contract on the way out.** Envelopes with a per-topic ``seq`` through one
  `telemetry.codec.MessageEncoder` per robot id (commands carry the target robot's id in their
  header, the fleet's own topics ``fleet``), QoS and retain from `telemetry.topics.CHANNEL_SPECS`.
  While the link is down paho queues QoS 1 messages (bounded by ``max_queued``) and sends them
  after the reconnect; a dispatch that never arrives is sent again by the service anyway.
* **Its own liveness** on the retained ``medbot/v1/<site>/fleet/connection``: ONLINE after every
  connect, OFFLINE after `close`, CONNECTION_BROKEN as the Last Will — the robots' convention
  (telemetry.publisher). ``session`` is taken from the wall clock in milliseconds, so it also grows
  across process restarts and a late will of an earlier process is recognisably stale.

Threading: paho's network thread decodes and validates, then hands the message to the service's
thread-safe queue; `publish` may be called from any thread (the step loop, HTTP request threads)
and keeps wire order equal to ``seq`` order under one lock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from telemetry.codec import MessageEncoder, WireMessage
from telemetry.subscriber import cut_like_a_dead_process
from telemetry.tls import TlsConfig
from telemetry.topics import FLEET_ID, HIS_ID, Channel, check_segment, parse_topic, subscription_filter, topic_for
from telemetry.url import parse_broker_url
from telemetry.validate import PayloadError, checker_for

log = logging.getLogger(__name__)

#: what the service reads of every robot of its site (viz and media are not its business)
ROBOT_CHANNELS: tuple[Channel, ...] = (
    Channel.FACTSHEET, Channel.CONNECTION, Channel.STATE, Channel.EVENTS, Channel.CLINICAL, Channel.ALERTS,
    Channel.COMMANDS_ACK, Channel.TRAFFIC,
)
#: what it reads on its own topics
FLEET_CHANNELS: tuple[Channel, ...] = (Channel.TASK_REQUESTS,)
#: what it reads of the HIS link (``medbot/v1/<site>/his/census``: who lies in which bed)
HIS_CHANNELS: tuple[Channel, ...] = (Channel.CENSUS,)

#: handler(robot_id, channel, body, stamp_s): FleetService.on_message
MessageHandler = Callable[[str, str, dict[str, Any], float], None]


@dataclass(frozen=True, slots=True)
class LinkStats:
    received: int  # messages handed to the service
    rejected: int  # dropped: not JSON, not the contract, a header that does not match its topic
    published: int  # handed to paho (QoS 1: queued for delivery, also across a reconnect)
    dropped: int  # publishes refused: invalid body (a service bug) or paho's queue full
    connects: int
    disconnects: int


@dataclass(frozen=True, slots=True)
class _Pending:
    """A received QoS 1 message to acknowledge once the step that handled it was committed."""

    generation: int  # the connection it came on: a mid is only meaningful on its own connection
    mid: int
    qos: int


def stamp_from_header(timestamp: str) -> float:
    """The envelope's ``YYYY-MM-DDTHH:MM:SS.mmmZ`` as epoch seconds (the schema fixed the format)."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


class FleetLink:
    """The fleet service's MQTT client. ``start(handler)`` connects and subscribes (bounded);
    `publish` is the service's `Outbox`; ``close()`` says OFFLINE and disconnects (bounded)."""

    def __init__(
        self,
        broker_url: str,
        site: str,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: TlsConfig | None = None,
        mqtt5: bool = True,
        session_expiry_s: int = 7 * 24 * 3600,
        connect_timeout_s: float = 10.0,
        keepalive_s: int = 30,
        reconnect_max_delay_s: int = 30,
        max_queued: int = 10_000,
        receive_maximum: int = 1000,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        self.address = parse_broker_url(broker_url)
        if tls is not None and not self.address.tls:
            raise ValueError(f"broker URL {broker_url!r}: TLS settings given; use mqtts://")
        self.site = check_segment(site, "site")
        # fixed per site: the broker keeps this session (subscriptions + queued messages) for us
        self.client_id = client_id or f"medbot-fleet-{self.site}"
        self.mqtt5 = mqtt5
        self.connect_timeout_s = connect_timeout_s
        self._keepalive_s = keepalive_s
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        self._clock_s = clock_s  # stamps ONLINE / OFFLINE / the will (the service stamps its own)
        if mqtt5:
            self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                       protocol=mqtt.MQTTv5, manual_ack=True)
        else:
            self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                       protocol=mqtt.MQTTv311, clean_session=False, manual_ack=True)
        if username is not None:
            self._client.username_pw_set(username, password)
        if self.address.tls:
            (tls or TlsConfig()).apply(self._client)
        self._client.reconnect_delay_set(1, reconnect_max_delay_s)
        self._client.max_queued_messages_set(max_queued)
        self._client.on_pre_connect = self._on_pre_connect
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

        self._own = MessageEncoder(self.site, FLEET_ID)
        self._encoders: dict[str, MessageEncoder] = {FLEET_ID: self._own}
        self._checkers = {ch: checker_for(ch) for ch in (*ROBOT_CHANNELS, *FLEET_CHANNELS, *HIS_CHANNELS)}
        self._handler: MessageHandler | None = None
        self._send_lock = threading.Lock()  # seq order == wire order per topic
        self._state_lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._generation = 0
        self._session = -1
        self._session_seqs: tuple[int, int] | None = None  # (ONLINE seq, will/OFFLINE seq)
        self._subscribed = threading.Event()
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._error: str | None = None
        self._started = False
        self._closed = False
        self._received = self._rejected = self._published = self._dropped = 0
        self._connects = self._disconnects = 0
        self.rejections: Counter[str] = Counter()  # reason category -> count
        self._recent: OrderedDict[bytes, None] = OrderedDict()  # digests of recent QoS 1 messages
        self._recent_max = 50_000
        self.redeliveries = 0  # repeats the broker sent after a reconnect, not handed over again

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self, handler: MessageHandler) -> None:
        """Connect, announce ONLINE, subscribe; return once the broker acknowledged the
        subscriptions, or raise TimeoutError / ConnectionRefusedError within ``connect_timeout_s``."""
        if self._started:
            raise RuntimeError("FleetLink.start() may be called once")
        self._started = True
        self._handler = handler
        if self.mqtt5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self._session_expiry_s
            # acks wait for the step's commit: let the broker have a step's worth of messages out
            # with us (Mosquitto's default in-flight window is 20)
            props.ReceiveMaximum = self._receive_maximum
            self._client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive_s,
                                       clean_start=False, properties=props)
        else:
            self._client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive_s)
        self._client.loop_start()
        if self._subscribed.wait(self.connect_timeout_s) and self._error is None:
            return
        self._client.disconnect()
        self._client.loop_stop()
        self._closed = True
        why = self._error or f"no connection and subscription within {self.connect_timeout_s} s"
        raise (ConnectionRefusedError if self._error else TimeoutError)(
            f"fleet link to {self.address.url} as {self.client_id!r}: {why}")

    def close(self, timeout_s: float = 5.0) -> None:
        """OFFLINE (retained), wait for our QoS 1 messages to be acknowledged, disconnect — each
        bounded by ``timeout_s`` in all. Messages received but not acknowledged stay with the broker."""
        if self._closed or not self._started:
            self._closed = True
            return
        deadline = time.monotonic() + timeout_s
        offline: mqtt.MQTTMessageInfo | None = None
        with self._send_lock:
            self._closed = True
            if self._connected.is_set():
                offline = self._send_connection("OFFLINE", last=True)
        if offline is not None:
            # one connection delivers in order: OFFLINE acknowledged means what went before arrived
            try:
                offline.wait_for_publish(max(0.1, deadline - time.monotonic() - 0.5))
            except (ValueError, RuntimeError) as exc:
                log.warning("fleet link: OFFLINE not confirmed: %s", exc)
        self._disconnected.clear()
        if self._client.disconnect() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            # let the network thread send DISCONNECT, or the broker publishes our will over OFFLINE
            self._disconnected.wait(max(0.1, deadline - time.monotonic()))
        self._client.loop_stop()

    def abort(self) -> None:
        """Tests: die like a killed process — no OFFLINE, no DISCONNECT (the broker publishes the
        will), nothing pending acknowledged."""
        self._closed = True
        cut_like_a_dead_process(self._client)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def stats(self) -> LinkStats:
        return LinkStats(self._received, self._rejected, self._published, self._dropped, self._connects,
                         self._disconnects)

    # ---- acknowledgements (the step loop) -----------------------------------------------------

    def take_received(self) -> list[_Pending]:
        """Every message handed to the service so far; acknowledge them after the next step."""
        with self._state_lock:
            pending, self._pending = self._pending, []
        return pending

    def acknowledge(self, pending: list[_Pending]) -> None:
        """PUBACK messages whose step was committed. Those of an earlier connection are skipped:
        the broker redelivers them on the new one (same packet id), where they are acked in turn."""
        generation = self._generation
        for p in pending:
            if p.generation == generation:
                self._client.ack(p.mid, p.qos)

    # ---- the Outbox ---------------------------------------------------------------------------

    def publish(self, robot_id: str, channel: Channel, body: dict[str, Any], stamp_s: float) -> None:
        """Frame and send one of the service's messages. Never raises: the service calls this while
        it commits a step, and a bad body (a bug) must cost that message, not the loop."""
        try:
            encoder = self._encoder(robot_id)
            prepared = encoder.prepare(channel, body, stamp_s)
        except (PayloadError, ValueError) as exc:
            self._dropped += 1
            log.error("fleet link: not sending %s to %s: %s", channel, robot_id, exc)
            return
        with self._send_lock:
            if self._closed:
                self._dropped += 1
                log.warning("fleet link: closed; %s for %s not sent", channel, robot_id)
                return
            wire = encoder.seal(prepared)
            info = self._client.publish(wire.topic, wire.payload, qos=wire.qos, retain=wire.retain)
            self._account(info, wire.topic)

    def _account(self, info: mqtt.MQTTMessageInfo, topic: str) -> mqtt.MQTTMessageInfo:
        # MQTT_ERR_NO_CONN is not a loss: paho keeps a QoS 1 message and sends it after the reconnect
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            self._dropped += 1
            log.error("fleet link: paho's outgoing queue is full; %s dropped", topic)
        else:
            self._published += 1
        return info

    def _encoder(self, robot_id: str) -> MessageEncoder:
        encoder = self._encoders.get(robot_id)
        if encoder is None:
            encoder = self._encoders[robot_id] = MessageEncoder(self.site, robot_id)
        return encoder

    # ---- our own connection status --------------------------------------------------------------

    def _connection_wire(self, state: str, seq: int) -> WireMessage:
        prepared = self._own.prepare(Channel.CONNECTION, {"state": state, "session": self._session}, self._clock_s())
        return self._own.seal(prepared, seq=seq)

    def _send_connection(self, state: str, *, last: bool = False) -> mqtt.MQTTMessageInfo:
        assert self._session_seqs is not None
        online_seq, offline_seq = self._session_seqs
        wire = self._connection_wire(state, offline_seq if last else online_seq)
        return self._account(self._client.publish(wire.topic, wire.payload, qos=wire.qos, retain=wire.retain),
                             wire.topic)

    # ---- paho callbacks (network thread) ------------------------------------------------------

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        with self._state_lock:
            # wall-clock milliseconds (real, not a scaled clock), never below the last: grows across
            # process restarts as well
            self._session = max(self._session + 1, int(time.time() * 1000))
            online_seq = self._own.reserve_seq(Channel.CONNECTION)
            will_seq = self._own.reserve_seq(Channel.CONNECTION)
            self._session_seqs = (online_seq, will_seq)
            will = self._connection_wire("CONNECTION_BROKEN", will_seq)
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._error = f"connection refused: {reason_code}"
            self._subscribed.set()  # wake start(), which reports it
            return
        with self._state_lock:
            self._generation += 1
            self._connects += 1
        self._disconnected.clear()
        with self._send_lock:
            if not self._closed:
                self._send_connection("ONLINE")
        # Subscribe on every connect, even when the broker kept the session: subscribing again makes
        # it send the retained factsheets and connections, which a restarted service has to learn.
        filters = [subscription_filter(self.site, None, ch) for ch in ROBOT_CHANNELS]
        filters += [topic_for(self.site, FLEET_ID, ch) for ch in FLEET_CHANNELS]
        filters += [topic_for(self.site, HIS_ID, ch) for ch in HIS_CHANNELS]
        if self.mqtt5:
            # noLocal: our own alerts, tasks and connection match `+/alerts` etc.; leave them out
            client.subscribe([(f, SubscribeOptions(qos=1, noLocal=True)) for f in filters])
        else:
            client.subscribe([(f, 1) for f in filters])
        self._connected.set()
        log.info("fleet link: connected to %s as %s (session %s)", self.address.url, self.client_id,
                 "resumed" if getattr(flags, "session_present", False) else "new")

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: list[Any],
                      properties: Any) -> None:
        if any(rc.is_failure for rc in reason_codes):
            self._error = f"subscriptions refused by the broker (ACL?): {reason_codes}"
        self._subscribed.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        with self._state_lock:
            self._disconnects += 1
        self._connected.clear()
        self._disconnected.set()
        if not self._closed:
            log.warning("fleet link: disconnected from %s (%s); reconnecting", self.address.url, reason_code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        decoded: tuple[str, str, dict[str, Any], float] | None = None
        try:
            decoded = self._decode(message.topic, message.payload)
        except _Rejected as exc:
            self._reject(message.topic, exc.category, exc.reason)
        except Exception as exc:  # the network thread must survive anything a message does
            self._reject(message.topic, "internal", f"{type(exc).__name__}: {exc}")
        handler = self._handler
        if decoded is not None and handler is not None and message.qos > 0 and not message.retain \
                and self._seen_before(message.topic, message.payload):
            # the broker sends again what it had sent on a connection that dropped before our ack:
            # handed over once already; acknowledged after the next step like the original, which
            # that step commits (acking it now could lose it in a crash before that commit)
            self.redeliveries += 1
            with self._state_lock:
                self._pending.append(_Pending(self._generation, message.mid, message.qos))
            return
        if decoded is not None and handler is not None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("fleet link: %s %s (qos %d, mid %d%s)", decoded[0], decoded[1], message.qos, message.mid,
                          ", dup" if message.dup else "")
            handler(*decoded)
            self._received += 1
            if message.qos > 0:
                with self._state_lock:
                    self._pending.append(_Pending(self._generation, message.mid, message.qos))
            return
        client.ack(message.mid, message.qos)  # nothing to commit: a rejected or foreign message is done

    def _seen_before(self, topic: str, payload: bytes | bytearray) -> bool:
        """True for a byte-identical repeat of a recent message on the topic (a QoS 1 redelivery:
        a new message never is one - its seq and timestamp differ). Bounded memory; a restarted
        process starts empty, so the service must still take a repeat calmly (at-least-once)."""
        digest = hashlib.blake2b(topic.encode() + b"\0" + bytes(payload), digest_size=16).digest()
        if digest in self._recent:
            self._recent.move_to_end(digest)
            return True
        self._recent[digest] = None
        if len(self._recent) > self._recent_max:
            self._recent.popitem(last=False)
        return False

    def _decode(self, topic: str, payload: bytes | bytearray) -> tuple[str, str, dict[str, Any], float] | None:
        """(robot_id, channel, body, stamp_s), None for our own messages; raises _Rejected."""
        try:
            parts = parse_topic(topic)
        except ValueError as exc:
            raise _Rejected("topic", str(exc)) from None
        if parts.site != self.site:
            raise _Rejected("site", f"not site {self.site}")
        if parts.robot_id == FLEET_ID and parts.channel not in FLEET_CHANNELS:
            return None  # our own publications (3.1.1 has no noLocal): not an input
        if (parts.robot_id == HIS_ID) != (parts.channel in HIS_CHANNELS):
            if parts.robot_id == HIS_ID:
                return None  # the HIS link's connection and alerts (robots' +/alerts): not the fleet's input
            raise _Rejected("channel", f"{parts.channel.value} is the HIS link's, not {parts.robot_id}'s")
        if parts.channel not in self._checkers or (parts.robot_id == FLEET_ID) != (parts.channel in FLEET_CHANNELS):
            raise _Rejected("channel", f"{parts.channel.value} is not read by the fleet here")
        try:
            envelope = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _Rejected("json", f"not JSON: {exc}") from None
        try:
            self._checkers[parts.channel](envelope, topic)
        except PayloadError as exc:
            raise _Rejected("schema", f"{exc.path}: {exc.reason}") from None
        header = envelope["header"]
        if header["robot_id"] != parts.robot_id:
            raise _Rejected("robot_id", f"header robot_id {header['robot_id']!r} is not the topic's")
        try:
            stamp_s = stamp_from_header(header["timestamp"])
        except ValueError as exc:
            raise _Rejected("timestamp", str(exc)) from None
        return parts.robot_id, parts.channel.value, envelope["body"], stamp_s

    def _reject(self, topic: str, category: str, reason: str) -> None:
        self._rejected += 1
        self.rejections[category] += 1
        log.warning("fleet link: dropped a message on %s: %s", topic, reason[:300])


class _Rejected(Exception):
    def __init__(self, category: str, reason: str) -> None:
        super().__init__(reason)
        self.category = category
        self.reason = reason
