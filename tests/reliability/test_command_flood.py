"""1,000 malformed and unauthorized commands at a real robot's command processor (the robot's own
handlers): every one is nacked with a reason, none is executed, and the robot is unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rig import RobotRig

from robots.command_handler import robot_handlers
from telemetry.codec import MessageEncoder
from telemetry.commands import AuditLog, CommandPolicy, CommandProcessor, command_body
from telemetry.topics import Channel, topic_for

SITE, ROBOT = "test-site", "rel-1"
POLICY = {"op-0001": {"role": "operator", "targets": [f"{SITE}/*"]},
          "vw-0001": {"role": "viewer", "targets": [f"{SITE}/*"]},
          "op-0002": {"role": "operator", "targets": ["other-site/*"]}}
TRIES = 1000


def _valid(cid: str, command: str, **kw: Any) -> dict[str, Any]:
    known: dict[str, dict[str, Any]] = {"dispatch": {"kind": "return_to_dock", "params": {}},
                                        "remote_estop": {"reason": "x"}}
    params = known.get(command, {})
    return command_body(cid, command, SITE, ROBOT, user="op-0001", params=params) | kw


def _payloads(rng: np.random.Generator) -> list[tuple[str, bytes, str]]:
    """(topic, payload, family) of 1,000 commands that must all be refused, in a seeded mix."""
    enc = MessageEncoder(SITE, ROBOT, validate=False)
    topic = topic_for(SITE, ROBOT, Channel.COMMANDS)
    commands = ("pause", "resume", "cancel", "dispatch", "return_to_dock", "remote_estop", "reset_estop")
    out: list[tuple[str, bytes, str]] = []
    for i in range(TRIES):
        cid = f"cmd-{i:05d}"
        command = commands[int(rng.integers(len(commands)))]
        family = int(rng.integers(12))
        body = _valid(cid, command)
        if family == 0:
            out.append((topic, bytes(rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8)), "bytes"))
            continue
        if family == 1:
            out.append((topic, b'{"header": {"seq": 1}, "body": ', "truncated"))
            continue
        if family == 2:
            body["command"] = "self_destruct"
        elif family == 3:
            body["params"] = {"unexpected": True, "kind": "x"}
        elif family == 4:
            del body["issued_by"]
        elif family == 5:
            body["issued_by"] = {"user": "vw-0001", "role": "viewer"}
        elif family == 6:
            body["issued_by"] = {"user": "vw-0001", "role": "operator"}  # claims a role it does not hold
        elif family == 7:
            body["issued_by"] = {"user": "intruder", "role": "operator"}
        elif family == 8:
            body["issued_by"] = {"user": "op-0002", "role": "operator"}  # granted another site only
        elif family == 9:
            body["target"] = {"site": SITE, "robot_id": "someone-else"}
        elif family == 10:
            body["command_id"] = ""
        else:
            body["command_id"] = "x" * 300
        wire = enc.encode(Channel.COMMANDS, body, 1767600000.0 + i)
        out.append((topic, wire.payload, f"family-{family}"))
    # a valid command on another robot's topic, and one whose envelope names another robot
    other = MessageEncoder(SITE, "rel-2", validate=False).encode(Channel.COMMANDS, _valid("cmd-x1", "pause"), 1.0)
    out[-1] = (other.topic, other.payload, "wrong-topic")
    spoofed = json.loads(enc.encode(Channel.COMMANDS, _valid("cmd-x2", "pause"), 1.0).payload)
    spoofed["header"]["robot_id"] = "rel-2"
    out[-2] = (topic, json.dumps(spoofed).encode(), "wrong-header")
    return out


def _spy(handler: Any, name: str, calls: list[str]) -> Any:
    def spied(params: dict[str, Any], user: str) -> Any:
        calls.append(name)
        return handler(params, user)

    return spied


def test_a_thousand_bad_commands_are_all_nacked_and_none_executed(tmp_path: Path) -> None:
    rig = RobotRig(tmp_path / "journal")
    rig.run_until(lambda: False, max_s=2.0)
    calls: list[str] = []
    handlers = robot_handlers(rig.robot)
    spied = {name: _spy(handler, name, calls) for name, handler in handlers.items()}
    processor = CommandProcessor(SITE, ROBOT, CommandPolicy.from_dict(POLICY), spied, AuditLog(tmp_path / "audit"))
    payloads = _payloads(np.random.default_rng(20261129))
    acks = []
    for i, (topic, payload, _family) in enumerate(payloads):
        acks.append(processor.handle(topic, payload, 1767600000.0 + i))
        if i % 50 == 0:
            rig.tick()  # the robot keeps ticking between commands, as it does on its own thread
    assert len(acks) == TRIES
    nacked = [a for a in acks if a["status"] == "nack" and a["reason"]]
    assert len(nacked) == TRIES, [a for a in acks if a["status"] != "nack"][:5]
    assert calls == [] and processor.executed == []
    assert not rig.robot.supervisor.estop_latched and not rig.robot.runner.paused
    assert rig.robot.runner.current is None and not rig.robot.runner.queue_snapshot()
    assert len(processor.audit.entries()) == TRIES  # every refusal is on the record

    # and the same processor still obeys a good command afterwards: the flood broke nothing
    good = MessageEncoder(SITE, ROBOT).encode(Channel.COMMANDS, _valid("cmd-good", "pause"), 1767601000.0)
    assert processor.handle(good.topic, good.payload, 1767601000.0)["status"] == "ack"
    assert calls == ["pause"] and rig.robot.runner.paused
