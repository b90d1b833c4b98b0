"""MQTT ingest: an MQTT 5 shared subscription, batched commits, acknowledgements only after commit.

Several workers with the same ``group`` split the fleet's messages between them
(``$share/<group>/medbot/v1/#``), on one broker or a cluster. Each worker uses a persistent MQTT 5
session (``clean_start=False`` + session expiry) and paho's manual acknowledgements: a QoS 1 message
is PUBACKed only after the batch holding it was committed, so a worker that crashes loses nothing —
the broker redelivers every unacknowledged message when the worker (the same client id) returns, and
the store's unique key turns the redelivery into a no-op. QoS 0 channels (state, viz) are lossy by
contract and are stored as they come.

Every message is checked against the contract (topic tree, envelope, channel schema); what fails is
kept in the ``rejected`` table with the reason, and acknowledged, so a poison message cannot loop.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from datacenter.store import Store, StoredMessage, iso_to_ms
from telemetry.subscriber import cut_like_a_dead_process
from telemetry.tls import TlsConfig
from telemetry.topics import TOPIC_PREFIX, Channel, parse_topic
from telemetry.url import parse_broker_url
from telemetry.validate import PayloadError, checker_for

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestStats:
    received: int
    stored: int  # new rows (duplicates excluded)
    duplicates: int
    rejected: int
    batches: int
    acked: int


class Ingestor:
    """One data-center worker. ``start()`` connects and subscribes; ``stop()`` flushes and disconnects."""

    def __init__(
        self,
        broker_url: str,
        store: Store,
        *,
        group: str = "datacenter",
        topic_filter: str = f"{TOPIC_PREFIX}/#",
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: TlsConfig | None = None,
        batch_size: int = 500,
        flush_interval_s: float = 0.05,
        session_expiry_s: int = 3600,
        validate_messages: bool = True,
        mqtt5: bool = True,
    ) -> None:
        self.address = parse_broker_url(broker_url)
        # MQTT 5 shared subscriptions spread the load over workers; a broker without MQTT 5 (the
        # simulator's embedded amqtt) gets one worker on a plain persistent subscription
        self.mqtt5 = mqtt5
        self.store = store
        self.subscription = f"$share/{group}/{topic_filter}" if mqtt5 else topic_filter
        self.topic_filter = topic_filter
        self.client_id = client_id or f"medbot-dc-{group}-{uuid.uuid4().hex[:8]}"
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.validate_messages = validate_messages
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
        self._client.reconnect_delay_set(1, 10)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._session_expiry_s = session_expiry_s
        self._inbox: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        self._subscribed = threading.Event()
        self._error: str | None = None
        self._writer: threading.Thread | None = None
        self._stopping = threading.Event()
        self._hold_acks = False  # tests: simulate a crash between receive and commit
        self._received = self._stored = self._duplicates = self._rejected = self._batches = self._acked = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> Ingestor:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._session_expiry_s
        # acks wait for the batch commit, so the broker must be allowed to have a batch's worth of
        # messages unacknowledged with us (Mosquitto's default is 20: ~400 msg/s at 50 ms batches)
        props.ReceiveMaximum = min(65535, max(20, 2 * self.batch_size))
        self._writer = threading.Thread(target=self._write_loop, name=f"{self.client_id}-writer", daemon=True)
        self._writer.start()
        if self.mqtt5:
            self._client.connect_async(self.address.host, self.address.port, clean_start=False, properties=props)
        else:
            self._client.connect_async(self.address.host, self.address.port)
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s) or self._error is not None:
            self.stop()
            raise TimeoutError(f"data center ingest on {self.address.url}: "
                               f"{self._error or f'no subscription within {timeout_s} s'}")
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Flush what was received, acknowledge it, disconnect."""
        self._stopping.set()
        self._inbox.put(None)
        if self._writer is not None:
            self._writer.join(timeout_s)
        self._client.disconnect()
        self._client.loop_stop()

    def crash(self) -> None:
        """Tests: die like a killed process — nothing pending is committed or acknowledged."""
        self._hold_acks = True
        self._stopping.set()
        self._inbox.put(None)
        cut_like_a_dead_process(self._client)
        if self._writer is not None:
            self._writer.join(5)

    def __enter__(self) -> Ingestor:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def stats(self) -> IngestStats:
        return IngestStats(self._received, self._stored, self._duplicates, self._rejected, self._batches,
                           self._acked)

    def wait_idle(self, timeout_s: float = 10.0, quiet_s: float = 0.5) -> None:
        """Block until nothing arrived for ``quiet_s`` and the inbox is empty (bounded)."""
        deadline = time.monotonic() + timeout_s
        last, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            now = time.monotonic()
            done = self._received - self._inbox.qsize()
            if self._received != last:
                last, last_change = self._received, now
            elif now - last_change >= quiet_s and self._inbox.empty() and done == self._received:
                return
            time.sleep(0.05)

    # -- paho callbacks (network thread) -------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self._error = f"connection refused: {reason_code}"
            self._subscribed.set()
            return
        if not flags.session_present:
            if self.mqtt5:
                client.subscribe(self.subscription, options=SubscribeOptions(qos=1))
            else:
                client.subscribe(self.subscription, qos=1)
        else:
            self._subscribed.set()  # the broker kept our subscription (and our unacked messages)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: list[Any],
                      properties: Any) -> None:
        if any(rc.is_failure for rc in reason_codes):
            self._error = f"subscription {self.subscription!r} refused: {reason_codes}"
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._received += 1
        self._inbox.put(message)

    # -- writer thread -------------------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            batch: list[mqtt.MQTTMessage] = []
            item = self._inbox.get()
            stop = item is None
            if item is not None:
                batch.append(item)
                deadline = time.monotonic() + self.flush_interval_s
                while len(batch) < self.batch_size:
                    try:
                        nxt = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    batch.append(nxt)
            if batch and not self._hold_acks:
                self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[mqtt.MQTTMessage]) -> None:
        now_ms = round(time.time() * 1000)
        good: list[StoredMessage] = []
        bad: list[tuple[str, str, str, int]] = []
        for message in batch:
            stored, reason = decode_message(message.topic, bytes(message.payload), now_ms, self.validate_messages)
            if stored is not None:
                good.append(stored)
            else:
                bad.append((message.topic, reason or "invalid", message.payload.decode("utf-8", "replace")[:4000],
                            now_ms))
        while True:
            try:
                new = self.store.insert_batch(good, bad)
                break
            except Exception as exc:  # the database is away: keep the batch unacknowledged and retry
                if self._stopping.is_set():
                    log.error("data center: batch of %d not stored at shutdown (%s); the broker redelivers it",
                              len(batch), exc)
                    return
                log.warning("data center: store failed (%s); retrying in 1 s", exc)
                time.sleep(1.0)
        self._stored += new
        self._duplicates += len(good) - new
        self._rejected += len(bad)
        self._batches += 1
        for message in batch:  # only now: everything in the batch is committed
            if message.qos > 0:
                self._client.ack(message.mid, message.qos)
                self._acked += 1


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    header: Any
    body: msgspec.Raw  # the body's JSON text exactly as sent: stored as is, never serialised again


# msgspec parses an envelope ~3x faster than json and hands over the body's bytes as they came
_envelope_decoder = msgspec.json.Decoder(_Envelope)
_value_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def _parse_envelope(payload: bytes) -> tuple[Any, str | None]:
    """The parsed envelope and its body's JSON text as it arrived (None: not known, the store serialises
    the body). Raises what ``json.loads`` raises when the payload is not JSON."""
    try:
        envelope = _envelope_decoder.decode(payload)
        raw = envelope.body
        return {"header": envelope.header, "body": _value_decoder.decode(raw)}, bytes(raw).decode("utf-8")
    except (msgspec.DecodeError, UnicodeDecodeError):
        # a member missing or extra, NaN, a lone surrogate, not JSON at all: json.loads (more lenient,
        # as the data center always was) decides, and the schema check explains what is wrong
        return json.loads(payload), None


@dataclass(frozen=True, slots=True)
class _Route:
    """What the ingest needs to know about one topic, worked out once per topic."""

    site: str
    robot_id: str
    channel: Channel
    channel_name: str
    clinical: bool
    check: Callable[[Any, str | None], None]  # the channel's contract check: compiled, explained on failure


@functools.lru_cache(maxsize=4096)
def _route(topic: str) -> _Route:
    # a fleet uses a few topics over and over; a topic that fails raises and is not cached
    parts = parse_topic(topic)
    return _Route(parts.site, parts.robot_id, parts.channel, parts.channel.value, parts.channel is Channel.CLINICAL,
                  checker_for(parts.channel))


def decode_message(topic: str, payload: bytes, received_ms: int,
                   check: bool = True) -> tuple[StoredMessage | None, str | None]:
    """A contract-conforming message as a row, or None and the reason it was rejected."""
    try:
        route = _route(topic)
    except ValueError as exc:
        return None, f"topic: {exc}"
    try:
        envelope, body_text = _parse_envelope(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
        return None, f"not JSON: {type(exc).__name__}: {exc}"
    # the compiled validator answers pass/fail; only a message that fails is explained by jsonschema
    if check:
        try:
            route.check(envelope, topic)
        except PayloadError as exc:
            return None, str(exc)
    header = envelope.get("header") if isinstance(envelope, dict) else None
    if not isinstance(header, dict):
        return None, "no header object"
    if header.get("robot_id") != route.robot_id:
        return None, f"header robot_id {header.get('robot_id')!r} is not the topic's {route.robot_id!r}"
    body = envelope.get("body")
    if not isinstance(body, dict):
        return None, "body is not an object"
    try:
        seq, timestamp, schema = int(header["seq"]), header["timestamp"], header["schema"]
        if not isinstance(schema, str):
            raise TypeError(f"schema is {type(schema).__name__}, not a string")
        stamp_ms = iso_to_ms(timestamp)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        # the schema check catches these; this guards check=False and impossible dates (2026-13-40)
        return None, f"header: {type(exc).__name__}: {exc}"
    if route.clinical and not (isinstance(body.get("record_id"), str) and isinstance(body.get("record_type"), str)
                               and isinstance(body.get("patient_ref"), str)):
        return None, "clinical body without record_id, record_type and patient_ref"
    return StoredMessage(route.site, route.robot_id, route.channel_name, seq, timestamp, schema, body, received_ms,
                         body_text, stamp_ms), None
