"""The OpenCV tag reader: real decoding of simulated wristband frames, and its health."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from hal.camera import Camera, Frame
from hal.clock import SimClock
from hal.device import DeviceFault, DeviceHealth, HealthStatus
from hal.drivers.opencv_tags import CameraTagReader, TagDecoder, decode_tags
from sim.wristband import render_corridor_frame, render_wristband_frame

N_FRAMES = 40


def payload(i: int) -> str:
    return f"MEDBOT-PT:pt-{(i * 2654435761) & 0xFFFFFF:06x}"


def test_wristband_frames_decode_with_the_real_detector() -> None:
    decoded = 0
    for i in range(N_FRAMES):
        rng = np.random.default_rng([2026, i])
        frame = render_wristband_frame(payload(i), rng)
        assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
        found = decode_tags(frame)
        assert found in ([], [payload(i)])  # never a wrong payload
        decoded += found == [payload(i)]
    assert decoded / N_FRAMES >= 0.9, f"decoded {decoded}/{N_FRAMES}"


def test_occluded_wristbands_never_decode() -> None:
    for i in range(N_FRAMES):
        rng = np.random.default_rng([2027, i])
        assert decode_tags(render_wristband_frame(payload(i), rng, occluded=True)) == []


def test_corridor_frames_have_no_codes() -> None:
    for i in range(5):
        assert decode_tags(render_corridor_frame(np.random.default_rng(i))) == []


def test_frames_are_deterministic_for_a_seed() -> None:
    a = render_wristband_frame("MEDBOT-PT:pt-000001", np.random.default_rng(3))
    b = render_wristband_frame("MEDBOT-PT:pt-000001", np.random.default_rng(3))
    c = render_wristband_frame("MEDBOT-PT:pt-000001", np.random.default_rng(4))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unknown_symbology_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown symbologies \['datamatrix'\] \(accepted: qr, barcode\)"):
        TagDecoder(["qr", "datamatrix"])
    assert TagDecoder(["qr", "barcode"]).decode(render_corridor_frame(np.random.default_rng(0))) == []


class ScriptedCamera(Camera):
    """A camera fed by the test: frames in order; None means 'raise a fault'."""

    def __init__(self, clock: SimClock, frames: list[npt.NDArray[np.uint8] | None]) -> None:
        super().__init__("camera", clock)
        self.frames = frames
        self.broken = False

    def read(self) -> Frame:
        self._require_open()
        image = self.frames.pop(0)
        if image is None:
            raise DeviceFault(self.name, "USB disconnected")
        return Frame(image, self.clock.now_s())

    def health(self) -> DeviceHealth:
        return self._health(HealthStatus.ERROR if self.broken else HealthStatus.OK, "broken" if self.broken else "")


def test_camera_tag_reader_reads_and_warns_after_consecutive_failures() -> None:
    clock = SimClock()
    rng = np.random.default_rng(11)
    good = render_wristband_frame("MEDBOT-PT:pt-abcdef", rng)
    blank = render_corridor_frame(rng)
    camera = ScriptedCamera(clock, [good, blank, blank, blank, good, None])
    reader = CameraTagReader("wristband", clock, camera, warn_after_failures=3)
    assert reader.health().status is HealthStatus.STALE
    with camera, reader:
        read = reader.read_tag()
        assert read.payload == "MEDBOT-PT:pt-abcdef" and read.symbology == "qr"
        assert read.stamp_s == clock.now_s()
        for _ in range(2):
            assert reader.read_tag().payload is None
        assert reader.health().status is HealthStatus.OK
        assert reader.read_tag().payload is None
        health = reader.health()
        assert health.status is HealthStatus.WARNING and "3 consecutive" in health.reason
        assert reader.read_tag().payload is not None
        assert reader.health().status is HealthStatus.OK
        with pytest.raises(DeviceFault, match="USB disconnected"):
            reader.read_tag()
        assert reader.health().status is HealthStatus.ERROR
        camera.broken = True
        assert reader.health().reason == "camera camera: broken"
