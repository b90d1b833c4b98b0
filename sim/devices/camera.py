"""Simulated camera: the faced patient's wristband (now and then unreadable), else a corridor."""

from __future__ import annotations

from hal.camera import Camera, Frame
from hal.clock import Clock
from hal.device import DeviceHealth
from hal.registry import BuildContext, DeviceConfig
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.wristband import render_corridor_frame, render_wristband_frame


class SimCameraConfig(DeviceConfig):
    width_px: int = 640
    height_px: int = 480
    blur_sigma_px: float = 1.0
    noise_sigma: float = 4.0
    unreadable_probability: float = 0.05  # per frame: band turned away, sheet over it
    max_patient_distance_m: float = 1.5
    frame_id: str = "camera"


class SimCamera(Camera):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimCameraConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.frames_rendered = 0

    def read(self) -> Frame:
        self._require_open()
        self.sim.raise_on_fault()
        cfg = self.config
        rng = self.sim.rng()
        patient = self.sim.env.patient_facing(self.sim.body, cfg.max_patient_distance_m)
        if patient is not None:
            image = render_wristband_frame(
                patient.wristband_payload,
                rng,
                width_px=cfg.width_px,
                height_px=cfg.height_px,
                blur_sigma_px=cfg.blur_sigma_px,
                noise_sigma=cfg.noise_sigma,
                occluded=bool(rng.random() < cfg.unreadable_probability),
            )
        else:
            image = render_corridor_frame(
                rng,
                width_px=cfg.width_px,
                height_px=cfg.height_px,
                blur_sigma_px=cfg.blur_sigma_px,
                noise_sigma=cfg.noise_sigma,
            )
        self.frames_rendered += 1
        return Frame(image, self.clock.now_s(), cfg.frame_id)

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimCameraConfig, ctx: BuildContext) -> SimCamera:
    env, body = sim_context(ctx)
    return SimCamera(name, ctx.clock, env, body, config)
