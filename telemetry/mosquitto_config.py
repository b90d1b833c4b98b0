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
    #: a hospital group's site: forward this site's subtree to the group broker (`BridgePlan`)
    bridge: BridgePlan | None = None

    def __post_init__(self) -> None:
        check_segment(self.site, "site")
        if self.bridge is not None:
            if self.bridge.site != self.site:
                raise ValueError(f"bridge for site {self.bridge.site!r} on the broker of site {self.site!r}")
            if self.persistence_dir is None:
                # the bridge's queue towards the group lives in the site broker's memory: without a
                # store on disk a restart of the site broker would lose whatever the group had not got
                raise ValueError(f"site {self.site!r}: a bridged site broker needs persistence_dir")
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
    lines += _persistence_lines(plan.persistence_dir, plan.autosave_interval_s)
    lines += [f"max_queued_messages {plan.max_queued_messages}", f"log_dest {plan.log_dest}",
              "log_type error", "log_type warning", "log_type notice", *plan.extra, ""]
    lines += _listener_lines(plan.listeners, plan.ca_file, plan.cert_file, plan.key_file)
    if plan.bridge is not None:  # last: every line after `connection` belongs to the bridge
        lines += bridge_lines(plan.bridge)
    return "\n".join(lines) + "\n"


def _persistence_lines(persistence_dir: Path | None, autosave_interval_s: int) -> list[str]:
    if persistence_dir is None:
        return ["persistence false"]
    return ["persistence true", f"persistence_location {persistence_dir}/", f"autosave_interval {autosave_interval_s}"]


def _listener_lines(listeners: tuple[Listener, ...], ca_file: Path, cert_file: Path, key_file: Path) -> list[str]:
    lines: list[str] = []
    for listener in listeners:
        lines += [
            f"listener {listener.port} {listener.host}",
            f"cafile {ca_file}",
            f"certfile {cert_file}",
            f"keyfile {key_file}",
            "tls_version tlsv1.2",
        ]
        if listener.client_certificates:
            lines += ["require_certificate true", "use_identity_as_username true"]
        else:
            lines += ["require_certificate false"]
        lines.append("")
    return lines


def write_broker_files(plan: BrokerPlan, config_path: Path, robot_ids: tuple[str, ...] = ()) -> Path:
    """Write the ACL file and ``mosquitto.conf``; returns the config path. Passwords: ``mosquitto_passwd``."""
    plan.acl_file.write_text(acl_text(plan, robot_ids), encoding="utf-8")
    config_path.write_text(config_text(plan), encoding="utf-8")
    if plan.bridge is not None and plan.bridge.password is not None:
        config_path.chmod(0o600)  # it holds the site account's password
    return config_path


# -- a hospital group: site brokers bridged to one group broker ------------------------------------
#
# Topic layout at the group: the contract's own tree, unchanged. The site id is already the third
# segment (``medbot/v1/<site>/<robot_id>/<channel>``), so a site's bridge forwards its subtree as it
# is (local and remote prefix both ``medbot/v1/<site>/``) and the data center's ingest, its schemas
# and its store read a group's topics exactly as they read one site's. What the bridge adds is the
# scope: it forwards only ``medbot/v1/<site>/#``, and the group broker's ACL lets the site's account
# write only there, so a site can neither leak another site's topics nor speak for another site.
# Each bridge announces itself on ``medbot/bridge/<site>/state`` (retained ``1``; ``0`` is its Last
# Will), outside the contract's tree: the ingest never sees it, a monitor can.

#: the root of the bridges' state topics on the group broker (outside ``medbot/v1``)
BRIDGE_STATE_ROOT = "medbot/bridge"
_CONF_VALUE_RE = re.compile(r"[!-~]+")  # one printable word: Mosquitto splits config values at blanks


def bridge_user(site: str) -> str:
    """The group broker account of ``site``'s bridge: ``bridge-<site>``."""
    return f"bridge-{check_segment(site, 'site')}"


def bridge_state_topic(site: str) -> str:
    return f"{BRIDGE_STATE_ROOT}/{check_segment(site, 'site')}/state"


def site_subtree(site: str) -> str:
    """``medbot/v1/<site>/``: what a site's bridge forwards, and all its account may write at the group."""
    return f"{TOPIC_PREFIX}/{check_segment(site, 'site')}/"


@dataclass(frozen=True)
class BridgePlan:
    """The site broker's bridge to the group broker: TLS (the group's CA, host name checked), the
    site's own account, QoS 1, persistent sessions on both sides under client ids of the site's own.

    With ``cleansession false`` (and ``local_cleansession false``) the site broker keeps the bridge's
    subscription and queue while the group is out of reach, and — with its persistence on disk —
    across its own restart; in-flight messages are sent again on reconnect (duplicates, which the
    data center's unique key absorbs; never a loss).
    """

    site: str
    group_host: str  # as in the group broker's certificate: the bridge checks the host name
    group_port: int
    ca_file: Path  # the CA that signed the group broker's certificate
    password: str | None = None  # the site account's password (the config file holds it: keep it 0600)
    username: str | None = None  # default bridge_user(site)
    cert_file: Path | None = None  # a client certificate, where the group broker asks for one
    key_file: Path | None = None
    local_clientid: str | None = None  # default bridge-<site>-local: the bridge's session on the site broker
    remote_clientid: str | None = None  # default bridge-<site>: its session on the group broker
    keepalive_s: int = 30
    #: reconnect back-off (decorrelated jitter between base and cap), seconds
    restart_timeout_s: tuple[int, int] = (1, 30)

    def __post_init__(self) -> None:
        check_segment(self.site, "site")
        where = f"bridge of site {self.site!r}"
        if _CONF_VALUE_RE.fullmatch(self.group_host) is None:
            raise ValueError(f"{where}: group_host {self.group_host!r} must be one word (a host name or address)")
        if not 1 <= self.group_port <= 65535:
            raise ValueError(f"{where}: group_port {self.group_port} is not a TCP port")
        for what in ("username", "local_clientid", "remote_clientid"):
            value = getattr(self, what)
            if value is not None and _USER_RE.fullmatch(value) is None:
                raise ValueError(f"{where}: {what} {value!r} must match {_USER_RE.pattern}")
        if _USER_RE.fullmatch(self.user) is None:
            raise ValueError(f"{where}: account {self.user!r} must match {_USER_RE.pattern} (a shorter site id)")
        if self.password is None and self.cert_file is None:
            raise ValueError(f"{where}: give the site account's password, or a client certificate")
        if self.password is not None and _CONF_VALUE_RE.fullmatch(self.password) is None:
            raise ValueError(f"{where}: the password must be printable ASCII without blanks "
                             "(Mosquitto reads config values as single words)")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError(f"{where}: cert_file and key_file go together")
        base, cap = self.restart_timeout_s
        if not 1 <= base <= cap:
            raise ValueError(f"{where}: restart_timeout_s {self.restart_timeout_s}: want (base, cap), 1 <= base <= cap")
        if self.keepalive_s < 5:
            raise ValueError(f"{where}: keepalive_s {self.keepalive_s} is below Mosquitto's minimum of 5")

    @property
    def user(self) -> str:
        return self.username or bridge_user(self.site)

    @property
    def local_id(self) -> str:
        return self.local_clientid or f"{bridge_user(self.site)}-local"

    @property
    def remote_id(self) -> str:
        return self.remote_clientid or bridge_user(self.site)


def bridge_lines(bridge: BridgePlan) -> list[str]:
    """The ``connection`` section of a site broker's config (it must come last in the file)."""
    subtree = site_subtree(bridge.site)
    lines = [
        f"# bridge to the group broker: {subtree}# goes out as it is, QoS 1, persistent sessions",
        f"connection {bridge.remote_id}",
        f"address {bridge.group_host}:{bridge.group_port}",
        f"remote_clientid {bridge.remote_id}",
        f"local_clientid {bridge.local_id}",
        f"remote_username {bridge.user}",
    ]
    if bridge.password is not None:
        lines.append(f"remote_password {bridge.password}")
    lines += [f"bridge_cafile {bridge.ca_file}", "bridge_insecure false", "bridge_tls_version tlsv1.2"]
    if bridge.cert_file is not None and bridge.key_file is not None:
        lines += [f"bridge_certfile {bridge.cert_file}", f"bridge_keyfile {bridge.key_file}"]
    lines += [
        "bridge_protocol_version mqttv311",
        "cleansession false",
        "local_cleansession false",  # the site broker queues for the group while the link is down
        "try_private true",  # Mosquitto to Mosquitto: retained flags pass, loops are detected
        "start_type automatic",
        f"restart_timeout {bridge.restart_timeout_s[0]} {bridge.restart_timeout_s[1]}",
        f"keepalive_interval {bridge.keepalive_s}",
        "notifications true",
        f"notification_topic {bridge_state_topic(bridge.site)}",
        f"topic # out 1 {subtree} {subtree}",
        "",
    ]
    return lines


@dataclass(frozen=True)
class GroupBrokerPlan:
    """The group's broker: the sites' bridges write in, the data center's workers read out.

    One TLS listener with username/password by default (bridges and data center alike); a listener
    with ``client_certificates=True`` makes the certificate's CN the user name instead.
    """

    sites: tuple[str, ...]
    ca_file: Path
    cert_file: Path
    key_file: Path
    acl_file: Path
    password_file: Path | None = None
    listeners: tuple[Listener, ...] = (Listener(8883),)
    datacenter: tuple[str, ...] = ("datacenter",)
    persistence_dir: Path | None = None
    autosave_interval_s: int = 5
    max_queued_messages: int = 100_000
    log_dest: str = "stderr"
    extra: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.sites:
            raise ValueError("a group broker needs at least one site")
        for site in self.sites:
            check_segment(site, "site")
        dupes = sorted({s for s in self.sites if self.sites.count(s) > 1})
        if dupes:
            raise ValueError(f"sites listed more than once: {dupes} (a site id names one site in the group)")
        bridges = [bridge_user(s) for s in self.sites]
        for user in [*bridges, *self.datacenter]:
            if _USER_RE.fullmatch(user) is None:
                raise ValueError(f"user name {user!r} must match {_USER_RE.pattern}")
        clash = sorted(set(bridges) & set(self.datacenter))
        if clash:
            raise ValueError(f"data center accounts named like a site's bridge: {clash}")
        if any(not listener.client_certificates for listener in self.listeners) and self.password_file is None:
            raise ValueError("a password listener needs password_file")


def group_acl_text(plan: GroupBrokerPlan) -> str:
    """Each site's bridge writes only its own subtree (and its state topic); the data center reads."""
    lines = ["# generated by telemetry.mosquitto_config (group broker); do not edit by hand", ""]
    for user in plan.datacenter:
        lines += [f"user {user}", f"topic read {TOPIC_PREFIX}/#", f"topic read {BRIDGE_STATE_ROOT}/#", ""]
    for site in plan.sites:
        lines += [f"user {bridge_user(site)}", f"topic write {site_subtree(site)}#",
                  f"topic write {bridge_state_topic(site)}", ""]
    return "\n".join(lines)


def group_config_text(plan: GroupBrokerPlan) -> str:
    """``mosquitto.conf`` of the group broker (Mosquitto 2.0)."""
    lines = ["# generated by telemetry.mosquitto_config (group broker); do not edit by hand",
             "per_listener_settings false", "allow_anonymous false", f"acl_file {plan.acl_file}"]
    if plan.password_file is not None:
        lines.append(f"password_file {plan.password_file}")
    lines += _persistence_lines(plan.persistence_dir, plan.autosave_interval_s)
    lines += [f"max_queued_messages {plan.max_queued_messages}", f"log_dest {plan.log_dest}",
              "log_type error", "log_type warning", "log_type notice", *plan.extra, ""]
    lines += _listener_lines(plan.listeners, plan.ca_file, plan.cert_file, plan.key_file)
    return "\n".join(lines) + "\n"


def write_group_broker_files(plan: GroupBrokerPlan, config_path: Path) -> Path:
    """Write the group broker's ACL file and ``mosquitto.conf``; returns the config path."""
    plan.acl_file.write_text(group_acl_text(plan), encoding="utf-8")
    config_path.write_text(group_config_text(plan), encoding="utf-8")
    return config_path
