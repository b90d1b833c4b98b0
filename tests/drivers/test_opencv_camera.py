"""OpenCV camera: a real video file through cv2.VideoCapture, and a scripted capture for the
failure modes (open failure, dropped connection, frozen picture, backoff)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from hal.clock import SimClock
from hal.device import DeviceError, HealthStatus
from hal.drivers.opencv_camera import CameraReadTimeout, CameraUnavailable, OpenCvCamera, OpenCvCameraConfig


def write_video(path: Path, n_frames: int = 6) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(n_frames):
        image = np.full((48, 64, 3), 20 * i, dtype=np.uint8)
        writer.write(image)
    writer.release()
    return path


def test_reads_a_video_file_then_reports_the_end_and_reconnects(tmp_path: Path) -> None:
    clock = SimClock()
    cam = OpenCvCamera("cam", clock, OpenCvCameraConfig(source=str(write_video(tmp_path / "v.avi"))))
    cam.setup()
    frames = [cam.read() for _ in range(6)]
    assert frames[0].width_px == 64 and frames[0].height_px == 48
    with pytest.raises(CameraReadTimeout):
        cam.read()
    assert cam.health().status is HealthStatus.ERROR
    with pytest.raises(CameraUnavailable):  # within the backoff: no new attempt
        cam.read()
    clock.advance(1.1)
    assert cam.read().width_px == 64 and cam.connects == 2
    cam.close()


def test_loop_file_keeps_delivering(tmp_path: Path) -> None:
    clock = SimClock()
    cam = OpenCvCamera("cam", clock, OpenCvCameraConfig(source=str(write_video(tmp_path / "v.avi", 3)),
                                                        loop_file=True))
    cam.setup()
    for _ in range(10):
        cam.read()
    assert cam.frames_read == 10 and cam.health().status is HealthStatus.OK


class ScriptedCapture:
    def __init__(self, frames: list[Any], opened: bool = True) -> None:
        self.frames = frames
        self.opened = opened
        self.released = False

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, Any]:
        if not self.frames:
            return False, None
        return True, self.frames.pop(0)

    def set(self, prop: int, value: float) -> bool:
        return True

    def release(self) -> None:
        self.released = True


def test_open_failure_backs_off_exponentially() -> None:
    clock = SimClock()
    attempts: list[float] = []

    def factory(source: int | str, open_s: float, read_s: float) -> ScriptedCapture:
        attempts.append(clock.now_s())
        return ScriptedCapture([], opened=False)

    cam = OpenCvCamera("cam", clock, OpenCvCameraConfig(source="rtsp://cam.local/stream"), capture_factory=factory)
    cam.setup()
    for _ in range(80):
        with pytest.raises(DeviceError):
            cam.read()
        clock.advance(0.25)
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert gaps[:4] == pytest.approx([1.0, 2.0, 4.0, 8.0], abs=0.26)
    assert cam.health().status is HealthStatus.ERROR


def test_frozen_and_stale_pictures_are_reported() -> None:
    clock = SimClock()
    still = np.zeros((8, 8, 3), dtype=np.uint8)
    cam = OpenCvCamera("cam", clock, OpenCvCameraConfig(source="0", frozen_after_frames=5),
                       capture_factory=lambda s, o, r: ScriptedCapture([still.copy() for _ in range(10)]))
    cam.setup()
    for _ in range(6):
        cam.read()
    assert cam.health().status is HealthStatus.WARNING
    clock.advance(3.0)
    assert cam.health().status is HealthStatus.STALE


def test_registered_as_camera_opencv() -> None:
    from hal.drivers import register
    from hal.registry import BuildContext, DeviceRegistry

    registry = DeviceRegistry()
    register(registry)
    device = registry.build("camera", {"kind": "camera", "model": "opencv", "source": "0"},
                            BuildContext(SimClock(), "r1"), source="test", field_path="devices.camera")
    assert isinstance(device, OpenCvCamera) and device.source == 0
