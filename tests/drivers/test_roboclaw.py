"""RoboClaw packet serial: CRC, packets, odometry from encoders, watchdog, faults, over a real pty
against the emulator driving a simulated body."""

from __future__ import annotations

import contextlib
import math
import struct
import time
from collections.abc import Iterator, Sequence
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.clock import SimClock
from hal.device import HealthStatus
from hal.drivers.roboclaw import (
    RoboClawConfig,
    RoboClawDriveBase,
    RoboClawError,
    RoboClawFault,
    check_reply,
    crc16,
    packet,
)
from hal.geometry import Pose2D, Twist2D
from sim.body import SimBody
from sim.emulators.roboclaw import RoboClawEmulator


class _OpenGrid:
    def is_free(self, x_m: float, y_m: float) -> bool:
        return True


class _OpenWorld:
    grids: ClassVar[dict[int, _OpenGrid]] = {0: _OpenGrid()}  # a body moves on its own level's grid

    def docks(self) -> Sequence[Pose2D]:
        return []


class Rig:
    def __init__(self) -> None:
        self.clock = SimClock()
        self.world = _OpenWorld()
        self.body = SimBody("r1", Pose2D(0.0, 0.0, 0.0))
        self.emulator = RoboClawEmulator(self.clock, self.body, np.random.default_rng(3))
        self.drive = RoboClawDriveBase("base", self.clock, RoboClawConfig(port=self.emulator.port_url),
                                       pump=self.emulator.service)
        self.drive.setup()

    def tick(self, twist: Twist2D | None, n: int = 1, dt_s: float = 0.1) -> None:
        for _ in range(n):
            if twist is not None:
                self.drive.command_velocity(twist)
            self.drive.odometry()
            self.clock.advance(dt_s)
            self.body.integrate(dt_s, self.world)
            self.emulator.service()

    def close(self) -> None:
        self.drive.close()
        self.emulator.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


def test_crc16_is_ccitt_xmodem() -> None:
    assert crc16(b"123456789") == 0x31C3
    assert packet(0x80, 37, struct.pack(">ii", 1, -1))[-2:] == struct.pack(
        ">H", crc16(bytes([0x80, 37]) + struct.pack(">ii", 1, -1)))


def test_setup_arms_the_controller_watchdog_and_resets_encoders(rig: Rig) -> None:
    assert rig.emulator.serial_timeout_s == pytest.approx(0.5)
    assert rig.emulator.encoder_counts() == (0, 0)


def test_velocity_commands_move_the_body_and_encoder_odometry_follows(rig: Rig) -> None:
    rig.tick(Twist2D(0.5, 0.3), n=60)
    rig.tick(Twist2D(0.0, 0.0), n=20)
    odom = rig.drive.odometry()
    body = rig.body.pose
    assert math.hypot(body.x_m, body.y_m) > 1.0
    assert odom.pose.x_m == pytest.approx(body.x_m, abs=0.02)
    assert odom.pose.y_m == pytest.approx(body.y_m, abs=0.02)
    assert odom.pose.yaw_rad == pytest.approx(body.yaw_rad, abs=0.01)
    assert odom.distance_travelled_m == pytest.approx(rig.body.distance_travelled_m, rel=0.02)
    assert rig.drive.health().status is HealthStatus.OK


def test_commands_are_clamped_and_reported(rig: Rig) -> None:
    rig.tick(Twist2D(5.0, -9.0))
    assert rig.drive.commanded_velocity() == Twist2D(1.0, -1.5)


def test_controller_watchdog_stops_the_body_when_commands_stop(rig: Rig) -> None:
    rig.tick(Twist2D(0.5, 0.0), n=5)
    assert not rig.body.commanded.is_zero
    rig.clock.advance(0.6)  # the robot hangs: no packet for longer than the serial timeout
    rig.emulator.service()
    assert rig.body.commanded.is_zero and rig.emulator.watchdog_trips == 1


def test_error_status_is_reported_in_health_and_as_a_typed_fault(rig: Rig) -> None:
    rig.emulator.error_status = 0x0040 | 0x0001
    rig.clock.advance(1.1)
    rig.tick(Twist2D(0.5, 0.0))
    health = rig.drive.health()
    assert health.status is HealthStatus.ERROR and "e-stop" in health.reason and "M1 driver fault" in health.reason
    with pytest.raises(RoboClawFault):
        rig.drive.raise_on_fault()
    assert rig.body.commanded.is_zero


def test_a_corrupt_reply_is_rejected_and_the_next_one_recovers(rig: Rig) -> None:
    rig.tick(Twist2D(0.5, 0.0), n=10)
    before = rig.drive.odometry()
    rig.emulator.corrupt_replies = 1
    rig.clock.advance(0.1)
    stale = rig.drive.odometry()
    assert rig.drive.crc_errors == 1 and stale.stamp_s == before.stamp_s
    assert rig.drive.health().status is HealthStatus.ERROR
    rig.clock.advance(0.1)
    fresh = rig.drive.odometry()
    assert fresh.stamp_s > before.stamp_s and rig.drive.health().status is HealthStatus.OK


def test_a_silent_controller_costs_one_bounded_wait_per_retry_period(rig: Rig) -> None:
    rig.emulator.silent = True
    wall = time.monotonic()
    rig.tick(Twist2D(0.3, 0.0), n=9)  # 0.9 s: one timeout, then no retries until 1 s has passed
    assert time.monotonic() - wall < 0.5
    assert rig.drive.timeouts == 1
    assert rig.drive.health().status is HealthStatus.ERROR
    rig.emulator.silent = False
    rig.tick(Twist2D(0.3, 0.0), n=3)
    assert rig.drive.health().status is HealthStatus.OK


def test_port_disappears_and_comes_back(rig: Rig) -> None:
    rig.tick(Twist2D(0.3, 0.0), n=3)
    rig.emulator.pty.unplug()
    rig.tick(Twist2D(0.3, 0.0), n=3)  # never raises into the tick
    assert rig.drive.health().status is HealthStatus.ERROR
    rig.emulator.pty.replug()
    rig.tick(Twist2D(0.3, 0.0), n=40)
    assert rig.drive.health().status is HealthStatus.OK and rig.drive.port.connects == 2


@settings(max_examples=200, deadline=None)
@given(address=st.integers(0x80, 0x87), command=st.integers(0, 255), data=st.binary(max_size=16))
def test_packet_round_trip(address: int, command: int, data: bytes) -> None:
    assert check_reply(address, command, packet(address, command, data)[2:]) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=20))
def test_arbitrary_replies_raise_only_roboclaw_errors(reply: bytes) -> None:
    with contextlib.suppress(RoboClawError):
        check_reply(0x80, 78, reply)
