"""Operator commands over MQTT -> `Robot` calls: one validated, authorized command, one robot call.

`attach_commands(robot, publisher, policy=..., audit_path=...)` subscribes to the robot's
``commands`` topic through the publisher's own MQTT client and returns a `RobotCommandHandler`.
Commands arriving on paho's network thread are only queued; `poll(now_s)` — called from the robot's
tick, on the thread that owns the robot — decides, executes and answers each one on
``commands/ack``. That keeps every robot call on one thread and makes a command take effect at a tick
boundary, never halfway through one.

Each command maps onto exactly one `Robot` operator call that either completes or raises before
changing anything (the runner validates a dispatch before queuing it), so a command is never half
applied; the decision logic (schema, role, target, idempotency, audit) is
`telemetry.commands.CommandProcessor`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from telemetry.commands import AuditLog, CommandPolicy, CommandProcessor, CommandRejected, Handler
from telemetry.topics import Channel

if TYPE_CHECKING:
    from robots.robot import Robot
    from telemetry.publisher import TelemetryPublisher

log = logging.getLogger(__name__)

#: at most this many queued commands are handled per tick (a flood cannot stall the control loop)
MAX_COMMANDS_PER_POLL = 20
#: commands waiting beyond this are nacked unread, oldest kept (a flood must not eat memory)
MAX_QUEUED_COMMANDS = 1000


@runtime_checkable
class CommandablePublisher(Protocol):
    site: str
    robot_id: str

    def subscribe_commands(self, callback: Any) -> None: ...

    def publish(self, channel: Channel | str, body: dict[str, Any], stamp_s: float) -> None: ...


class OperatorRobot(Protocol):
    """The part of `robots.robot.Robot` that commands drive (a fake with these methods works too)."""

    def dispatch(self, kind: str, params: dict[str, Any], *, priority: int = 50,
                 mission_id: str | None = None, task_id: str | None = None) -> str: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def cancel(self, mission_id: str | None = None) -> None: ...

    def return_to_dock(self) -> str: ...

    def remote_estop(self, source: str) -> None: ...

    def reset_estop(self, by: str) -> tuple[bool, str]: ...

    def set_building_alarm(self, active: bool, *, park_at: str | None = None, reason: str = "fire alarm") -> None: ...


def robot_handlers(robot: OperatorRobot) -> dict[str, Handler]:
    """One handler per command, each a single operator call on ``robot``."""

    def pause(params: dict[str, Any], user: str) -> dict[str, Any]:
        robot.pause()
        return {"paused": True}

    def resume(params: dict[str, Any], user: str) -> dict[str, Any]:
        robot.resume()
        return {"paused": False}

    def cancel(params: dict[str, Any], user: str) -> dict[str, Any]:
        mission_id = params.get("mission_id")
        runner = getattr(robot, "runner", None)
        if mission_id is None and runner is not None and runner.current is None:
            raise CommandRejected("no mission is running")
        robot.cancel(mission_id)
        return {"cancelled": mission_id}

    def dispatch(params: dict[str, Any], user: str) -> dict[str, Any]:
        mission_id = robot.dispatch(params["kind"], dict(params.get("params", {})),
                                    priority=int(params.get("priority", 50)), mission_id=params.get("mission_id"),
                                    task_id=params.get("task_id"))
        return {"mission_id": mission_id}

    def return_to_dock(params: dict[str, Any], user: str) -> dict[str, Any]:
        return {"mission_id": robot.return_to_dock()}

    def remote_estop(params: dict[str, Any], user: str) -> dict[str, Any]:
        robot.remote_estop(f"operator {user}: {params.get('reason', 'remote e-stop')}")
        return {"estop": True}

    def reset_estop(params: dict[str, Any], user: str) -> dict[str, Any]:
        ok, why = robot.reset_estop(by=f"operator {user}")
        if not ok:
            raise CommandRejected(why)
        return {"estop": False, "detail": why}

    def building_alarm(params: dict[str, Any], user: str) -> dict[str, Any]:
        robot.set_building_alarm(bool(params["active"]), park_at=params.get("park_at"),
                                 reason=str(params.get("reason") or "fire alarm"))
        return {"building_alarm": bool(params["active"])}

    return {"pause": pause, "resume": resume, "cancel": cancel, "dispatch": dispatch,
            "return_to_dock": return_to_dock, "remote_estop": remote_estop, "reset_estop": reset_estop,
            "building_alarm": building_alarm}


class RobotCommandHandler:
    def __init__(self, processor: CommandProcessor, publisher: CommandablePublisher) -> None:
        self.processor = processor
        self.publisher = publisher
        self._queue: deque[tuple[str, bytes]] = deque()
        self._lock = threading.Lock()
        self.overflowed = 0
        self.answered = 0

    def enqueue(self, topic: str, payload: bytes) -> None:
        """paho's network thread: queue only; never touch the robot here."""
        with self._lock:
            if len(self._queue) >= MAX_QUEUED_COMMANDS:
                self.overflowed += 1
                return
            self._queue.append((topic, payload))

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._queue)

    def poll(self, now_s: float) -> int:
        """Handle up to :data:`MAX_COMMANDS_PER_POLL` queued commands; returns how many."""
        handled = 0
        while handled < MAX_COMMANDS_PER_POLL:
            with self._lock:
                if not self._queue:
                    break
                topic, payload = self._queue.popleft()
            ack = self.processor.handle(topic, payload, now_s)
            handled += 1
            try:
                self.publisher.publish(Channel.COMMANDS_ACK, ack, now_s)
                self.answered += 1
            except (ValueError, RuntimeError) as exc:  # the ack is in the audit log either way
                log.warning("robot %s: could not publish ack for %s: %s", self.processor.robot_id,
                            ack.get("command_id"), exc)
        return handled


def attach_commands(robot: OperatorRobot, publisher: CommandablePublisher, *, policy: CommandPolicy,
                    audit_path: Path) -> RobotCommandHandler:
    """Subscribe ``robot`` to its command topic; call ``handler.poll(now_s)`` on every tick."""
    processor = CommandProcessor(publisher.site, publisher.robot_id, policy, robot_handlers(robot),
                                 AuditLog(audit_path))
    handler = RobotCommandHandler(processor, publisher)
    publisher.subscribe_commands(handler.enqueue)
    return handler


def _robot_is_commandable(robot: Robot) -> OperatorRobot:  # checked by mypy, never called
    return robot


def _publisher_is_commandable(publisher: TelemetryPublisher) -> CommandablePublisher:  # checked by mypy only
    return publisher
