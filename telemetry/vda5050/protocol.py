"""VDA 5050 2.x on MQTT: topic layout, message headers, and validation against the official schemas.

Topics are ``<interface>/<majorVersion>/<manufacturer>/<serialNumber>/<topic>`` (VDA 5050 2.1,
§6.5; the interface name is ``uagv`` unless a site chose another). Every message carries the header
``headerId`` (per topic and sender, +1 on every message sent), ``timestamp`` (ISO 8601 UTC),
``version`` (``2.1.0``), ``manufacturer`` and ``serialNumber``.

QoS and retain per topic, as the standard asks (§6.2, §6.14): ``connection`` QoS 1 and retained
(its Last Will is CONNECTIONBROKEN), ``factsheet`` retained, everything else QoS 0 — a lost order is
not lost for good: the master sees in the next ``state`` that the vehicle does not have it and sends
it again (a vehicle discards an order it already holds, same orderId and orderUpdateId).

Both sides of this project that speak VDA 5050 — the fleet's vehicle adapter (`fleet.vda5050`) and
the bridge that makes a medbot robot a VDA 5050 vehicle (`robots.vda5050_bridge`) — validate every
message they send, and every message they receive, with `check` against the schemas in
``telemetry/vda5050/schemas/`` (the official 2.1.0 JSON Schemas; provenance and licence beside them).
This module, like the rest of `telemetry`, imports nothing else of the project.
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

#: the protocol version we speak and put in every header
PROTOCOL_VERSION = "2.1.0"
#: topic level 2: ``v`` + the major version (§6.5)
MAJOR_VERSION = "v2"
DEFAULT_INTERFACE = "uagv"
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

# §6.1.2: IDs and topic levels use A-Z a-z 0-9 _ - . : only (never '/', '+', '#')
_LEVEL_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class Topic(StrEnum):
    ORDER = "order"
    INSTANT_ACTIONS = "instantActions"
    STATE = "state"
    VISUALIZATION = "visualization"
    CONNECTION = "connection"
    FACTSHEET = "factsheet"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    qos: int
    retain: bool


TOPIC_SPECS: dict[Topic, TopicSpec] = {
    Topic.ORDER: TopicSpec(0, False),
    Topic.INSTANT_ACTIONS: TopicSpec(0, False),
    Topic.STATE: TopicSpec(0, False),
    Topic.VISUALIZATION: TopicSpec(0, False),
    Topic.CONNECTION: TopicSpec(1, True),
    Topic.FACTSHEET: TopicSpec(0, True),
}


class Vda5050Error(ValueError):
    """A VDA 5050 message or topic that breaks the standard; says what and where."""


@dataclass(frozen=True, slots=True)
class VehicleId:
    manufacturer: str
    serial_number: str

    def __post_init__(self) -> None:
        check_level(self.manufacturer, "manufacturer")
        check_level(self.serial_number, "serialNumber")

    def __str__(self) -> str:
        return f"{self.manufacturer}/{self.serial_number}"


@dataclass(frozen=True, slots=True)
class TopicParts:
    interface: str
    major_version: str
    vehicle: VehicleId
    topic: Topic


def check_level(value: str, what: str) -> str:
    if not isinstance(value, str) or not _LEVEL_RE.fullmatch(value):
        raise Vda5050Error(f"{what} {value!r} is not a VDA 5050 topic level (1-128 of A-Z a-z 0-9 _ - . :)")
    return value


def topic_for(vehicle: VehicleId, topic: Topic | str, *, interface: str = DEFAULT_INTERFACE) -> str:
    return f"{check_level(interface, 'interface')}/{MAJOR_VERSION}/{vehicle.manufacturer}/" \
           f"{vehicle.serial_number}/{Topic(topic).value}"


def subscription(topic: Topic | str, *, interface: str = DEFAULT_INTERFACE, manufacturer: str | None = None,
                 serial_number: str | None = None) -> str:
    """A filter for one topic of every vehicle (or of one manufacturer's, or one vehicle's)."""
    m = "+" if manufacturer is None else check_level(manufacturer, "manufacturer")
    s = "+" if serial_number is None else check_level(serial_number, "serialNumber")
    return f"{check_level(interface, 'interface')}/{MAJOR_VERSION}/{m}/{s}/{Topic(topic).value}"


def parse_topic(topic: str, *, interface: str = DEFAULT_INTERFACE) -> TopicParts:
    parts = topic.split("/")
    if len(parts) != 5:
        raise Vda5050Error(f"topic {topic!r} is not <interface>/<majorVersion>/<manufacturer>/<serialNumber>/<topic>")
    if parts[0] != interface or parts[1] != MAJOR_VERSION:
        raise Vda5050Error(f"topic {topic!r} is not under {interface}/{MAJOR_VERSION}")
    try:
        kind = Topic(parts[4])
    except ValueError:
        raise Vda5050Error(f"topic {topic!r}: unknown VDA 5050 topic {parts[4]!r}") from None
    return TopicParts(parts[0], parts[1], VehicleId(parts[2], parts[3]), kind)


def iso_timestamp(stamp_s: float) -> str:
    """Epoch seconds -> ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (the form the standard's examples use)."""
    if not math.isfinite(stamp_s) or stamp_s < 0:
        raise Vda5050Error(f"timestamp must be finite epoch seconds >= 0, got {stamp_s!r}")
    secs, ms = divmod(math.floor(stamp_s * 1000.0), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{ms:03d}Z"


class HeaderFactory:
    """The header fields of one sender's messages to (or from) one vehicle: ``headerId`` counts per
    topic (§6.4). Thread-safe: the adapter's step thread and network thread both send."""

    def __init__(self, vehicle: VehicleId, *, version: str = PROTOCOL_VERSION) -> None:
        self.vehicle = vehicle
        self.version = version
        self._ids: dict[Topic, int] = {}
        self._lock = threading.Lock()

    def header(self, topic: Topic, stamp_s: float) -> dict[str, Any]:
        with self._lock:
            header_id = self._ids.get(topic, -1) + 1
            self._ids[topic] = header_id
        return {"headerId": header_id, "timestamp": iso_timestamp(stamp_s), "version": self.version,
                "manufacturer": self.vehicle.manufacturer, "serialNumber": self.vehicle.serial_number}


# ---- the official schemas ------------------------------------------------------------------------

SCHEMA_FILES: dict[Topic, str] = {
    Topic.ORDER: "order.json",
    Topic.INSTANT_ACTIONS: "instantActions.json",
    Topic.STATE: "state.json",
    Topic.VISUALIZATION: "visualization.json",
    Topic.CONNECTION: "connection.json",
    Topic.FACTSHEET: "factsheet.json",
}


@functools.cache
def load_schema(topic: Topic) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / SCHEMA_FILES[topic]).read_text(encoding="utf-8"))
    return schema


@functools.cache
def _validator(topic: Topic) -> Draft202012Validator:
    return Draft202012Validator(load_schema(topic))


def check(topic: Topic | str, message: Any, *, where: str | None = None) -> None:
    """Raise Vda5050Error (JSON path and reason) if `message` breaks the official schema of `topic`."""
    kind = Topic(topic)
    error = best_match(_validator(kind).iter_errors(message))
    if error is None:
        if isinstance(message, dict) and message.get("version", "").split(".")[0] != PROTOCOL_VERSION.split(".")[0]:
            raise Vda5050Error(f"{kind.value}{' on ' + where if where else ''}: version {message.get('version')!r} "
                               f"is not {PROTOCOL_VERSION.split('.')[0]}.x")
        return
    path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    raise Vda5050Error(f"{kind.value}{' on ' + where if where else ''} breaks the VDA 5050 {PROTOCOL_VERSION} "
                       f"schema at {path}: {error.message[:300]}")


def decode(topic: Topic, payload: bytes, *, where: str | None = None) -> dict[str, Any]:
    """JSON -> a message checked against its schema (Vda5050Error otherwise)."""
    try:
        message = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Vda5050Error(f"{topic.value}{' on ' + where if where else ''}: not JSON ({exc})") from None
    check(topic, message, where=where)
    if not isinstance(message, dict):
        raise Vda5050Error(f"{topic.value}: not an object")
    return message


def encode(topic: Topic, message: dict[str, Any]) -> bytes:
    """A message we send, checked first: a message that breaks the schema is our bug and never sent."""
    check(topic, message)
    return json.dumps(message, separators=(",", ":")).encode("utf-8")
