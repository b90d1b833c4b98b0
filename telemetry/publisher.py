"""MQTT publisher for one robot: envelope, per-topic seq, schema check, QoS/retain from the topic table.

Connection lifecycle after VDA 5050 and Sparkplug: the retained ``connection`` topic reads ONLINE
after every (re)connect, OFFLINE after a clean :meth:`TelemetryPublisher.close`, and
CONNECTION_BROKEN — the Last Will, published by the broker — when the robot vanished. Each broker
connection is a new ``session`` (a bdSeq), so a consumer can tell a stale will from a current one.

With a :class:`~telemetry.spool.Spool`, every at-least-once message is stored on disk before it is
sent and forgotten only on PUBACK; while the link is down new messages wait in the spool, and after a
reconnect a replay thread sends the backlog in order — once the messages paho re-sends by itself
(handed over before the outage) are acknowledged, so order per topic holds across the outage.

Flow control with a spool is the publisher's, not paho's: no spooled message is handed over while
``max_inflight`` QoS 1 messages are unacknowledged; it waits in the spool for the replay thread. paho's own
limit would send each waiting message from its network thread as a PUBACK frees a slot, scanning its
in-flight table every time: that halved the replay of a backlog on two cores (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from telemetry.codec import MessageEncoder, WireMessage
from telemetry.inflight import InFlight
from telemetry.paho_loop import stop_loop
from telemetry.sinks import NullSink, RecordingSink, TelemetrySink, caller_channel
from telemetry.spool import Spool
from telemetry.tls import TlsConfig
from telemetry.topics import CHANNEL_SPECS, FLEET_ID, Channel, topic_for
from telemetry.url import parse_broker_url

#: the channels a spool holds by default: every at-least-once channel the caller publishes on
DEFAULT_SPOOLED_CHANNELS: frozenset[Channel] = frozenset(
    ch for ch, spec in CHANNEL_SPECS.items() if spec.qos >= 1 and ch not in (Channel.CONNECTION, Channel.COMMANDS)
)
_RESEND_GRACE_S = 3.0
_REPLAY_CHUNK = 500
_REPLAY_POLL_S = 0.05
CommandCallback = Callable[[str, bytes], None]

__all__ = ["NullSink", "PublisherStats", "RecordingSink", "TelemetryPublisher", "TelemetrySink"]


@dataclass(frozen=True, slots=True)
class PublisherStats:
    sent: int  # handed to paho (QoS 1: queued for delivery, also across a reconnect)
    dropped: int  # QoS 0 while not connected; QoS 1 paho refused (out of message ids; a spooled one stays on disk)
    connects: int
    disconnects: int


class TelemetryPublisher:
    """Publishes one robot's telemetry to an MQTT broker (paho-mqtt 2, MQTT 3.1.1).

    ``connect()`` blocks until the broker accepted the connection (bounded by ``connect_timeout_s``);
    from then on paho's network thread keeps the link up, reconnecting with exponential backoff.
    ``publish()`` is thread-safe and never blocks on the network. Use as a context manager to
    connect on enter and close on exit.
    """

    def __init__(
        self,
        broker_url: str,
        site: str,
        robot_id: str,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        connect_timeout_s: float = 10.0,
        validate: bool = True,
        keepalive_s: int = 30,
        reconnect_min_delay_s: int = 1,
        reconnect_max_delay_s: int = 30,
        max_inflight: int = 100,
        clock_s: Callable[[], float] = time.time,
        tls: TlsConfig | None = None,
        spool: Spool | str | Path | None = None,
        spooled_channels: Collection[Channel] = DEFAULT_SPOOLED_CHANNELS,
    ) -> None:
        self.address = parse_broker_url(broker_url)
        if tls is not None and not self.address.tls:
            raise ValueError(f"broker URL {broker_url!r}: TLS settings given; use mqtts://")
        self._encoder = MessageEncoder(site, robot_id, validate=validate)
        self.site = self._encoder.site
        self.robot_id = self._encoder.robot_id
        self.client_id = client_id or f"medbot-{self.site}-{self.robot_id}"
        self.connect_timeout_s = connect_timeout_s
        self._clock_s = clock_s  # stamps only ONLINE/OFFLINE/will; callers stamp their own messages
        self._keepalive_s = keepalive_s

        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if self.address.tls:
            (tls or TlsConfig()).apply(self._client)
        self._client.reconnect_delay_set(reconnect_min_delay_s, reconnect_max_delay_s)
        self._inflight = InFlight(max_inflight)  # QoS 1 messages handed over, until their PUBACK
        self._client.on_pre_connect = self._on_pre_connect
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish

        # store-and-forward (None: paho's in-memory queue only, as before)
        self._owns_spool = spool is not None and not isinstance(spool, Spool)
        self.spool: Spool | None = Spool(spool) if isinstance(spool, str | Path) else spool
        self._spooled = frozenset(spooled_channels) if self.spool is not None else frozenset()
        # with a spool the publisher's in-flight window bounds what is out; without one paho queues the excess
        self._client.max_inflight_messages_set(0 if self.spool is not None else max_inflight)
        self._awaiting_resends = False  # after a reconnect: paho re-sends what was in flight, first
        self._handed_upto = 0  # every spool row <= this was handed to paho in this process
        self._backlog = self.spool is not None and len(self.spool) > 0  # rows wait for the replay
        self._refused_from: int | None = None  # the first spooled row paho refused (out of ids), if any
        self._replay_wake = threading.Event()
        self._replay_thread: threading.Thread | None = None
        self._replayed = 0
        self._replaying = False  # the replay thread is handing the backlog over (no need to wake it)
        self._overflow_reports = 0
        self._command_callback: CommandCallback | None = None
        self._inbound = Channel.COMMANDS
        self._fleet_topics: dict[str, CommandCallback] = {}  # the fleet's topics this robot reads
        self._send_lock = threading.Lock()  # seq order == wire order per topic
        self._state_lock = threading.Lock()  # session bookkeeping; never held while calling paho
        self._connected = threading.Event()
        self._first_connack = threading.Event()
        self._disconnected = threading.Event()
        self._connect_error: str | None = None
        self._started = False
        self._closed = False
        self._session = -1
        self._session_seqs: tuple[int, int] | None = None  # (ONLINE seq, will/OFFLINE seq)
        self._will_may_have_fired = True  # a session whose will the broker may have used
        self._sent = self._dropped = self._connects = self._disconnects = 0
        self._factsheet: tuple[dict[str, Any], float] | None = None
        self._connected_at = 0.0
        self._rewinds = 0  # times the replay re-sent rows paho had been given but never confirmed

    # -- lifecycle ---------------------------------------------------------------------------

    def connect(self) -> None:
        """Connect, arm the Last Will, publish ONLINE; raise TimeoutError / ConnectionError on failure."""
        if self._started:
            raise RuntimeError("connect() may be called once per TelemetryPublisher")
        self._started = True
        self._client.connect_async(self.address.host, self.address.port, keepalive=self._keepalive_s)
        self._client.loop_start()
        ok = self._first_connack.wait(self.connect_timeout_s)
        if ok and self._connect_error is None:
            if self.spool is not None:
                self._replay_thread = threading.Thread(
                    target=self._replay_loop, name=f"medbot-spool-{self.robot_id}", daemon=True
                )
                self._replay_thread.start()
                self._replay_wake.set()
            return
        self._client.disconnect()
        stop_loop(self._client)
        self._closed = True
        if self._connect_error is not None:
            raise ConnectionRefusedError(f"broker {self.address.url} refused {self.client_id!r}: {self._connect_error}")
        raise TimeoutError(f"no connection to broker {self.address.url} within {self.connect_timeout_s} s")

    def close(self, timeout_s: float = 5.0) -> None:
        """Publish OFFLINE (retained), wait for in-flight QoS 1 up to ``timeout_s``, disconnect cleanly."""
        if self._closed or not self._started:
            self._closed = True
            self._close_spool()
            return
        deadline = time.monotonic() + timeout_s
        if self.spool is not None:
            # give the replay a chance to empty the backlog while the link is up; what is left
            # stays on disk for the next start
            while self._backlog and self._connected.is_set() and time.monotonic() < deadline - 0.5:
                self._replay_wake.set()
                time.sleep(_REPLAY_POLL_S)
        with self._send_lock:
            self._closed = True
            if self._connected.is_set():
                self._send_connection_state("OFFLINE", last=True)
        # every QoS 1 message acknowledged (OFFLINE too), or the link is gone
        self._inflight.wait_until_empty(deadline - time.monotonic(), lambda: not self._connected.is_set())
        self._disconnected.clear()
        if self._client.disconnect() == MQTTErrorCode.MQTT_ERR_SUCCESS:
            # Let the network thread send DISCONNECT before it is stopped, or the broker would
            # treat the socket close as a failure and publish the will over our OFFLINE.
            self._disconnected.wait(max(0.1, deadline - time.monotonic()))
        stop_loop(self._client)
        self._replay_wake.set()
        if self._replay_thread is not None:
            self._replay_thread.join(1.0)
        self._close_spool()

    def _close_spool(self) -> None:
        if self.spool is not None and self._owns_spool:
            self.spool.close()

    def __enter__(self) -> TelemetryPublisher:
        self.connect()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- publishing --------------------------------------------------------------------------

    def publish(self, channel: Channel | str, body: dict[str, Any], stamp_s: float) -> None:
        """Wrap, number, validate and send ``body``. Raises PayloadError (a ValueError) if invalid.

        While the link is down QoS 0 messages are dropped (counted in :attr:`stats`) and QoS 1
        messages are queued by paho and sent after the reconnect.
        """
        if type(channel) is not Channel or channel is Channel.CONNECTION:
            channel = caller_channel(channel)  # a name to look up, or a channel the caller may not use
        prepared = self._encoder.prepare(channel, body, stamp_s)
        if prepared.channel is Channel.FACTSHEET:
            self._factsheet = (body, stamp_s)  # re-sent on every reconnect (see _on_connect)
        with self._send_lock:
            if self._closed or not self._started:
                why = "closed" if self._closed else "not connected yet"
                raise RuntimeError(f"publisher {self.client_id!r} is {why}")
            wire = self._encoder.seal(prepared)
            if prepared.channel in self._spooled:
                self._send_spooled(wire)
            else:
                self._send(wire)

    def subscribe_commands(self, callback: CommandCallback, *, channel: Channel = Channel.COMMANDS) -> None:
        """Receive this robot's ``commands`` topic: ``callback(topic, payload)`` on paho's network thread.

        Subscribed at QoS 1 on every (re)connect. The callback must be quick and must not raise:
        queue the command and handle it on the robot's own thread. `channel`: the inbound channel
        (the fleet service's publisher takes ``tasks/request`` instead).
        """
        if self._command_callback is not None:
            raise RuntimeError("subscribe_commands() may be called once per publisher")
        self._command_callback = callback
        self._inbound = channel
        topic = self.topic(channel)
        self._client.message_callback_add(topic, self._on_command_message)
        if self._connected.is_set():
            self._client.subscribe(topic, qos=CHANNEL_SPECS[channel].qos)

    def subscribe_fleet(self, channel: Channel, callback: CommandCallback) -> None:
        """Read one of the fleet service's topics (``medbot/v1/<site>/fleet/<channel>``), e.g. the
        traffic grant table: ``callback(topic, payload)`` on paho's network thread, subscribed at
        QoS 1 on every (re)connect. Like commands, the callback must be quick and must not raise."""
        topic = topic_for(self.site, FLEET_ID, channel)
        if topic in self._fleet_topics:
            raise RuntimeError(f"already subscribed to {topic}")
        self._fleet_topics[topic] = callback
        self._client.message_callback_add(topic, lambda client, userdata, message: callback(
            message.topic, bytes(message.payload)))
        if self._connected.is_set():
            self._client.subscribe(topic, qos=1)

    def _on_command_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        callback = self._command_callback
        if callback is not None:
            callback(message.topic, bytes(message.payload))

    def topic(self, channel: Channel | str) -> str:
        return self._encoder.topic(channel)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def session(self) -> int:
        """The current birth/death ``session`` number (0 for the first connection)."""
        return self._session

    @property
    def stats(self) -> PublisherStats:
        return PublisherStats(self._sent, self._dropped, self._connects, self._disconnects)

    @property
    def replayed(self) -> int:
        """Messages sent from the spool's backlog after an outage (or a restart), so far."""
        return self._replayed

    def _send_spooled(self, wire: WireMessage) -> None:
        """Store first; hand over now only if connected and nothing older is still waiting."""
        assert self.spool is not None
        row = self.spool.append(wire.channel, wire.topic, wire.seq, wire.qos, wire.retain, wire.payload)
        if self._backlog or not self._connected.is_set() or self._inflight.full:
            self._backlog = True
            self._replay_wake.set()
            return
        self._send(wire, row)

    def _send(self, wire: WireMessage, row: int | None = None) -> None:
        self._hand_over(wire.topic, wire.payload, wire.qos, wire.retain, row)

    def _hand_over(self, topic: str, payload: bytes, qos: int, retain: bool, row: int | None) -> None:
        handover = self._inflight.next_handover()
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
            # paho refused it (out of message ids: 65,535 unacknowledged): nothing was queued, and its
            # mid may be another message's. Counted; a spooled row stays on disk and the replay
            # hands it over again from here, in order, once acknowledgements free ids (what followed
            # it may go twice: duplicates are detectable by seq, a gap would not be)
            self._dropped += 1
            if row is not None:
                self._refused_from = row if self._refused_from is None else min(self._refused_from, row)
                self._backlog = True
                self._replay_wake.set()
            return
        if row is not None:
            self._handed_upto = max(self._handed_upto, row)
        if qos >= 1:
            acked_already = not self._inflight.register(info.mid, row, handover)
            if acked_already and row is not None and self.spool is not None:
                self.spool.ack_later(row)
        elif row is not None and self.spool is not None and info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.spool.ack_later(row)  # a spooled QoS 0 channel: on the wire is as good as it gets
        if qos == 0:
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._sent += 1
            else:
                self._dropped += 1
            return
        self._sent += 1  # awaited by close() through the in-flight set, which its PUBACK empties

    def _connection_wire(self, state: str, seq: int) -> WireMessage:
        prepared = self._encoder.prepare(
            Channel.CONNECTION, {"state": state, "session": self._session}, self._clock_s()
        )
        return self._encoder.seal(prepared, seq=seq)

    def _send_connection_state(self, state: str, *, last: bool = False) -> None:
        assert self._session_seqs is not None
        online_seq, offline_seq = self._session_seqs
        self._send(self._connection_wire(state, offline_seq if last else online_seq))

    # -- paho callbacks (network thread) ---------------------------------------------------

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        with self._state_lock:
            if not self._will_may_have_fired:
                return  # the previous attempt never reached a session: its will is still unused
            self._will_may_have_fired = False
            self._session += 1
            online_seq = self._encoder.reserve_seq(Channel.CONNECTION)
            will_seq = self._encoder.reserve_seq(Channel.CONNECTION)
            self._session_seqs = (online_seq, will_seq)
            will = self._connection_wire("CONNECTION_BROKEN", will_seq)
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: Any,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            self._connect_error = str(reason_code)
            self._first_connack.set()  # wake connect(), which reports the error
            return
        with self._state_lock:
            self._will_may_have_fired = True
            self._connects += 1
        self._disconnected.clear()
        with self._send_lock:
            if not self._closed:
                self._send_connection_state("ONLINE")
        if self._command_callback is not None:
            client.subscribe(self.topic(self._inbound), qos=CHANNEL_SPECS[self._inbound].qos)
        for topic in sorted(self._fleet_topics):
            client.subscribe(topic, qos=1)
        self._connected_at = time.monotonic()
        if self._inflight.spooled_unacknowledged():
            # spooled messages handed over before the link dropped: paho re-sends them, but one it
            # strands would wait for the next start - the replay thread checks after the grace
            self._backlog = True
            self._awaiting_resends = True
        factsheet = self._factsheet
        if factsheet is not None and not self._closed:
            # retained, but a broker restarted without persistence has lost it: a consumer that
            # connects later must still learn what this robot is
            self.publish(Channel.FACTSHEET, factsheet[0], factsheet[1])
        self._connected.set()
        self._first_connack.set()
        self._replay_wake.set()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason_code: Any, properties: Any) -> None:
        known, row = self._inflight.acknowledge(mid)
        if known and row is not None and self.spool is not None:
            self.spool.ack_later(row)  # deleted with the next batch (a crash before it: a re-send)
            if self._backlog and not self._replaying:
                self._replay_wake.set()  # it may be waiting for paho's re-sends to be acknowledged

    # -- replay (own thread) -----------------------------------------------------------------

    def _replay_loop(self) -> None:
        while not self._closed:
            self._replay_wake.wait(_REPLAY_POLL_S * 4)
            self._replay_wake.clear()
            if self._closed:
                return
            if self._backlog and self._connected.is_set() and self._ready_to_replay():
                self._replaying = True
                try:
                    self._replay_backlog()
                except (RuntimeError, ValueError) as exc:  # the spool closed under us at shutdown
                    if not self._closed:
                        raise
                    del exc
                    return
                finally:
                    self._replaying = False

    def _ready_to_replay(self) -> bool:
        """Replay once paho's own re-sends were acknowledged — or, if some are still unanswered a
        grace period after the reconnect, rewind: paho can leave a message stranded after a
        reconnect (never re-sent), and waiting for it would hold the whole backlog back for good.
        Every unacknowledged row is then handed over again, in order (a duplicate, which consumers
        detect by seq, is the price; a loss is not acceptable)."""
        if not self._awaiting_resends or not self._inflight.spooled_unacknowledged():
            self._awaiting_resends = False
            return True
        if time.monotonic() - self._connected_at < _RESEND_GRACE_S:
            return False
        if self.spool is not None:
            self.spool.flush_acks()  # rows acknowledged in the meantime need not go again
        with self._send_lock:
            self._inflight.forget_rows()  # a late PUBACK no longer acks a row (acks are idempotent anyway)
            self._handed_upto = 0
        self._rewinds += 1
        self._awaiting_resends = False
        return True

    def _replay_backlog(self) -> None:
        assert self.spool is not None
        while self._connected.is_set() and not self._closed:
            with self._send_lock:
                if self._refused_from is not None:  # paho turned a row away: from there on, again
                    self._handed_upto = min(self._handed_upto, self._refused_from - 1)
                    self._refused_from = None
            inflight = self._inflight
            if len(inflight) > inflight.resume_at:  # top the window up in one read, not row by row
                inflight.wait_for_room(_REPLAY_POLL_S)  # bounded: the link may go meanwhile
                continue
            room = max(0, inflight.window - len(inflight))  # never negative: LIMIT -1 is "no limit" to SQLite
            chunk = self.spool.rows_to_send(self._handed_upto, min(room, _REPLAY_CHUNK))
            with self._send_lock:
                if self._closed:
                    return
                if not chunk:
                    # checked under the send lock: no publish() can slip a row in unseen
                    if not self.spool.rows_to_send(self._handed_upto, 1):
                        self._backlog = False
                        break
                    continue
                hand_over = self._hand_over
                for row_id, topic, qos, retain, payload in chunk:
                    hand_over(topic, payload, qos, bool(retain), row_id)
                self._replayed += len(chunk)
        self._report_overflow()

    def _report_overflow(self) -> None:
        """An alert saying what the bounded spool dropped while the link was down (never clinical data)."""
        assert self.spool is not None
        dropped = self.spool.take_unreported_drops()
        if not dropped:
            return
        self._overflow_reports += 1
        total = sum(dropped.values())
        detail = ", ".join(f"{n} {ch}" for ch, n in sorted(dropped.items()))
        body = {
            "alert_id": f"{self.robot_id}.spool-overflow.{self._session}.{self._overflow_reports}",
            "severity": "medium",
            "category": "telemetry",
            "summary": f"telemetry spool full during an outage: dropped {total} messages ({detail})",
            "where": None,
            "evidence_ref": None,
            "data": {"dropped": dropped, "max_messages": self.spool.max_messages},
        }
        with contextlib.suppress(RuntimeError):  # closing at the same time: the drops stay in spool stats
            self.publish(Channel.ALERTS, body, self._clock_s())

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: Any,
        properties: Any,
    ) -> None:
        with self._state_lock:
            self._disconnects += 1
        self._connected.clear()
        self._disconnected.set()
        self._inflight.wake()  # close() stops waiting for PUBACKs that cannot come over this link


def _satisfies_sink_protocol(pub: TelemetryPublisher) -> TelemetrySink:  # checked by mypy, never called
    return pub
