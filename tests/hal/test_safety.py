"""Safety supervisor: e-stop on the same tick, latching, watchdog, zone limits, battery reserve."""

from __future__ import annotations

import pytest

from hal.clock import SimClock
from hal.device import DeviceHealth, HealthStatus
from hal.drive_base import DriveBase, Odometry
from hal.geometry import Pose2D, Twist2D
from hal.safety import SafetyConfig, SafetyInputs, SafetySupervisor
from hal.safety_status import SafetyState


class RecordingDrive(DriveBase):
    """Drive base that records every command sent to the motors."""

    def __init__(self, clock: SimClock) -> None:
        super().__init__("base", clock)
        self.sent: list[Twist2D] = []

    def command_velocity(self, twist: Twist2D) -> None:
        self.sent.append(twist)

    def commanded_velocity(self) -> Twist2D:
        return self.sent[-1] if self.sent else Twist2D.zero()

    def odometry(self) -> Odometry:
        return Odometry(Pose2D(0, 0, 0), self.commanded_velocity(), 0.0, self.clock.now_s())

    @property
    def max_speed_mps(self) -> float:
        return 1.5

    def health(self) -> DeviceHealth:
        return self._health(HealthStatus.OK)


class WardMap:
    """Ward (0.5 m/s) for x < 10, corridor (1.2 m/s) beyond; dock 'dock' at the origin."""

    def speed_limit_at_mps(self, x_m: float, y_m: float, level: int = 0) -> float:
        return 0.5 if x_m < 10 else 1.2

    def route_distance_m(self, pose: Pose2D, place: str) -> float:
        assert place == "dock"
        return abs(pose.x_m)


def inputs(*, estop: bool = False, bumper: bool = False, soc: float = 0.9, x_m: float = 20.0) -> SafetyInputs:
    return SafetyInputs(estop, bumper, soc, False, Pose2D(x_m, 0.0, 0.0))


@pytest.fixture
def rig() -> tuple[SimClock, RecordingDrive, SafetySupervisor]:
    clock = SimClock()
    drive = RecordingDrive(clock)
    supervisor = SafetySupervisor(drive, WardMap(), "dock", SafetyConfig(battery_capacity_wh=100.0))
    return clock, drive, supervisor


def test_estop_zeroes_drive_on_the_same_tick_and_blocks_commands(rig):
    clock, drive, sup = rig
    sup.update(clock.now_s(), inputs())
    assert sup.command_velocity(Twist2D(1.0, 0.2)) == Twist2D(1.0, 0.2)
    status = sup.update(clock.now_s(), inputs(estop=True))
    # the very update that saw the button already sent zero, before any mission ran
    assert drive.sent[-1] == Twist2D.zero()
    assert status.state is SafetyState.ESTOP and status.estop_latched
    assert sup.command_velocity(Twist2D(1.0, 0.0)) == Twist2D.zero()
    assert drive.commanded_velocity() == Twist2D.zero()


def test_estop_latches_until_explicit_reset_after_release(rig):
    clock, _drive, sup = rig
    sup.update(clock.now_s(), inputs(estop=True))
    clock.advance(0.1)
    status = sup.update(clock.now_s(), inputs(estop=False))  # button released, still latched
    assert status.state is SafetyState.ESTOP
    assert sup.command_velocity(Twist2D(0.5, 0.0)) == Twist2D.zero()
    ok, why = sup.reset_estop(estop_pressed=True, by="op-7")
    assert not ok and "still pressed" in why
    ok, _ = sup.reset_estop(estop_pressed=False, by="op-7")
    assert ok
    status = sup.update(clock.now_s(), inputs())
    assert status.state is SafetyState.NORMAL
    assert sup.command_velocity(Twist2D(0.5, 0.0)) == Twist2D(0.5, 0.0)


def test_remote_estop_zeroes_at_once(rig):
    clock, drive, sup = rig
    sup.update(clock.now_s(), inputs())
    sup.command_velocity(Twist2D(1.0, 0.0))
    sup.request_remote_estop("op-1")
    assert drive.sent[-1] == Twist2D.zero()
    assert sup.update(clock.now_s(), inputs()).estop_latched


def test_watchdog_stops_a_stale_command(rig):
    clock, drive, sup = rig
    sup.update(clock.now_s(), inputs())
    sup.command_velocity(Twist2D(1.0, 0.0))
    clock.advance(0.4)
    assert sup.update(clock.now_s(), inputs()).state is SafetyState.NORMAL
    assert drive.commanded_velocity() == Twist2D(1.0, 0.0)
    clock.advance(0.2)  # 0.6 s since the last command > 0.5 s timeout
    status = sup.update(clock.now_s(), inputs())
    assert status.state is SafetyState.WATCHDOG_STOP
    assert drive.commanded_velocity() == Twist2D.zero()
    # a fresh command is accepted again
    assert sup.command_velocity(Twist2D(0.3, 0.0)) == Twist2D(0.3, 0.0)


def test_bumper_is_a_protective_stop_that_clears_by_itself(rig):
    clock, _drive, sup = rig
    assert sup.update(clock.now_s(), inputs(bumper=True)).state is SafetyState.PROTECTIVE_STOP
    assert sup.command_velocity(Twist2D(0.5, 0.0)) == Twist2D.zero()
    assert sup.update(clock.now_s(), inputs()).state is SafetyState.NORMAL


def test_zone_speed_limit_is_slower_in_wards(rig):
    clock, _drive, sup = rig
    sup.update(clock.now_s(), inputs(x_m=5.0))
    assert sup.command_velocity(Twist2D(1.0, 0.0)).linear_mps == pytest.approx(0.5)
    assert sup.command_velocity(Twist2D(-1.0, 0.0)).linear_mps == pytest.approx(-0.5)
    sup.update(clock.now_s(), inputs(x_m=50.0))
    assert sup.command_velocity(Twist2D(2.0, 0.0)).linear_mps == pytest.approx(1.2)


def test_battery_reserve_grows_with_distance_to_dock_and_releases_after_charging(rig):
    clock, _drive, sup = rig
    near = sup.reserve_needed_soc_fraction(Pose2D(10.0, 0, 0))
    far = sup.reserve_needed_soc_fraction(Pose2D(200.0, 0, 0))
    assert far > near > 0.15
    # 200 m * 0.05 Wh/m / 100 Wh * 2 = 0.2 on top of the 0.15 floor
    assert far == pytest.approx(0.35)
    assert not sup.update(clock.now_s(), inputs(soc=0.36, x_m=200.0)).battery_reserve_reached
    assert sup.update(clock.now_s(), inputs(soc=0.34, x_m=200.0)).battery_reserve_reached
    # stays reached while charging, until the release level
    assert sup.update(clock.now_s(), inputs(soc=0.6, x_m=0.0)).battery_reserve_reached
    assert not sup.update(clock.now_s(), inputs(soc=0.9, x_m=0.0)).battery_reserve_reached


def test_bad_safety_config_is_rejected():
    with pytest.raises(ValueError, match="watchdog_timeout_s"):
        SafetyConfig(watchdog_timeout_s=0)
