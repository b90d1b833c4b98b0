"""Traffic over real Mosquitto: a robot's wait reaches the fleet's link, the fleet's grant table
reaches the robot's client, and a table from anyone but the fleet's topic is never taken."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fleet.mqtt_link import FleetLink
from fleet.traffic import TrafficArbiter
from hal.geometry import Pose2D
from robots.traffic import TrafficMap, attach_over_mqtt
from telemetry import TelemetryPublisher
from telemetry.topics import FLEET_ID, Channel

NODES = {"c0": (0.0, 0.0, 0), "c1": (5.0, 0.0, 0), "d1": (8.0, 0.0, 0), "d2": (9.0, 0.0, 0), "c2": (12.0, 0.0, 0)}
EDGES = [("c0", "c1"), ("c1", "d1"), ("d1", "d2"), ("d2", "c2")]


class Navigator:
    def __init__(self) -> None:
        self.holds: list[str | None] = []

    def route_nodes(self) -> list[str]:
        return ["c1", "d1", "d2", "c2"]

    def hold_at(self, node: str | None) -> None:
        self.holds.append(node)

    def cancel(self) -> None:
        pass


def wait_until(predicate: Any, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_a_wait_and_its_grant_cross_the_broker(mosquitto: Any) -> None:
    site = f"traffic-{uuid.uuid4().hex[:8]}"
    got: list[tuple[str, str, dict[str, Any], float]] = []
    link = FleetLink(mosquitto.url, site, mqtt5=True, connect_timeout_s=5.0, reconnect_max_delay_s=1)
    link.start(lambda robot_id, channel, body, stamp_s: got.append((robot_id, channel, body, stamp_s)))
    robot = TelemetryPublisher(mosquitto.url, site, "r-1")
    client = attach_over_mqtt(robot, TrafficMap.build(NODES, {"door:a": ["d1", "d2"]}, EDGES))
    robot.connect()
    arbiter = TrafficArbiter({"door:a": "door"})
    navigator = Navigator()
    now_s = 1767596400.0
    try:
        arbiter.step(now_s)
        client.step(now_s, Pose2D(1.0, 0.0, 0.0, 0), navigator, priority=60, task_id="t-1")
        assert navigator.holds == ["c1"]
        assert wait_until(lambda: any(r == "r-1" and c == Channel.TRAFFIC.value for r, c, _, _ in got))
        [report] = [b for r, c, b, _ in got if r == "r-1" and c == Channel.TRAFFIC.value]
        assert report["wanted"]["groups"] == ["door:a"] and report["wanted"]["priority"] == 60
        arbiter.on_report("r-1", report, now_s + 21)
        table = arbiter.step(now_s + 21)
        assert table is not None
        link.publish(FLEET_ID, Channel.TRAFFIC, table, now_s + 21)

        def granted() -> bool:
            client.step(now_s + 22, Pose2D(2.0, 0.0, 0.0, 0), navigator, priority=60, task_id="t-1")
            return navigator.holds[-1] is None

        assert wait_until(granted)
        assert client.owners == {"door:a": "r-1"}
        # the fleet's own table is not taken back as a robot's report
        assert not any(r == FLEET_ID and c == Channel.TRAFFIC.value for r, c, _, _ in got)
    finally:
        robot.close()
        link.close()
