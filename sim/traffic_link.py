"""Traffic in the simulator: each robot's reservation client on the world's mutex groups.

The client (`robots/traffic.py`) is the same a real robot runs; here its map comes from the
world file and its messages go through the robot's telemetry sink (the fleet's loopback, and the
broker when there is one), the grant table back through `FleetTap.subscribe_traffic`.
"""

from __future__ import annotations

from typing import Any

from robots.robot import Robot
from robots.traffic import TrafficClient, TrafficMap
from sim.fleet_link import FleetTap
from sim.world import World
from telemetry.sinks import TelemetrySink
from telemetry.topics import Channel


def traffic_map_of(world: World) -> TrafficMap:
    graph = world.routes.graph
    nodes = {n: (float(d["pos"][0]), float(d["pos"][1]), int(d["level"])) for n, d in graph.nodes(data=True)}
    groups = {name: sorted(group.nodes) for name, group in world.mutex_groups.items()}
    return TrafficMap.build(nodes, groups, graph.edges())


def attach_traffic(robot: Robot, sink: TelemetrySink, tap: FleetTap, traffic_map: TrafficMap) -> TrafficClient | None:
    """Give `robot` a traffic client (None when the world has no mutex groups)."""
    if traffic_map.empty:
        return None

    def publish(body: dict[str, Any], now_s: float) -> None:
        sink.publish(Channel.TRAFFIC, body, now_s)

    client = TrafficClient(robot.identity.robot_id, traffic_map, publish)
    tap.subscribe_traffic(client.on_table)
    robot.traffic = client
    return client
