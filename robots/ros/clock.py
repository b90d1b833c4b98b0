"""A `Clock` backed by ROS time, so `use_sim_time` and `/clock` drive the robot's deadlines."""

from __future__ import annotations

from typing import Protocol

from hal.clock import Clock


class _RosTimeSource(Protocol):
    """What we need of an `rclpy.clock.Clock` (kept structural so this module has no rclpy import)."""

    def now(self) -> _RosTime: ...


class _RosTime(Protocol):
    @property
    def nanoseconds(self) -> int: ...


class RosClock(Clock):
    """Seconds since the epoch from the node's ROS clock.

    Missions arm deadlines on this clock, so it never runs backwards: a simulator restarting its
    `/clock` would otherwise make every armed deadline wait for hours. Zero means ROS time has not
    started yet (`use_sim_time` before the first `/clock` message): see `started`.
    """

    def __init__(self, source: _RosTimeSource) -> None:
        self._source = source
        self._last_s = 0.0

    def now_s(self) -> float:
        now_s = self._source.now().nanoseconds / 1e9
        if now_s > self._last_s:
            self._last_s = now_s
        return self._last_s

    @property
    def started(self) -> bool:
        return self.now_s() > 0.0
