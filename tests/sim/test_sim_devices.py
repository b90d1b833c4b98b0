"""Every simulated device against a tiny world: lifecycle, health, faults, and behaviour."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hal.clock import SimClock
from hal.device import Device, DeviceError, DeviceFault, DeviceNotReady, HealthStatus
from hal.drivers.opencv_tags import CameraTagReader
from hal.geometry import Pose2D, Twist2D
from hal.handle import Handle, HandleStatus
from hal.measurement import MeasuringDevice
from hal.navigator import NavigationGoal
from hal.registry import BuildContext, ConfigError
from sim.devices.drawer import SimDrawer
from sim.devices.drive_base import SimDriveBase
from sim.devices.navigator import SimNavigator
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.world import World, load_world
from tests.device_registry import NURSING_BASE_KINDS, NURSING_MEASURING_KINDS, sim_and_driver_registry

START_S = 1767596400.0
DT = 0.1
MEASURING = {
    "thermometer": 5.0,
    "pulse_oximeter": 15.0,
    "respiration_monitor": 60.0,
    "blood_pressure": 40.0,
    "glucometer": 20.0,
    "scale": 10.0,
}
OTHER_KINDS = list(NURSING_BASE_KINDS)
assert set(MEASURING) == set(NURSING_MEASURING_KINDS)  # a new measuring kind needs its duration here


def write_world(tmp_path: Path) -> World:
    """A 10 × 6 m room split by a wall at x=5 (door at y=3); a dock left, two beds right, and a
    closed store room nobody can reach."""
    data = {
        "name": "Device test ward",
        "walls": [
            {"points": [[0, 0], [10, 0], [10, 6], [0, 6]], "closed": True},
            {"points": [[5, 0], [5, 6]]},
            {"points": [[11, 0], [13, 0], [13, 2], [11, 2]], "closed": True},
        ],
        "zones": [{"name": "ward-x", "tag": "ward", "rect": [5.2, 0.2, 9.8, 5.8], "speed_limit_mps": 0.6}],
        "places": [
            {"name": "dock-1", "x": 1.5, "y": 1.5, "yaw_deg": 0, "kind": "dock"},
            {"name": "bed-1", "x": 8, "y": 4.5, "yaw_deg": 90, "kind": "bed", "ward": "ward-x", "bed_id": "X-01"},
            {"name": "bed-2", "x": 8, "y": 1.5, "yaw_deg": -90, "kind": "bed", "ward": "ward-x", "bed_id": "X-02"},
            {"name": "store", "x": 12, "y": 1, "kind": "storage"},
        ],
        "routes": {
            "waypoints": [{"name": "w-left", "x": 3, "y": 3}, {"name": "w-right", "x": 7, "y": 3}],
            "edges": [["dock-1", "w-left"], ["w-right", "bed-1"], ["w-right", "bed-2"]],
        },
        "doors": [{"name": "door-1", "between": ["w-left", "w-right"], "at": [5, 3], "width_m": 1.2}],
    }
    path = tmp_path / "ward.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_world(path)


class Sim:
    """A tiny world with one robot, its devices built through the registry."""

    def __init__(self, tmp_path: Path, *, start: str = "dock-1", seed: int = 1) -> None:
        self.world = write_world(tmp_path)
        self.clock = SimClock(START_S)
        self.census = PatientCensus(seed, self.world.beds(), START_S)
        self.env = SimEnvironment(self.world, self.census, self.clock, seed)
        self.body = self.env.add_robot("r1", start)
        self.registry = sim_and_driver_registry()
        self.ctx = BuildContext(self.clock, "r1", extras={"sim_env": self.env, "sim_body": self.body})

    def build(self, kind: str, model: str = "sim", name: str | None = None, **fields: Any) -> Any:
        name = name or kind
        device = self.registry.build(
            name, {"kind": kind, "model": model, **fields}, self.ctx, source="robot.yaml", field_path=f"devices.{name}"
        )
        self.ctx.devices[name] = device
        return device

    def tick(self, seconds: float = DT) -> None:
        for _ in range(max(1, round(seconds / DT))):
            self.clock.advance(DT)
            self.env.step(DT)

    def put_at(self, place: str) -> None:
        self.body.pose = self.world.places[place].pose


@pytest.fixture
def sim(tmp_path: Path) -> Sim:
    return Sim(tmp_path)


def wait(sim: Sim, handle: Handle[Any, Any], max_s: float = 120.0) -> HandleStatus:
    waited = 0.0
    while handle.poll() is HandleStatus.RUNNING and waited < max_s:
        sim.tick()
        waited += DT
    return handle.poll()


# -- every device: lifecycle and health ----------------------------------------------------------


@pytest.mark.parametrize("kind", OTHER_KINDS + list(MEASURING))
def test_lifecycle_health_and_faults(sim: Sim, kind: str) -> None:
    device: Device = sim.build(kind)
    assert device.kind == kind
    assert not device.is_open
    assert device.health().status is HealthStatus.STALE
    with device:
        assert device.is_open
        assert device.health().status is HealthStatus.OK
        sim.env.inject_fault("r1", kind, "controller not responding", until_s=START_S + 10.0)
        health = device.health()
        assert health.status is HealthStatus.ERROR and health.reason == "controller not responding"
        assert not health.usable
        sim.tick(11.0)
        assert device.health().status is HealthStatus.OK
    assert not device.is_open
    device.setup()
    device.close()


def test_faults_by_device_name_and_scheduled_windows(sim: Sim) -> None:
    thermometer = sim.build("thermometer", name="temp")
    thermometer.setup()
    sim.env.inject_fault("r1", "temp", "battery flat", from_s=START_S + 5.0)
    assert thermometer.health().status is HealthStatus.OK
    sim.tick(5.2)
    assert thermometer.health().reason == "battery flat"
    sim.env.clear_fault("r1", "temp")
    assert thermometer.health().status is HealthStatus.OK


def test_factories_need_the_simulator(sim: Sim) -> None:
    bare = BuildContext(sim.clock, "r1")
    with pytest.raises(ConfigError, match=r"robot.yaml: devices.base: .*sim devices need a simulator environment"):
        sim.registry.build(
            "base", {"kind": "drive_base", "model": "sim"}, bare, source="robot.yaml", field_path="devices.base"
        )


def test_use_before_setup_raises_not_ready(sim: Sim) -> None:
    base: SimDriveBase = sim.build("drive_base")
    with pytest.raises(DeviceNotReady):
        base.command_velocity(Twist2D(0.1, 0.0))
    with pytest.raises(DeviceNotReady):
        sim.build("thermometer").start_measurement()


# -- motion ----------------------------------------------------------------------------------------


def test_drive_base_commands_the_body_and_reports_odometry(sim: Sim) -> None:
    with sim.build("drive_base", max_speed_mps=0.5) as base:
        assert base.max_speed_mps == 0.5
        base.command_velocity(Twist2D(2.0, 9.0))
        assert base.commanded_velocity() == Twist2D(0.5, 1.5)
        assert sim.body.commanded == Twist2D(0.5, 1.5)
        base.command_velocity(Twist2D(0.3, 0.0))
        sim.tick(2.0)
        odom = base.odometry()
        assert odom.pose == sim.body.pose
        assert odom.distance_travelled_m == pytest.approx(sim.body.distance_travelled_m)
        assert odom.velocity.linear_mps == pytest.approx(0.3)
        sim.env.inject_fault("r1", "drive_base", "motor controller fault")
        base.command_velocity(Twist2D(0.3, 0.0))
        assert sim.body.commanded.is_zero
    assert sim.body.commanded.is_zero  # closing stops the motors


def drive_to(sim: Sim, nav: SimNavigator, base: SimDriveBase, goal: NavigationGoal, max_s: float = 300.0) -> Any:
    """The robot's loop, minus the supervisor: navigator wish → drive base → body."""
    handle = nav.start_go_to(goal)
    t = 0.0
    while handle.poll() is HandleStatus.RUNNING and t < max_s:
        nav.step(sim.clock.now_s())
        wish = nav.velocity_request()
        base.command_velocity(wish or Twist2D.zero())
        sim.tick()
        t += DT
    return handle


def test_navigator_reaches_a_bed_through_the_door(sim: Sim) -> None:
    with sim.build("navigator") as nav, sim.build("drive_base") as base:
        assert "bed-1" in nav.known_places()
        assert nav.velocity_request() is None  # idle
        handle = drive_to(sim, nav, base, NavigationGoal(place="bed-1"))
        assert handle.poll() is HandleStatus.SUCCEEDED, handle.error
        bed = sim.world.places["bed-1"]
        pose = sim.body.pose
        assert math.hypot(pose.x_m - bed.x_m, pose.y_m - bed.y_m) <= 0.25
        assert abs(math.remainder(pose.yaw_rad - bed.yaw_rad, 2 * math.pi)) <= 0.2
        assert handle.result.distance_travelled_m > 6.0
        assert handle.result.duration_s > 0
        assert not sim.body.bumper_contact
        assert nav.velocity_request() == Twist2D.zero()  # the tick it finished: stop
        nav.step(sim.clock.now_s())
        assert nav.velocity_request() is None  # then idle
        assert sim.env.patient_facing(sim.body) is sim.census.patient_at_bed("X-01")


def test_navigator_feedback_counts_down(sim: Sim) -> None:
    with sim.build("navigator") as nav, sim.build("drive_base") as base:
        handle = nav.start_go_to(NavigationGoal(place="bed-2"))
        first = handle.feedback.distance_remaining_m
        for _ in range(100):
            nav.step(sim.clock.now_s())
            base.command_velocity(nav.velocity_request() or Twist2D.zero())
            sim.tick()
        nav.step(sim.clock.now_s())
        assert handle.poll() is HandleStatus.RUNNING
        assert handle.feedback.distance_remaining_m < first - 1.0
        handle.cancel()
        nav.step(sim.clock.now_s())
        assert nav.velocity_request() == Twist2D.zero()
        assert handle.poll() is HandleStatus.CANCELLED


def test_navigator_reaches_a_pose_goal(sim: Sim) -> None:
    with sim.build("navigator") as nav, sim.build("drive_base") as base:
        goal = Pose2D(7.0, 2.5, math.pi)
        handle = drive_to(sim, nav, base, NavigationGoal(pose=goal))
        assert handle.poll() is HandleStatus.SUCCEEDED, handle.error
        assert sim.body.pose.distance_to_m(goal) <= 0.25


def test_navigator_unknown_place_and_no_route(sim: Sim) -> None:
    with sim.build("navigator") as nav:
        with pytest.raises(DeviceError, match=r"unknown place 'bed-9'.*did you mean"):
            nav.start_go_to(NavigationGoal(place="bed-9"))
        handle = nav.start_go_to(NavigationGoal(place="store"))
        assert handle.poll() is HandleStatus.FAILED
        assert "no route to store" in (handle.error or "")
        nav.step(sim.clock.now_s())
        assert nav.velocity_request() is None  # it never started moving


def test_navigator_fails_when_stuck(sim: Sim) -> None:
    sim.body.soc_fraction = 0.0  # flat battery: commanded but not moving
    with sim.build("navigator", stuck_timeout_s=30.0) as nav, sim.build("drive_base") as base:
        handle = drive_to(sim, nav, base, NavigationGoal(place="bed-1"), max_s=60.0)
        assert handle.poll() is HandleStatus.FAILED
        assert (handle.error or "").startswith("stuck: no progress for 30 s")
        assert 30.0 <= sim.clock.now_s() - START_S <= 32.0


def test_navigator_goal_timeout(sim: Sim) -> None:
    with sim.build("navigator", goal_timeout_s=5.0) as nav, sim.build("drive_base") as base:
        handle = drive_to(sim, nav, base, NavigationGoal(place="bed-1"), max_s=20.0)
        assert handle.poll() is HandleStatus.FAILED
        assert "timed out after 5 s" in (handle.error or "")


def test_navigator_new_goal_cancels_the_old_one(sim: Sim) -> None:
    with sim.build("navigator") as nav:
        first = nav.start_go_to(NavigationGoal(place="bed-1"))
        second = nav.start_go_to(NavigationGoal(place="bed-2"))
        assert first.poll() is HandleStatus.CANCELLED
        assert second.poll() is HandleStatus.RUNNING
        nav.cancel()
        assert second.poll() is HandleStatus.CANCELLED


# -- sensors -----------------------------------------------------------------------------------------


def test_battery_estop_and_bumper(sim: Sim) -> None:
    sim.body.soc_fraction = 0.6  # docked below the charger's top-up threshold
    with sim.build("battery") as battery, sim.build("estop") as estop, sim.build("bumper") as bumper:
        sim.tick(1.0)
        state = battery.state()
        assert state.is_charging and state.current_a > 0 and 0 < state.soc_fraction <= 1
        assert 22.0 <= state.voltage_v <= 27.0
        assert not estop.state().pressed
        sim.env.press_estop("r1", source="remote")
        assert estop.state().pressed and estop.state().source == "remote"
        sim.env.release_estop("r1")
        assert not estop.state().pressed
        sim.env.inject_fault("r1", "estop", "relay channel open")
        with pytest.raises(DeviceFault):
            estop.state()
        assert not bumper.state().contact
        sim.body.pose = Pose2D(4.8, 1.0, 0.0)
        sim.body.commanded = Twist2D(0.5, 0.0)
        sim.tick(0.5)
        assert bumper.state().contact
        sim.body.soc_fraction = 0.1
        assert battery.health().status is HealthStatus.WARNING


def test_range_scanner_sees_the_walls(sim: Sim) -> None:
    sim.body.pose = Pose2D(3.0, 1.5, 0.0)
    with sim.build("range_scanner", noise_sigma_m=0.0) as lidar:
        scan = lidar.scan()
        assert len(scan.ranges_m) == 360
        assert scan.range_max_m == 12.0
        ahead = scan.ranges_m[round((0.0 - scan.angle_min_rad) / scan.angle_increment_rad)]
        left = scan.ranges_m[round((math.pi / 2 - scan.angle_min_rad) / scan.angle_increment_rad)]
        assert ahead == pytest.approx(5.0 - 0.1 - 3.0, abs=0.15)  # the dividing wall's face
        assert left == pytest.approx(6.0 - 0.1 - 1.5, abs=0.15)
        assert scan.min_range_m() == pytest.approx(1.5 - 0.1, abs=0.15)
        sim.body.pose = Pose2D(3.0, 3.0, 0.0)  # in line with the door: sees through to the far wall
        assert lidar.scan().ranges_m[180] == pytest.approx(10.0 - 0.1 - 3.0, abs=0.15)


def test_camera_and_opencv_tag_reader_identify_the_faced_patient(sim: Sim) -> None:
    sim.put_at("bed-1")
    camera = sim.build("camera", unreadable_probability=0.0)
    reader = sim.build("tag_reader", model="opencv", name="wristband", camera="camera")
    assert isinstance(reader, CameraTagReader)
    with camera, reader:
        frame = camera.read()
        assert (frame.width_px, frame.height_px) == (640, 480)
        read = reader.read_tag()
        assert read.payload == sim.census.patient_at_bed("X-01").wristband_payload
        assert read.symbology == "qr"
        sim.body.pose = Pose2D(3.0, 3.0, 0.0)  # corridor: nothing to read
        for _ in range(5):
            assert reader.read_tag().payload is None
        assert reader.health().status is HealthStatus.WARNING
        sim.env.inject_fault("r1", "camera", "USB disconnected")
        with pytest.raises(DeviceFault):
            reader.read_tag()
        assert reader.health().status is HealthStatus.ERROR


def test_camera_unreadable_frames(sim: Sim) -> None:
    sim.put_at("bed-2")
    with (
        sim.build("camera", unreadable_probability=1.0) as camera,
        sim.build("tag_reader", model="opencv", camera="camera") as reader,
    ):
        assert camera.read().image_bgr.dtype == np.uint8
        assert reader.read_tag().payload is None


def test_sim_tag_reader_shortcut(sim: Sim) -> None:
    with sim.build("tag_reader", unreadable_probability=0.0) as reader:
        assert reader.read_tag().payload is None
        sim.put_at("bed-2")
        assert reader.read_tag().payload == sim.census.patient_at_bed("X-02").wristband_payload


def test_patient_facing_needs_range_and_heading(sim: Sim) -> None:
    bed = sim.world.places["bed-1"]
    sim.body.pose = bed.pose
    assert sim.env.patient_facing(sim.body) is not None
    sim.body.pose = Pose2D(bed.x_m, bed.y_m, bed.yaw_rad + math.pi)  # back to the bed
    assert sim.env.patient_facing(sim.body) is None
    sim.body.pose = Pose2D(bed.x_m, bed.y_m - 2.0, bed.yaw_rad)  # too far
    assert sim.env.patient_facing(sim.body) is None


def test_rng_streams_are_stable_per_robot_and_device(tmp_path: Path) -> None:
    a = Sim(tmp_path, seed=5).env
    b = Sim(tmp_path, seed=5).env
    c = Sim(tmp_path, seed=6).env
    draw = a.rng_for("r1", "camera").random()
    assert draw == b.rng_for("r1", "camera").random()
    assert draw != c.rng_for("r1", "camera").random()
    assert draw != b.rng_for("r1", "lidar").random()
    assert a.rng_for("r1", "camera") is a.rng_for("r1", "camera")


# -- people --------------------------------------------------------------------------------------


def test_speaker_and_drawer(sim: Sim) -> None:
    with sim.build("speaker") as speaker:
        speaker.say("Good morning", language="en")
        assert [u.text for u in speaker.history()] == ["Good morning"]
    drawer: SimDrawer = sim.build("drawer", drawer_ids=["meds"])
    with drawer:
        assert drawer.drawer_ids() == ["meds"]
        assert drawer.state("meds").locked
        with pytest.raises(DeviceError, match="locked"):
            drawer.open_drawer("meds")
        with pytest.raises(DeviceError, match="unknown drawer"):
            drawer.unlock("x", authorised_by="badge-1")
        drawer.unlock("meds", authorised_by="badge-1")
        drawer.open_drawer("meds", by="badge-1")
        with pytest.raises(DeviceError, match="close it before locking"):
            drawer.lock("meds")
        drawer.close_drawer("meds")
        drawer.lock("meds")
        assert [e.action for e in drawer.log] == ["unlock", "open", "close", "lock"]


def test_voice_inquiry_follows_consciousness(sim: Sim) -> None:
    with sim.build("voice_inquiry") as inquiry:
        handle = inquiry.start_inquiry("How are you feeling today?")
        assert handle.poll() is HandleStatus.FAILED and handle.error == "no patient in front of the robot"
        sim.put_at("bed-1")
        handle = inquiry.start_inquiry("How are you feeling today?")
        assert handle.poll() is HandleStatus.RUNNING
        sim.tick(3.0)
        assert handle.poll() is HandleStatus.RUNNING
        sim.tick(1.5)
        assert handle.poll() is HandleStatus.SUCCEEDED
        expected = sim.census.patient_at_bed("X-01").vitals_at(START_S).consciousness
        assert expected == "alert"
        assert handle.result.answered and handle.result.coherent


# -- vitals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "duration_s"), MEASURING.items())
def test_measurement_takes_its_time_and_reads_the_patient(sim: Sim, kind: str, duration_s: float) -> None:
    sim.put_at("bed-2")
    device: MeasuringDevice[Any] = sim.build(kind, failure_probability=0.0)
    with device:
        handle = device.start_measurement()
        assert handle.poll() is HandleStatus.RUNNING
        assert handle.feedback
        sim.tick(duration_s - 0.5)
        assert handle.poll() is HandleStatus.RUNNING
        sim.tick(0.6)
        assert handle.poll() is HandleStatus.SUCCEEDED
        reading: Any = handle.result
        truth = sim.census.patient_at_bed("X-02").vitals_at(reading.stamp_s)
        if kind == "thermometer":
            assert reading.temperature_c == pytest.approx(truth.temperature_c, abs=0.5)
            assert reading.temperature_c == round(reading.temperature_c, 1)
        elif kind == "pulse_oximeter":
            assert isinstance(reading.spo2_percent, int) and isinstance(reading.pulse_bpm, int)
            assert abs(reading.spo2_percent - truth.spo2_percent) <= 4
        elif kind == "blood_pressure":
            assert isinstance(reading.systolic_mmhg, int)
            assert abs(reading.systolic_mmhg - truth.systolic_bp_mmhg) <= 16
            assert reading.diastolic_mmhg < reading.mean_arterial_mmhg < reading.systolic_mmhg
        elif kind == "respiration_monitor":
            assert abs(reading.respiration_rate_per_min - truth.respiration_rate_per_min) <= 4
        elif kind == "glucometer":
            assert reading.glucose_mmol_per_l == pytest.approx(truth.glucose_mmol_per_l, rel=0.25)
        else:
            assert reading.weight_kg == pytest.approx(sim.census.patient_at_bed("X-02").weight_kg, abs=1.0)


@pytest.mark.parametrize("kind", list(MEASURING))
def test_measurement_fails_without_a_patient_or_with_a_fault(sim: Sim, kind: str) -> None:
    device: MeasuringDevice[Any] = sim.build(kind, failure_probability=0.0)
    with device:
        handle = device.start_measurement()
        assert handle.poll() is HandleStatus.FAILED
        assert handle.error == "no patient in front of the robot"
        assert handle.result is None
        sim.put_at("bed-1")
        sim.env.inject_fault("r1", kind, "sensor fault E42")
        handle = device.start_measurement()
        assert handle.poll() is HandleStatus.FAILED
        assert handle.error == "device fault: sensor fault E42"


@pytest.mark.parametrize(("kind", "reason"), [("pulse_oximeter", "probe off"), ("blood_pressure", "cuff leak")])
def test_measurement_random_failures_name_their_reason(sim: Sim, kind: str, reason: str) -> None:
    sim.put_at("bed-1")
    with sim.build(kind, failure_probability=1.0) as device:
        handle = device.start_measurement()
        assert wait(sim, handle) is HandleStatus.FAILED
        assert handle.error == reason


def test_measurement_cancel(sim: Sim) -> None:
    sim.put_at("bed-1")
    with sim.build("blood_pressure", failure_probability=0.0) as nibp:
        handle = nibp.start_measurement()
        handle.cancel()
        sim.tick(45.0)
        assert handle.poll() is HandleStatus.CANCELLED
        assert handle.result is None
