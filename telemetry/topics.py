"""The versioned MQTT topic tree: ``medbot/v1/<site>/<robot_id>/<channel>``.

One robot publishes under its own ``<site>/<robot_id>`` prefix; consumers subscribe with
wildcards (``medbot/v1/#``, ``medbot/v1/+/+/state``). The QoS and retain flag of each channel
are part of the contract, so they live here beside the channel names rather than at call sites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

TOPIC_ROOT = "medbot"
CONTRACT_VERSION = "v1"
TOPIC_PREFIX = f"{TOPIC_ROOT}/{CONTRACT_VERSION}"
MAX_SEGMENT_LEN = 64

# Lower-case letters, digits and '-': safe in topics, ACL patterns, file names and URLs alike.
_SEGMENT_RE = re.compile(r"[a-z0-9-]+")


class Channel(StrEnum):
    CONNECTION = "connection"  # retained; ONLINE / OFFLINE / CONNECTION_BROKEN (Last Will)
    STATE = "state"  # full robot state, on change and periodically
    VIZ = "viz"  # high-rate pose for maps; lossy by design
    EVENTS = "events"  # mission lifecycle
    ALERTS = "alerts"  # things an operator must look at
    CLINICAL = "clinical"  # pseudonymous clinical records (vitals, NEWS2)
    FACTSHEET = "factsheet"  # retained; what this robot is and can do
    MEDIA = "media"  # evidence images, interview segments: chunked, hashed; data center only
    COMMANDS = "commands"  # fleet -> robot
    COMMANDS_ACK = "commands/ack"  # robot -> fleet
    # the fleet service's own topics, under the reserved robot_id segment FLEET_ID
    TASK_REQUESTS = "tasks/request"  # people and systems -> fleet: submit or cancel a task
    TASKS = "tasks"  # fleet -> everyone: a task's state on every change
    # shared-resource reservations: a robot's wants and holds on its own id; the fleet's grant
    # table on FLEET_ID (doors, single-lane stretches, lift lobbies, charger bays)
    TRAFFIC = "traffic"
    # the HIS link's own topic, under the reserved robot_id segment HIS_ID: who lies in which bed,
    # as pseudonymous patient refs (the hospital's identifiers never leave his/)
    CENSUS = "census"


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    qos: int
    retain: bool
    why: str


# QoS 0 where the next message supersedes a lost one; QoS 1 where a loss would be a missing fact.
# Retained where a consumer arriving late must still learn the current value.
CHANNEL_SPECS: dict[Channel, ChannelSpec] = {
    Channel.CONNECTION: ChannelSpec(1, True, "late subscribers must see whether the robot is online"),
    Channel.STATE: ChannelSpec(0, False, "periodic; the next state supersedes a lost one"),
    Channel.VIZ: ChannelSpec(0, False, "high rate; a lost pose is replaced within a tick"),
    Channel.EVENTS: ChannelSpec(1, False, "mission history must be complete"),
    Channel.ALERTS: ChannelSpec(1, False, "an operator alert must not be lost"),
    Channel.CLINICAL: ChannelSpec(1, False, "a clinical record must not be lost"),
    Channel.FACTSHEET: ChannelSpec(1, True, "late subscribers must learn what the robot is"),
    Channel.MEDIA: ChannelSpec(1, False, "evidence behind an alert or record must arrive whole"),
    Channel.COMMANDS: ChannelSpec(1, False, "a command must arrive or be retried"),
    Channel.COMMANDS_ACK: ChannelSpec(1, False, "the sender waits for the ack"),
    Channel.TASK_REQUESTS: ChannelSpec(1, False, "a request for work must not be lost"),
    Channel.TASKS: ChannelSpec(1, False, "every task state change is a fact an operator relies on"),
    Channel.TRAFFIC: ChannelSpec(1, False, "a lost grant or release stalls robots; each message is a whole state"),
    Channel.CENSUS: ChannelSpec(1, True, "a whole snapshot; robots and the fleet arriving late must know the beds"),
}

#: the robot_id segment of the fleet service's topics: ``medbot/v1/<site>/fleet/tasks``
FLEET_ID = "fleet"
#: the robot_id segment of the HIS link's topics: ``medbot/v1/<site>/his/census``
HIS_ID = "his"


def check_segment(value: str, what: str) -> str:
    """Return ``value`` if it is a safe topic segment, else raise ValueError naming it."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a str, got {type(value).__name__}: {value!r}")
    if not value:
        raise ValueError(f"{what} must not be empty")
    if len(value) > MAX_SEGMENT_LEN:
        raise ValueError(f"{what} {value!r} is {len(value)} chars long; at most {MAX_SEGMENT_LEN} allowed")
    if _SEGMENT_RE.fullmatch(value) is None:
        raise ValueError(
            f"{what} {value!r} is not a safe topic segment: use only a-z, 0-9 and '-' "
            "(no '+', '#', '/', whitespace or upper case)"
        )
    return value


def robot_prefix(site: str, robot_id: str) -> str:
    """``medbot/v1/<site>/<robot_id>``, both segments checked."""
    return f"{TOPIC_PREFIX}/{check_segment(site, 'site')}/{check_segment(robot_id, 'robot_id')}"


def topic_for(site: str, robot_id: str, channel: Channel | str) -> str:
    """The full topic of ``channel`` for one robot; raises ValueError on a bad segment or channel."""
    return f"{robot_prefix(site, robot_id)}/{as_channel(channel).value}"


def as_channel(channel: Channel | str) -> Channel:
    try:
        return Channel(channel)
    except ValueError:
        known = ", ".join(c.value for c in Channel)
        raise ValueError(f"unknown channel {channel!r}; known channels: {known}") from None


@dataclass(frozen=True, slots=True)
class TopicParts:
    site: str
    robot_id: str
    channel: Channel


def parse_topic(topic: str) -> TopicParts:
    """Split a concrete topic of this tree back into its parts; ValueError if it is not one."""
    parts = topic.split("/", 4)
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != TOPIC_PREFIX:
        raise ValueError(f"topic {topic!r} is not of the form {TOPIC_PREFIX}/<site>/<robot_id>/<channel>")
    site = check_segment(parts[2], "site")
    robot_id = check_segment(parts[3], "robot_id")
    return TopicParts(site, robot_id, as_channel(parts[4]))


def subscription_filter(
    site: str | None = None, robot_id: str | None = None, channel: Channel | str | None = None
) -> str:
    """A subscription filter; ``None`` parts become ``+`` (or ``#`` for the channel)."""
    s = "+" if site is None else check_segment(site, "site")
    r = "+" if robot_id is None else check_segment(robot_id, "robot_id")
    c = "#" if channel is None else as_channel(channel).value
    return f"{TOPIC_PREFIX}/{s}/{r}/{c}"
