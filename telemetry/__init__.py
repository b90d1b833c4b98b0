"""medbot telemetry: the MQTT contract (topics, envelope, JSON Schemas) and its transport.

Imports nothing else of the project. The embedded broker lives in ``telemetry.broker`` (not
imported here: amqtt is heavy and only the simulator and tests need it).
"""

from telemetry.envelope import GapDetector, SequenceCounter, SeqVerdict, iso_timestamp, schema_name
from telemetry.publisher import PublisherStats, TelemetryPublisher
from telemetry.sinks import NullSink, Recorded, RecordingSink, TelemetrySink
from telemetry.subscriber import Received, TelemetrySubscriber
from telemetry.topics import CHANNEL_SPECS, Channel, ChannelSpec, parse_topic, subscription_filter, topic_for
from telemetry.url import BrokerAddress, parse_broker_url
from telemetry.validate import PayloadError, validate

__all__ = [
    "CHANNEL_SPECS",
    "BrokerAddress",
    "Channel",
    "ChannelSpec",
    "GapDetector",
    "NullSink",
    "PayloadError",
    "PublisherStats",
    "Received",
    "Recorded",
    "RecordingSink",
    "SeqVerdict",
    "SequenceCounter",
    "TelemetryPublisher",
    "TelemetrySink",
    "TelemetrySubscriber",
    "iso_timestamp",
    "parse_broker_url",
    "parse_topic",
    "schema_name",
    "subscription_filter",
    "topic_for",
    "validate",
]
