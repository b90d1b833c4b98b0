"""Production Mosquitto configuration for a medbot site: TLS listeners, per-robot ACLs, roles.

Who may do what (the ACL file this writes):

| who | authenticates by | may publish | may read |
|---|---|---|---|
| robot (user = robot id) | client certificate, CN = robot id | its own subtree's channels | its ``commands`` |
| operator | username/password over TLS | every robot's ``commands`` | everything but clinical and media |
| viewer | username/password over TLS | nothing | everything but clinical and media |
| data center | username/password (or certificate) | nothing | everything, the only reader of clinical and media |
| HIS link | username/password over TLS | its ``his/`` topics, ``fleet/tasks/request`` | ``tasks``, ``+/clinical`` |

The HIS link reads the clinical channel to send each result to the record system as an ORU^R01.
Every robot may also read the HIS link's census (the bed map a nursing robot checks a wristband
against) and the fleet's traffic grant table.

Robots are covered by ``pattern`` lines with ``%u``: with ``use_identity_as_username`` the user name
is the certificate's CN, so a robot can write only under ``medbot/v1/<site>/<its id>/``. Pattern
lines apply to every client, so role user names must never equal a robot id (checked here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from telemetry.topics import FLEET_ID, HIS_ID, TOPIC_PREFIX, Channel, check_segment

#: the fleet service's own channels (under the reserved id FLEET_ID): robots never write them
FLEET_CHANNELS: frozenset[Channel] = frozenset({Channel.TASK_REQUESTS, Channel.TASKS})
#: the HIS link's own channels (under the reserved id HIS_ID): robots never write them
HIS_CHANNELS: frozenset[Channel] = frozenset({Channel.CENSUS})
#: what a robot publishes (all but the command topic, which it only reads, and the fleet's and the
#: HIS link's topics)
ROBOT_WRITES: tuple[Channel, ...] = tuple(ch for ch in Channel if ch is not Channel.COMMANDS
                                          and ch not in FLEET_CHANNELS and ch not in HIS_CHANNELS)
#: channels only the data center may read (and the HIS link, the clinical channel: results out)
DATACENTER_ONLY: frozenset[Channel] = frozenset({Channel.CLINICAL, Channel.MEDIA})
STAFF_READS: tuple[Channel, ...] = tuple(ch for ch in Channel if ch not in DATACENTER_ONLY)
_USER_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Listener:
    port: int
    host: str = "0.0.0.0"
    #: True: robots' listener — a client certificate is required and its CN becomes the user name
    client_certificates: bool = False


@dataclass(frozen=True)
class BrokerPlan:
    site: str
    ca_file: Path
    cert_file: Path
    key_file: Path
    acl_file: Path
    password_file: Path | None = None
    listeners: tuple[Listener, ...] = (Listener(8883, client_certificates=True), Listener(8884))
    operators: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()
    datacenter: tuple[str, ...] = ("datacenter",)
    #: the fleet service's account(s): commands every robot, reads every robot (clinical too: the ward
    #: chart is driven by NEWS2 results), publishes the fleet's topics, takes requests for work
    fleet: tuple[str, ...] = ("fleet-service",)
    #: the HIS link's account(s) (`medbot his`): publishes the census and its alerts, requests lab
    #: pick-ups and their cancellation, reads the fleet's task states and the robots' clinical records
    #: (each result goes to the record system as an ORU^R01)
    his: tuple[str, ...] = ("his-service",)
    #: where the broker keeps sessions, subscriptions and queued QoS 1 messages across a restart.
    #: Without it a broker that dies forgets every consumer's subscription, and what robots replay
    #: before the data center is back goes nowhere (docs/telemetry.md, "Deploying the broker").
    persistence_dir: Path | None = None
    #: how often the session store is written: a crash loses at most this much of its changes
    autosave_interval_s: int = 5
    #: a data center ingesting the whole fleet must not have QoS 1 messages dropped when briefly behind
    max_queued_messages: int = 100_000
    log_dest: str = "stderr"
    extra: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        check_segment(self.site, "site")
        users = [*self.operators, *self.viewers, *self.datacenter, *self.fleet, *self.his]
        for user in users:
            if _USER_RE.fullmatch(user) is None:
                raise ValueError(f"user name {user!r} must match {_USER_RE.pattern}")
        dupes = {u for u in users if users.count(u) > 1}
        if dupes:
            raise ValueError(f"users with more than one role: {sorted(dupes)}")
        if any(not listener.client_certificates for listener in self.listeners) and self.password_file is None:
            raise ValueError("a password listener needs password_file")


def acl_text(plan: BrokerPlan, robot_ids: tuple[str, ...] = ()) -> str:
    """The ACL file. ``robot_ids`` (optional) are checked against role names for collisions."""
    clash = set(robot_ids) & {*plan.operators, *plan.viewers, *plan.datacenter, *plan.fleet, *plan.his}
    if clash:
        raise ValueError(f"role users named like robots would inherit robot patterns: {sorted(clash)}")
    for rid in robot_ids:
        check_segment(rid, "robot_id")
    base = f"{TOPIC_PREFIX}/{plan.site}"
    lines = ["# generated by telemetry.mosquitto_config; do not edit by hand", ""]
    for user in plan.datacenter:
        lines += [f"user {user}", f"topic read {TOPIC_PREFIX}/#", ""]
    fleet_base = f"{base}/{FLEET_ID}"
    for user in plan.fleet:
        lines += [f"user {user}", f"topic write {base}/+/{Channel.COMMANDS.value}", f"topic read {base}/#"]
        lines += [f"topic write {fleet_base}/{ch.value}" for ch in (Channel.CONNECTION, Channel.TASKS,
                                                                    Channel.ALERTS, Channel.TRAFFIC)]
        lines.append("")
    his_base = f"{base}/{HIS_ID}"
    for user in plan.his:
        lines += [f"user {user}", f"topic write {fleet_base}/{Channel.TASK_REQUESTS.value}",
                  f"topic read {fleet_base}/{Channel.TASKS.value}"]
        lines += [f"topic write {his_base}/{ch.value}" for ch in (Channel.CONNECTION, Channel.CENSUS, Channel.ALERTS)]
        lines += [f"topic read {his_base}/{ch.value}" for ch in (Channel.CONNECTION, Channel.CENSUS)]
        lines.append(f"topic read {base}/+/{Channel.CLINICAL.value}")
        lines.append("")
    for user in plan.operators:
        lines += [f"user {user}", f"topic write {base}/+/{Channel.COMMANDS.value}",
                  f"topic write {fleet_base}/{Channel.TASK_REQUESTS.value}"]
        lines += [f"topic read {base}/+/{ch.value}" for ch in STAFF_READS]
        lines.append("")
    for user in plan.viewers:
        lines += [f"user {user}"]
        lines += [f"topic read {base}/+/{ch.value}" for ch in STAFF_READS]
        lines.append("")
    lines.append("# every client, via its user name; a robot's user name is its robot id (certificate CN)")
    lines += [f"pattern write {base}/%u/{ch.value}" for ch in ROBOT_WRITES]
    lines.append(f"pattern read {base}/%u/{Channel.COMMANDS.value}")
    lines.append(f"pattern read {fleet_base}/{Channel.TRAFFIC.value}")  # the grant table, for every robot
    lines.append(f"pattern read {his_base}/{Channel.CENSUS.value}")  # the bed map, for every robot
    return "\n".join(lines) + "\n"


def config_text(plan: BrokerPlan) -> str:
    """``mosquitto.conf`` for ``plan`` (Mosquitto 2.0)."""
    lines = [
        "# generated by telemetry.mosquitto_config; do not edit by hand",
        "per_listener_settings false",
        "allow_anonymous false",
        f"acl_file {plan.acl_file}",
    ]
    if plan.password_file is not None:
        lines.append(f"password_file {plan.password_file}")
    if plan.persistence_dir is not None:
        lines += ["persistence true", f"persistence_location {plan.persistence_dir}/",
                  f"autosave_interval {plan.autosave_interval_s}"]
    else:
        lines.append("persistence false")
    lines += [f"max_queued_messages {plan.max_queued_messages}", f"log_dest {plan.log_dest}",
              "log_type error", "log_type warning", "log_type notice", *plan.extra, ""]
    for listener in plan.listeners:
        lines += [
            f"listener {listener.port} {listener.host}",
            f"cafile {plan.ca_file}",
            f"certfile {plan.cert_file}",
            f"keyfile {plan.key_file}",
            "tls_version tlsv1.2",
        ]
        if listener.client_certificates:
            lines += ["require_certificate true", "use_identity_as_username true"]
        else:
            lines += ["require_certificate false"]
        lines.append("")
    return "\n".join(lines) + "\n"


def write_broker_files(plan: BrokerPlan, config_path: Path, robot_ids: tuple[str, ...] = ()) -> Path:
    """Write the ACL file and ``mosquitto.conf``; returns the config path. Passwords: ``mosquitto_passwd``."""
    plan.acl_file.write_text(acl_text(plan, robot_ids), encoding="utf-8")
    config_path.write_text(config_text(plan), encoding="utf-8")
    return config_path
