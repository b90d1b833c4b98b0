"""Camera on `cv2.VideoCapture`: a device index, a video file or a stream URL (RTSP, HTTP).

Bounded: streams are opened through FFmpeg with open and read timeouts
(`CAP_PROP_OPEN_TIMEOUT_MSEC`, `CAP_PROP_READ_TIMEOUT_MSEC`), so neither a dead camera nor a
stalled stream can hang a tick for longer than that. A failed open or read releases the capture
and schedules a reconnect with exponential backoff on the injected clock; `read()` raises a
typed `DeviceError` meanwhile. Health reports a dropped connection (ERROR), frames older than
`stale_after_s` (STALE) and a frozen picture — the same image `frozen_after_frames` times in a
row, what a hung encoder or a stuck RTSP relay delivers (WARNING).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from hal.camera import Camera, Frame
from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth, DeviceTimeout, HealthStatus
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry

CaptureFactory = Callable[[int | str, float, float], Any]


class CameraError(DeviceError):
    """Base of the OpenCV camera's errors."""


class CameraUnavailable(CameraError):
    """The source cannot be opened (or is between reconnect attempts)."""


class CameraReadTimeout(CameraError, DeviceTimeout):
    """The capture returned no frame (dropped connection, end of stream, read timeout)."""


def open_capture(source: int | str, open_timeout_s: float, read_timeout_s: float) -> Any:
    """The default factory: FFmpeg with timeouts for URLs and files, the default backend for
    device indices."""
    if isinstance(source, int):
        return cv2.VideoCapture(source)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000),
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(read_timeout_s * 1000)]
    return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)


def parse_source(source: str) -> int | str:
    """"0" → device index 0; anything else is a path or URL."""
    return int(source) if source.isdigit() else source


class OpenCvCameraConfig(DeviceConfig):
    source: str  # "0" (device index), "/path/video.mp4", "rtsp://host/stream"
    open_timeout_s: float = 5.0
    read_timeout_s: float = 2.0
    loop_file: bool = False  # rewind a video file at its end (simulation, demos)
    stale_after_s: float = 2.0
    frozen_after_frames: int = 30
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 60.0
    frame_id: str = "camera"


class OpenCvCamera(Camera):
    def __init__(self, name: str, clock: Clock, config: OpenCvCameraConfig, *,
                 capture_factory: CaptureFactory = open_capture) -> None:
        super().__init__(name, clock)
        self.config = config
        self.source = parse_source(config.source)
        self._factory = capture_factory
        self._cap: Any = None
        self._backoff_s = config.reconnect_initial_s
        self._next_attempt_s = float("-inf")
        self.last_error: str | None = None
        self.last_frame_s: float | None = None
        self._last_signature: int | None = None
        self.repeated_frames = 0
        self.connects = 0
        self.frames_read = 0

    @property
    def connected(self) -> bool:
        return self._cap is not None

    def setup(self) -> None:
        super().setup()
        self._try_connect()

    def close(self) -> None:
        self._release()
        super().close()

    def read(self) -> Frame:
        self._require_open()
        if self._cap is None and not self._try_connect():
            raise CameraUnavailable(self.name, self.last_error or "not connected")
        ok, image = self._cap.read()
        if not ok and self.config.loop_file and isinstance(self.source, str):
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._cap.read()
        if not ok or image is None:
            self._lost("no frame (connection dropped, end of stream or read timeout)")
            raise CameraReadTimeout(self.name, self.last_error or "no frame")
        image = np.asarray(image, dtype=np.uint8)
        if image.ndim == 2:
            image = np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        signature = zlib.crc32(np.ascontiguousarray(image[::8, ::8]).tobytes())
        self.repeated_frames = self.repeated_frames + 1 if signature == self._last_signature else 0
        self._last_signature = signature
        now_s = self.clock.now_s()
        self.last_frame_s = now_s
        self.frames_read += 1
        self.last_error = None
        return Frame(image, now_s, self.config.frame_id)

    def health(self) -> DeviceHealth:
        if not self.is_open:
            return self._health(HealthStatus.STALE, "not set up")
        if self._cap is None:
            return self._health(HealthStatus.ERROR, f"disconnected: {self.last_error or 'not connected'}")
        now_s = self.clock.now_s()
        if self.last_frame_s is not None and now_s - self.last_frame_s > self.config.stale_after_s:
            return self._health(HealthStatus.STALE, f"last frame {now_s - self.last_frame_s:.1f} s ago")
        if self.repeated_frames >= self.config.frozen_after_frames:
            return self._health(HealthStatus.WARNING, f"picture frozen for {self.repeated_frames} frames")
        return self._health(HealthStatus.OK)

    def _try_connect(self) -> bool:
        now_s = self.clock.now_s()
        if now_s < self._next_attempt_s:
            return False
        try:
            cap = self._factory(self.source, self.config.open_timeout_s, self.config.read_timeout_s)
            opened = bool(cap is not None and cap.isOpened())
        except cv2.error as exc:
            cap, opened = None, False
            self.last_error = f"open failed: {exc}"
        if not opened:
            if cap is not None:
                cap.release()
            self._schedule_retry(self.last_error or f"cannot open {self.config.source}")
            return False
        self._cap = cap
        self.connects += 1
        self._backoff_s = self.config.reconnect_initial_s
        self.last_error = None
        return True

    def _schedule_retry(self, reason: str) -> None:
        self.last_error = reason
        self._next_attempt_s = self.clock.now_s() + self._backoff_s
        self._backoff_s = min(self.config.reconnect_max_s, self._backoff_s * 2)

    def _lost(self, reason: str) -> None:
        self._release()
        self._schedule_retry(reason)

    def _release(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


def build(name: str, config: OpenCvCameraConfig, ctx: BuildContext) -> OpenCvCamera:
    return OpenCvCamera(name, ctx.clock, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("camera", "opencv", OpenCvCameraConfig, build)
