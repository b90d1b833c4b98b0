"""The security robot's simulated devices: readings agree with the seeded world, faults surface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from security_rig import ROBOT, SecurityRig

from hal.camera import Camera
from hal.device import DeviceError, DeviceNotReady, HealthStatus
from hal.siren import SirenPattern
from hal.thermal_camera import ThermalCamera
from sim.security_world import HazardKind


@pytest.fixture
def rig(tmp_path: Path) -> SecurityRig:
    return SecurityRig(tmp_path, hour=10.0, start="kitchen")


def test_kinds_and_models_come_from_the_security_yaml(rig: SecurityRig) -> None:
    kinds = {d.name: d.kind for d in rig.robot.devices}
    assert kinds["thermal"] == kinds["thermal_rear"] == "thermal_camera"
    assert {kinds["air"], kinds["leak"], kinds["siren"], kinds["camera"]} == {"air_quality", "leak_sensor", "siren",
                                                                              "camera"}
    assert isinstance(rig.robot.devices.camera, Camera)
    assert rig.robot.devices.find(ThermalCamera, "thermal_rear") is not None


def test_the_scene_stands_still_while_the_robot_does(rig: SecurityRig) -> None:
    camera = rig.robot.devices.camera
    assert camera is not None
    a, b = camera.read().image_bgr, camera.read().image_bgr
    assert a.shape == (240, 320, 3) and float(np.abs(a.astype(int) - b.astype(int)).mean()) < 6.0
    rig.body.distance_travelled_m += 2.0  # as if it had driven on
    c = camera.read().image_bgr
    assert float(np.abs(a.astype(int) - c.astype(int)).mean()) > 10.0


def test_sensors_agree_with_the_seeded_hazards(rig: SecurityRig) -> None:
    air, leak, thermal = rig.device("air"), rig.device("leak"), rig.device("thermal")
    assert air.read().smoke_obscuration_pct_per_m < 0.5 and not leak.read().wet
    assert 18.0 < thermal.read().median_c < 24.0 and thermal.read().max_c < 40.0
    rig.hazard(HazardKind.FIRE, "kitchen")
    rig.hazard(HazardKind.WATER_LEAK, "kitchen")
    reading = air.read()
    assert reading.smoke_obscuration_pct_per_m > 5.0 and reading.co_ppm > 30.0
    assert leak.read().wet and leak.read().moisture_fraction > 0.9
    assert thermal.read().max_c > 150.0


def test_siren_sounds_for_its_duration_then_falls_silent(rig: SecurityRig) -> None:
    siren = rig.device("siren")
    siren.sound(SirenPattern.FIRE, duration_s=2.0)
    assert siren.state().sounding and siren.state().beacon_on
    for _ in range(11):
        rig.tick()
    assert not siren.state().sounding and siren.state().pattern is None


@pytest.mark.parametrize("name", ["camera", "thermal", "thermal_rear", "air", "leak", "siren"])
def test_an_injected_fault_raises_and_shows_in_health(rig: SecurityRig, name: str) -> None:
    device = rig.device(name)
    rig.env.inject_fault(ROBOT, name, "broken in test")
    assert device.health().status is HealthStatus.ERROR
    with pytest.raises(DeviceError, match="broken in test"):
        device.sound(SirenPattern.ALERT) if name == "siren" else device.read()
    device.close()
    with pytest.raises(DeviceNotReady):
        device.sound(SirenPattern.ALERT) if name == "siren" else device.read()
