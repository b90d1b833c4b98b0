"""Simulated interview recorder: synthetic frames encoded by OpenCV's `VideoWriter` (MJPG in
AVI, which works headless) and a synthetic PCM audio stream, cut into segments on the clock.

Segments are rendered when `take_segments()` is called for the time that has passed, so nothing
runs between ticks. The uplink is down while a fault named `"<device name>.uplink"` (or
`"uplink"`) is active; a fault by the device's name breaks the recorder itself.
"""

from __future__ import annotations

import os
import tempfile

import cv2
import numpy as np

from hal.clock import Clock, iso_utc
from hal.device import DeviceError, DeviceHealth
from hal.recorder import RecordedSegment, Recorder, UplinkState, make_segment
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment


class SimRecorderConfig(DeviceConfig):
    width_px: int = 160
    height_px: int = 120
    fps: float = 1.0  # enough to show who is there and what happens, small enough for a long day
    audio_rate_hz: int = 8000  # telephone-quality speech


class SimRecorder(Recorder):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimRecorderConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self._segment_s = 30.0
        self._segment_start_s: float | None = None
        self._index = 0
        self._ready: list[RecordedSegment] = []
        self.segments_made = 0

    @property
    def recording(self) -> bool:
        return self._segment_start_s is not None

    def start_recording(self, *, segment_s: float, first_index: int = 0) -> None:
        self._require_open()
        self.sim.raise_on_fault()
        if self.recording:
            raise DeviceError(self.name, "already recording")
        if segment_s <= 0:
            raise ValueError(f"segment_s must be positive, got {segment_s}")
        self._segment_s = segment_s
        self._segment_start_s = self.clock.now_s()
        self._index = first_index

    def stop_recording(self) -> None:
        if self._segment_start_s is None:
            return
        self._catch_up()
        now_s = self.clock.now_s()
        if now_s > self._segment_start_s:
            self._finish(self._segment_start_s, now_s)
        self._segment_start_s = None

    def take_segments(self) -> list[RecordedSegment]:
        if self._segment_start_s is not None:
            fault = self.sim.fault()
            if fault is not None:
                self._segment_start_s = None  # the recording stopped with the device
                raise DeviceError(self.name, f"recording stopped: {fault}")
            self._catch_up()
        ready, self._ready = self._ready, []
        return ready

    def uplink(self) -> UplinkState:
        now_s = self.clock.now_s()
        env, rid = self.sim.env, self.sim.robot_id
        reason = None
        if env.has_faults(rid):
            reason = env.fault_for(rid, f"{self.name}.uplink", now_s) or env.fault_for(rid, "uplink", now_s)
        return UplinkState(reason is None, reason or "", now_s)

    def health(self) -> DeviceHealth:
        return self.sim.health()

    def close(self) -> None:
        # the device goes away with whatever it had not handed over (a process death loses it too)
        self._segment_start_s = None
        self._ready = []
        super().close()

    # -- rendering ------------------------------------------------------------------------------

    def _catch_up(self) -> None:
        assert self._segment_start_s is not None
        while self.clock.now_s() >= self._segment_start_s + self._segment_s:
            end_s = self._segment_start_s + self._segment_s
            self._finish(self._segment_start_s, end_s)
            self._segment_start_s = end_s

    def _finish(self, start_s: float, end_s: float) -> None:
        rng = self.sim.rng()
        video = self._encode_video(start_s, end_s, rng)
        n_samples = round((end_s - start_s) * self.config.audio_rate_hz)
        # speech-like: noise under a slow envelope (syllables), 16-bit little endian
        t = np.arange(n_samples) / self.config.audio_rate_hz
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t + float(rng.uniform(0, 6.28)))
        audio = (rng.normal(0.0, 2000.0, n_samples) * envelope).astype("<i2").tobytes()
        self._ready.append(make_segment(self._index, start_s, end_s, video, audio, self.config.audio_rate_hz))
        self._index += 1
        self.segments_made += 1

    def _encode_video(self, start_s: float, end_s: float, rng: np.random.Generator) -> bytes:
        cfg = self.config
        n_frames = max(1, int((end_s - start_s) * cfg.fps))
        fd, path = tempfile.mkstemp(prefix="medbot-segment-", suffix=".avi")
        os.close(fd)
        try:
            writer = cv2.VideoWriter(path, cv2.VideoWriter.fourcc(*"MJPG"), cfg.fps, (cfg.width_px, cfg.height_px))
            if not writer.isOpened():
                raise DeviceError(self.name, "video encoder (MJPG) unavailable")
            base = rng.integers(60, 120, size=(cfg.height_px, cfg.width_px, 3), dtype=np.uint8)
            for k in range(n_frames):
                frame = base.copy()
                cv2.putText(frame, iso_utc(start_s + k / cfg.fps)[11:19], (4, cfg.height_px - 8),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
                writer.write(frame)
            writer.release()
            with open(path, "rb") as f:
                return f.read()
        finally:
            os.unlink(path)


def build(name: str, config: SimRecorderConfig, ctx: BuildContext) -> SimRecorder:
    env, body = sim_context(ctx)
    return SimRecorder(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("recorder", "sim", SimRecorderConfig, build)
