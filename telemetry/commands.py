"""The command channel, robot side: validate, authorize, deduplicate, execute once, answer, audit.

A command arrives on ``medbot/v1/<site>/<robot_id>/commands`` as an envelope whose body follows
``schemas/commands.json``. :class:`CommandProcessor` turns its bytes into exactly one of:

- a **nack** with a reason, having executed nothing: not JSON, not valid against the schema, aimed at
  another robot, an unknown user, a role the user does not hold, a viewer, a target outside the
  user's grant, a command id reused for a different command, or a handler that refused;
- an **ack**, after the handler for that command ran once (its result in ``result``);
- the **same answer again** (``duplicate: true``) for a command id it has answered before — QoS 1
  redelivery or an operator's retry — without executing anything.

Every decision is appended to a JSON-lines audit log (fsynced). The log is also the idempotency
memory: a restarted robot reloads the answered ids, so a redelivered command is not run twice.

The broker's ACL already keeps viewers and robots off the command topics (see
``telemetry.mosquitto_config``); the role check here is the second line, against a policy the robot
was configured with, so a mis-set broker does not make a viewer an operator.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telemetry.codec import MessageEncoder, WireMessage
from telemetry.envelope import iso_timestamp
from telemetry.topics import Channel, topic_for
from telemetry.validate import PayloadError, validate

COMMANDS = ("pause", "resume", "cancel", "dispatch", "return_to_dock", "remote_estop", "reset_estop", "building_alarm")
ROLES = ("operator", "viewer")
#: roles that may command; a viewer may only read
COMMANDING_ROLES = frozenset({"operator"})
DEFAULT_MEMORY = 10_000


class CommandRejected(Exception):
    """Raised by a handler that refuses a command without having changed anything."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: a handler gets the command's params and the issuing user, returns result data for the ack
Handler = Callable[[dict[str, Any], str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Grant:
    role: str
    #: robots this user may command, as ``<site>/<robot_id>`` glob patterns ("*" = every robot)
    targets: tuple[str, ...] = ("*",)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; known roles: {', '.join(ROLES)}")

    def covers(self, site: str, robot_id: str) -> bool:
        return any(fnmatch.fnmatchcase(f"{site}/{robot_id}", pattern) for pattern in self.targets)


@dataclass(frozen=True)
class CommandPolicy:
    """Who may command what: staff account id -> :class:`Grant`. Unknown users are refused."""

    grants: Mapping[str, Grant] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CommandPolicy:
        """``{"op-0001": {"role": "operator", "targets": ["ward-3/*"]}, "vw-0002": {"role": "viewer"}}``."""
        return cls({user: Grant(g["role"], tuple(g.get("targets", ("*",)))) for user, g in data.items()})

    def refusal(self, user: str, claimed_role: str, site: str, robot_id: str) -> str | None:
        """None if ``user`` may command this robot, else why not."""
        grant = self.grants.get(user)
        if grant is None:
            return f"unauthorized: unknown user {user!r}"
        if claimed_role != grant.role:
            return f"unauthorized: user {user!r} holds role {grant.role!r}, not {claimed_role!r}"
        if grant.role not in COMMANDING_ROLES:
            return f"unauthorized: role {grant.role!r} may not command robots"
        if not grant.covers(site, robot_id):
            return f"unauthorized: user {user!r} may not command {site}/{robot_id}"
        return None


class AuditLog:
    """Append-only JSON lines, fsynced per entry; remembers recent answers by command id."""

    def __init__(self, path: Path | str, *, memory: int = DEFAULT_MEMORY) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._memory = memory
        self._answers: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line after a crash: that command was not answered
                if entry.get("command_id") and entry.get("fingerprint") and not entry["ack"].get("duplicate"):
                    self._remember(entry["command_id"], entry["fingerprint"], entry["ack"])
        self._file = self.path.open("a", encoding="utf-8")

    def _remember(self, command_id: str, fingerprint: str, ack: dict[str, Any]) -> None:
        self._answers[command_id] = (fingerprint, ack)
        self._answers.move_to_end(command_id)
        while len(self._answers) > self._memory:
            self._answers.popitem(last=False)

    def answered(self, command_id: str) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            return self._answers.get(command_id)

    def write(self, stamp_s: float, ack: dict[str, Any], *, fingerprint: str | None, user: str | None,
              role: str | None, topic: str) -> None:
        entry = {
            "at": iso_timestamp(stamp_s), "topic": topic, "command_id": ack["command_id"],
            "command": ack["command"], "user": user, "role": role, "status": ack["status"],
            "reason": ack["reason"], "fingerprint": fingerprint, "ack": ack,
        }
        with self._lock:
            self._file.write(json.dumps(entry, separators=(",", ":"), sort_keys=True) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            if fingerprint is not None and ack["command_id"] is not None and not ack["duplicate"]:
                self._remember(ack["command_id"], fingerprint, ack)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            self._file.flush()
            return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]

    def close(self) -> None:
        with self._lock:
            self._file.close()


def make_ack(command_id: str | None, command: str | None, status: str, reason: str | None = None,
             *, duplicate: bool = False, result: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"command_id": command_id, "command": command, "status": status,
            "reason": None if reason is None else reason[:500], "duplicate": duplicate, "result": result or {}}


class CommandProcessor:
    """Pure decision logic for one robot's commands; the transport calls :meth:`handle`.

    Not thread-safe by design: call it from the thread that owns the robot (its tick).
    """

    def __init__(self, site: str, robot_id: str, policy: CommandPolicy, handlers: Mapping[str, Handler],
                 audit: AuditLog) -> None:
        unknown = set(handlers) - set(COMMANDS)
        if unknown:
            raise ValueError(f"handlers for unknown commands {sorted(unknown)}; known: {', '.join(COMMANDS)}")
        self.site = site
        self.robot_id = robot_id
        self.topic = topic_for(site, robot_id, Channel.COMMANDS)
        self.policy = policy
        self.handlers = dict(handlers)
        self.audit = audit
        self.executed: list[tuple[str, str]] = []  # (command_id, command), in order: for tests and status

    def handle(self, topic: str, payload: bytes, now_s: float) -> dict[str, Any]:
        """Decide, execute at most once, audit; return the ack/nack body to publish."""
        ack, fingerprint, user, role = self._decide(topic, payload)
        self.audit.write(now_s, ack, fingerprint=fingerprint, user=user, role=role, topic=topic)
        return ack

    def _decide(self, topic: str, payload: bytes) -> tuple[dict[str, Any], str | None, str | None, str | None]:
        try:
            envelope = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return make_ack(None, None, "nack", f"malformed: not JSON ({exc})"), None, None, None
        body = envelope.get("body") if isinstance(envelope, dict) else None
        body = body if isinstance(body, dict) else {}
        raw_id, raw_command = body.get("command_id"), body.get("command")
        command_id = raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= 128 else None
        command = raw_command if isinstance(raw_command, str) and raw_command in COMMANDS else None
        try:
            validate(Channel.COMMANDS, envelope, topic=topic)
        except PayloadError as exc:
            return make_ack(command_id, command, "nack", f"malformed: {exc.path}: {exc.reason}"), None, None, None
        assert command_id is not None and command is not None  # the schema guarantees both
        issued_by, target, params = body["issued_by"], body["target"], body["params"]
        user, role = issued_by["user"], issued_by["role"]
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

        answered = self.audit.answered(command_id)
        if answered is not None:
            earlier_fingerprint, earlier_ack = answered
            if earlier_fingerprint == fingerprint:
                return {**earlier_ack, "duplicate": True}, fingerprint, user, role
            return (make_ack(command_id, command, "nack", "command_id already used for a different command"),
                    None, user, role)

        if topic != self.topic or envelope["header"]["robot_id"] != self.robot_id:
            return make_ack(command_id, command, "nack", f"wrong topic for {self.robot_id}: {topic}"), fingerprint, \
                user, role
        if (target["site"], target["robot_id"]) != (self.site, self.robot_id):
            reason = f"wrong target {target['site']}/{target['robot_id']}: this is {self.site}/{self.robot_id}"
            return make_ack(command_id, command, "nack", reason), fingerprint, user, role
        refusal = self.policy.refusal(user, role, self.site, self.robot_id)
        if refusal is not None:
            return make_ack(command_id, command, "nack", refusal), fingerprint, user, role
        handler = self.handlers.get(command)
        if handler is None:
            return make_ack(command_id, command, "nack", f"{command!r} is not supported by this robot"), \
                fingerprint, user, role
        try:
            result = handler(dict(params), user)
        except CommandRejected as exc:
            return make_ack(command_id, command, "nack", f"refused: {exc.reason}"), fingerprint, user, role
        except (ValueError, LookupError, TypeError, RuntimeError) as exc:
            # handlers map one command onto one robot call, which raises before changing anything
            return make_ack(command_id, command, "nack", f"failed: {type(exc).__name__}: {exc}"), fingerprint, \
                user, role
        self.executed.append((command_id, command))
        return make_ack(command_id, command, "ack", result=result), fingerprint, user, role


def command_body(command_id: str, command: str, site: str, robot_id: str, *, user: str, role: str = "operator",
                 params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A commands body, for operator consoles, the dashboard and tests."""
    return {"command_id": command_id, "command": command, "target": {"site": site, "robot_id": robot_id},
            "issued_by": {"user": user, "role": role}, "params": params or {}}


class CommandEncoder:
    """Frames commands for one robot (envelope, per-topic seq, schema check) for an operator client."""

    def __init__(self, site: str, robot_id: str) -> None:
        self._encoder = MessageEncoder(site, robot_id)

    def encode(self, body: dict[str, Any], stamp_s: float) -> WireMessage:
        return self._encoder.encode(Channel.COMMANDS, body, stamp_s)
