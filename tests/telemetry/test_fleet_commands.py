"""Commands: malformed and unauthorized ones are all nacked and none executed; ids are idempotent."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from robots.command_handler import attach_commands, robot_handlers
from telemetry import Channel, TelemetryPublisher, TelemetrySubscriber
from telemetry.commands import AuditLog, CommandEncoder, CommandPolicy, CommandProcessor, command_body
from telemetry.envelope import make_envelope

SITE = "ward-3"
ROBOT = "cmd-robot"
POLICY = CommandPolicy.from_dict({
    "op-0001": {"role": "operator"},
    "op-0002": {"role": "operator", "targets": ["ward-9/*"]},
    "vw-0001": {"role": "viewer"},
})


class FakeRobot:
    """The operator API of `Robot`, recording every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def dispatch(self, kind: str, params: dict[str, Any], *, priority: int = 50, mission_id: str | None = None,
                 task_id: str | None = None) -> str:
        if kind != "nursing_round":
            raise KeyError(f"unknown mission kind {kind!r}")
        self.calls.append(("dispatch", (kind, params, priority)))
        return mission_id or "m-0001"

    def pause(self) -> None:
        self.calls.append(("pause", None))

    def resume(self) -> None:
        self.calls.append(("resume", None))

    def cancel(self, mission_id: str | None = None) -> None:
        self.calls.append(("cancel", mission_id))

    def return_to_dock(self) -> str:
        self.calls.append(("return_to_dock", None))
        return "m-dock"

    def remote_estop(self, source: str) -> None:
        self.calls.append(("remote_estop", source))

    def reset_estop(self, by: str) -> tuple[bool, str]:
        return False, "e-stop button still pressed"

    def set_building_alarm(self, active: bool, *, park_at: str | None = None, reason: str = "fire alarm") -> None:
        self.calls.append(("building_alarm", (active, park_at)))


def _cmd(command_id: str, command: str, *, user: str = "op-0001", role: str = "operator",
         params: dict[str, Any] | None = None, robot: str = ROBOT) -> bytes:
    body = command_body(command_id, command, SITE, robot, user=user, role=role, params=params)
    return json.dumps(make_envelope(Channel.COMMANDS, ROBOT, 0, 1767571200.0, body)).encode()


BAD_COMMANDS: list[tuple[str, bytes, str]] = [
    ("not-json", b"{pause", "malformed: not JSON"),
    ("no-envelope", json.dumps({"command": "pause"}).encode(), "malformed"),
    ("unknown-command", _cmd("c-1", "pause").replace(b'"pause"', b'"self_destruct"'), "malformed"),
    ("extra-param", _cmd("c-2", "pause", params={"now": True}), "malformed"),
    ("dispatch-no-kind", _cmd("c-3", "dispatch", params={"params": {}}), "malformed"),
    ("bad-priority", _cmd("c-4", "dispatch", params={"kind": "nursing_round", "priority": 1000}), "malformed"),
    ("viewer", _cmd("c-5", "pause", user="vw-0001", role="viewer"), "role 'viewer' may not command"),
    ("viewer-claims-operator", _cmd("c-6", "pause", user="vw-0001"), "holds role 'viewer'"),
    ("unknown-user", _cmd("c-7", "remote_estop", user="op-9999"), "unknown user"),
    ("outside-grant", _cmd("c-8", "pause", user="op-0002"), "may not command ward-3/cmd-robot"),
    ("other-robot", _cmd("c-9", "pause", robot="robot-x"), "wrong target"),
    ("unknown-kind", _cmd("c-10", "dispatch", params={"kind": "teleport"}), "failed: KeyError"),
    ("reset-refused", _cmd("c-11", "reset_estop"), "refused: e-stop button still pressed"),
]


def test_malformed_and_unauthorized_commands_are_nacked_and_nothing_executed(tmp_path: Path) -> None:
    robot = FakeRobot()
    proc = CommandProcessor(SITE, ROBOT, POLICY, robot_handlers(robot), AuditLog(tmp_path / "audit.jsonl"))
    topic = proc.topic
    for name, payload, reason in BAD_COMMANDS:
        ack = proc.handle(topic, payload, 10.0)
        assert ack["status"] == "nack", name
        assert reason in (ack["reason"] or ""), (name, ack["reason"])
    assert robot.calls == [] and proc.executed == []
    assert len(proc.audit.entries()) == len(BAD_COMMANDS)
    # the wrong topic is refused even for an otherwise good command
    assert proc.handle("medbot/v1/ward-3/robot-x/commands", _cmd("c-12", "pause"), 10.0)["status"] == "nack"
    assert robot.calls == []


def test_a_command_id_executes_once_even_across_a_restart(tmp_path: Path) -> None:
    robot = FakeRobot()
    proc = CommandProcessor(SITE, ROBOT, POLICY, robot_handlers(robot), AuditLog(tmp_path / "audit.jsonl"))
    first = proc.handle(proc.topic, _cmd("c-d", "dispatch", params={"kind": "nursing_round"}), 1.0)
    again = proc.handle(proc.topic, _cmd("c-d", "dispatch", params={"kind": "nursing_round"}), 2.0)
    assert first["status"] == "ack" and first["result"] == {"mission_id": "m-0001"} and not first["duplicate"]
    assert again == {**first, "duplicate": True}
    reused = proc.handle(proc.topic, _cmd("c-d", "pause"), 3.0)
    assert reused["status"] == "nack" and "different command" in (reused["reason"] or "")
    proc.audit.close()
    restarted = CommandProcessor(SITE, ROBOT, POLICY, robot_handlers(robot), AuditLog(tmp_path / "audit.jsonl"))
    assert restarted.handle(proc.topic, _cmd("c-d", "dispatch", params={"kind": "nursing_round"}), 4.0)["duplicate"]
    assert [c for c, _ in robot.calls] == ["dispatch"]


@pytest.mark.integration
def test_commands_over_mosquitto_are_answered_and_only_valid_ones_run(mosquitto: Any, tmp_path: Path) -> None:
    robot = FakeRobot()
    pub = TelemetryPublisher(mosquitto.url, SITE, ROBOT)
    handler = attach_commands(robot, pub, policy=POLICY, audit_path=tmp_path / "audit.jsonl")
    pub.connect()
    acks = TelemetrySubscriber(mosquitto.url, pub.topic(Channel.COMMANDS_ACK))
    acks.connect()
    operator = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="operator-console", protocol=mqtt.MQTTv311)
    operator.connect(mosquitto.host, mosquitto.port)
    operator.loop_start()
    encoder = CommandEncoder(SITE, ROBOT)
    good = [
        encoder.encode(command_body("ok-1", "pause", SITE, ROBOT, user="op-0001"), 5.0).payload,
        encoder.encode(command_body("ok-2", "dispatch", SITE, ROBOT, user="op-0001",
                                    params={"kind": "nursing_round", "params": {"beds": ["bed-1"]}}), 5.0).payload,
    ]
    payloads = [p for _n, p, _r in BAD_COMMANDS] + good + [good[0]]  # the last one: a redelivered duplicate
    try:
        for payload in payloads:
            operator.publish(pub.topic(Channel.COMMANDS), payload, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while handler.answered < len(payloads) and time.monotonic() < deadline:
            handler.poll(time.time())  # the robot's tick
            time.sleep(0.01)
        got = acks.wait_for(lambda ms: len(ms) >= len(payloads))
    finally:
        operator.loop_stop()
        operator.disconnect()
        acks.close()
        pub.close()
    bodies = [m.body for m in got]
    assert all(b is not None for b in bodies)
    statuses = [(b["command_id"], b["status"], b["duplicate"]) for b in bodies if b is not None]
    assert [s for _c, s, _d in statuses[: len(BAD_COMMANDS)]] == ["nack"] * len(BAD_COMMANDS)
    assert statuses[len(BAD_COMMANDS):] == [("ok-1", "ack", False), ("ok-2", "ack", False), ("ok-1", "ack", True)]
    assert [c for c, _ in robot.calls] == ["pause", "dispatch"]
