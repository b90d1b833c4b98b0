"""The security head's cameras: a radiometric thermal camera (front, or rear for guided visitors)
and the visible scene camera beside it, both looking at `sim.security_world`'s scene."""

from __future__ import annotations

from typing import Literal

from hal.camera import Camera, Frame
from hal.clock import Clock
from hal.device import Device, DeviceHealth
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from hal.thermal_camera import ThermalCamera, ThermalFrame
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.security_world import security_world_for

#: how far the view slides per metre driven (so only a robot standing still sees a still scene)
SHIFT_PX_PER_M = 60.0


class SimThermalCameraConfig(DeviceConfig):
    width_px: int = 160
    height_px: int = 120
    noise_sigma_c: float = 0.15
    hfov_deg: float = 50.0
    #: front: the scene ahead (hot spots, fire, people); rear: the guided visitor behind
    facing: Literal["front", "rear"] = "front"
    frame_id: str = "thermal"


class _SecurityHeadCamera(Device):
    """What both cameras of the security head share: the link to the simulator, the scene they
    look at, the checks before a frame and the count of frames rendered."""

    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.security = security_world_for(env)
        self.frames_rendered = 0

    def _ready_to_render(self) -> SimBody:
        """The body to render from, once the camera is open and no fault is injected."""
        self._require_open()
        self.sim.raise_on_fault()
        return self.sim.body

    def health(self) -> DeviceHealth:
        return self.sim.health()


class SimThermalCamera(_SecurityHeadCamera, ThermalCamera):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimThermalCameraConfig
    ) -> None:
        super().__init__(name, clock, env, body)
        self.config = config

    def read(self) -> ThermalFrame:
        body = self._ready_to_render()
        cfg, now_s = self.config, self.clock.now_s()
        if cfg.facing == "rear":
            temps = self.security.render_rear_thermal(
                self.sim.robot_id, body.pose, body.distance_travelled_m, now_s, self.sim.rng(),
                width_px=cfg.width_px, height_px=cfg.height_px, hfov_deg=cfg.hfov_deg, noise_sigma_c=cfg.noise_sigma_c,
            )
        else:
            temps = self.security.render_thermal(
                body.pose, now_s, self.sim.rng(), width_px=cfg.width_px, height_px=cfg.height_px,
                noise_sigma_c=cfg.noise_sigma_c,
            )
        self.frames_rendered += 1
        return ThermalFrame(temps, now_s, cfg.frame_id, cfg.hfov_deg)


class SimSceneCameraConfig(DeviceConfig):
    width_px: int = 320
    height_px: int = 240
    noise_sigma: float = 3.0
    frame_id: str = "camera"


class SimSceneCamera(_SecurityHeadCamera, Camera):
    """The visible camera of the security head (model ``sim_scene``)."""

    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimSceneCameraConfig
    ) -> None:
        super().__init__(name, clock, env, body)
        self.config = config

    def read(self) -> Frame:
        body = self._ready_to_render()
        cfg = self.config
        image = self.security.render_frame(
            body.pose, self.clock.now_s(), self.sim.rng(), width_px=cfg.width_px, height_px=cfg.height_px,
            shift_px=round(body.distance_travelled_m * SHIFT_PX_PER_M), noise_sigma=cfg.noise_sigma,
        )
        self.frames_rendered += 1
        return Frame(image, self.clock.now_s(), cfg.frame_id)


def build(name: str, config: SimThermalCameraConfig, ctx: BuildContext) -> SimThermalCamera:
    env, body = sim_context(ctx)
    return SimThermalCamera(name, ctx.clock, env, body, config)


def build_scene_camera(name: str, config: SimSceneCameraConfig, ctx: BuildContext) -> SimSceneCamera:
    env, body = sim_context(ctx)
    return SimSceneCamera(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("thermal_camera", "sim", SimThermalCameraConfig, build)
    registry.register("camera", "sim_scene", SimSceneCameraConfig, build_scene_camera)
