"""VDA 5050 2.x (the AGV fleet standard) on MQTT: topics, headers, the official JSON Schemas
(``schemas/``, with their licence) and a checked paho client. The fleet's vehicle adapter
(`fleet.vda5050`) and the medbot robot's VDA 5050 bridge (`robots.vda5050_bridge`) both build on
this; like all of `telemetry` it imports nothing else of the project. See docs/vda5050.md."""

from telemetry.vda5050.protocol import (
    DEFAULT_INTERFACE,
    MAJOR_VERSION,
    PROTOCOL_VERSION,
    TOPIC_SPECS,
    HeaderFactory,
    Topic,
    TopicParts,
    Vda5050Error,
    VehicleId,
    check,
    decode,
    encode,
    iso_timestamp,
    parse_topic,
    subscription,
    topic_for,
)

__all__ = [
    "DEFAULT_INTERFACE",
    "MAJOR_VERSION",
    "PROTOCOL_VERSION",
    "TOPIC_SPECS",
    "HeaderFactory",
    "Topic",
    "TopicParts",
    "Vda5050Error",
    "VehicleId",
    "check",
    "decode",
    "encode",
    "iso_timestamp",
    "parse_topic",
    "subscription",
    "topic_for",
]
