"""A robot node with MQTT takes the fleet's commands: the host attaches the command channel with
the fleet service's account granted (or a policy file), so the fleet drives ROS 2 robots as well."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import sim.ros_bridge as ros_bridge
from hal.clock import DEFAULT_SIM_EPOCH_S, SimClock
from hal.registry import ConfigError
from robots.ros.host import HostSettings
from sim.ros_bridge import SimRobotHost
from telemetry.codec import MessageEncoder
from telemetry.commands import command_body
from telemetry.topics import Channel


class FakeMqttSink:
    """What TelemetryPublisher offers a robot: publish, and its command subscription."""

    def __init__(self, site: str, robot_id: str) -> None:
        self.site, self.robot_id = site, robot_id
        self.callback: Any = None
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish(self, channel: Any, body: dict[str, Any], stamp_s: float) -> None:
        self.published.append((str(getattr(channel, "value", channel)), body))

    def subscribe_commands(self, callback: Any) -> None:
        self.callback = callback

    def close(self) -> None:
        pass


def _host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> tuple[SimRobotHost, FakeMqttSink]:
    sink = FakeMqttSink("site-1", "nurse-a")
    monkeypatch.setattr(ros_bridge, "make_sink", lambda s: sink)
    host = SimRobotHost(HostSettings(robot_id="nurse-a", robot_config="nursing", home_dock="dock-ward-a",
                                     site="site-1", journal_dir=tmp_path / "journal", mqtt_url="mqtt://broker:1883",
                                     serves="ward-a", **settings), SimClock(DEFAULT_SIM_EPOCH_S))
    return host, sink


def _send(sink: FakeMqttSink, user: str) -> None:
    body = command_body(f"cmd-{user}", "dispatch", "site-1", "nurse-a", user=user,
                        params={"kind": "return_to_dock", "params": {}, "mission_id": f"m-{user}", "task_id": "t-1"})
    wire = MessageEncoder("site-1", "nurse-a").encode(Channel.COMMANDS, body, DEFAULT_SIM_EPOCH_S)
    sink.callback(wire.topic, wire.payload)


def test_the_fleet_service_account_may_dispatch_and_others_are_refused(tmp_path, monkeypatch) -> None:
    host, sink = _host(tmp_path, monkeypatch)
    robot = host.robot
    robot.setup()
    assert sink.callback is not None and robot.commands is not None
    _send(sink, "fleet-service")
    _send(sink, "op-0001")
    robot.step(DEFAULT_SIM_EPOCH_S + 0.1)
    acks = {b["command_id"]: b for ch, b in sink.published if ch == "commands/ack"}
    assert acks["cmd-fleet-service"]["status"] == "ack"
    assert acks["cmd-op-0001"]["status"] == "nack" and "unknown user" in acks["cmd-op-0001"]["reason"]
    assert robot.task_of("m-fleet-service") == "t-1"
    factsheet = next(b for ch, b in sink.published if ch == "factsheet")
    assert factsheet["serves"] == "ward-a" and "nursing_round" in factsheet["missions"]
    robot.close()


def test_a_policy_file_grants_others_and_a_bad_one_says_where(tmp_path, monkeypatch) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"op-0001": {"role": "operator"}}))
    host, sink = _host(tmp_path, monkeypatch, command_policy=str(policy))
    host.robot.setup()
    _send(sink, "op-0001")
    host.robot.step(DEFAULT_SIM_EPOCH_S + 0.1)
    assert [b["status"] for ch, b in sink.published if ch == "commands/ack"] == ["ack"]
    host.robot.close()
    policy.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="command_policy"):
        _host(tmp_path / "b", monkeypatch, command_policy=str(policy))
