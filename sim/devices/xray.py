"""Simulated X-ray room equipment: the generator/detector and the room's cameras.

The generator runs the hold-to-expose sequence against the room model: prep (anode spin-up), then
X-rays for the technique's exposure time, delivering dose-area product at the technique's rate.
Every poll re-checks the holder's permit and the injected faults, and a missing poll for longer
than `deadman_s` ends the exposure at the last hold plus that period (the holder is gone), the way
a deadman switch does without anyone watching. The room cameras (a wristband camera and the
ceiling positioning camera) belong to the same installation, so they are registered here.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from hal.camera import Camera, Frame
from hal.clock import Clock
from hal.device import DeviceFault, DeviceHealth, HealthStatus
from hal.handle import Handle, HandleStatus, ResolvedHandle
from hal.imaging import (
    ExposureFeedback,
    ExposureHandle,
    ExposurePhase,
    ExposureResult,
    GeneratorStatus,
    Permit,
    Radiograph,
    SelfTestResult,
    TechniqueFactors,
    XRayGenerator,
)
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from hal.speaker import Speaker
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.imaging_patients import (
    POSITIONING_MM_PER_PX,
    ImagingRoom,
    imaging_site,
    render_positioning_frame,
    render_radiograph,
)
from sim.wristband import render_corridor_frame, render_wristband_frame

#: dose-area product per mAs at 100 kV and 1 m over a 35 x 43 cm field (typ. chest PA ≈ 0.1 Gy·cm²)
DAP_PER_MAS_MGY_CM2 = 55.0
SCRIPTED_MOTION_MM = 8.0
#: mAs at 120 kV that gives the simulated detector its aim signal through a 22 cm patient
AEC_AIM_MAS_AT_120KV = 2.0


def bind_room(ctx: BuildContext, env: SimEnvironment, body: SimBody, room_name: str) -> ImagingRoom:
    """The room model, with the robot's speaker wired in as what the patient hears while the
    robot is in the room (the sim patient follows spoken positioning instructions)."""
    room = imaging_site(env).room(room_name)
    place = env.world.place(room_name)
    bound = room._bound_speakers
    for device in ctx.devices.values():
        if isinstance(device, Speaker) and f"{body.robot_id}/{device.name}" not in bound:
            bound.add(f"{body.robot_id}/{device.name}")
            speaker = device

            def heard(speaker: Speaker = speaker) -> list[tuple[float, str]]:
                if math.hypot(body.pose.x_m - place.x_m, body.pose.y_m - place.y_m) > 4.0:
                    return []
                return [(u.stamp_s, u.text) for u in speaker.history()]

            room.listen_to(heard)
    return room


class SimXRayConfig(DeviceConfig):
    room: str = "radiology-xray"
    prep_s: float = 0.6
    deadman_s: float = 0.5
    self_test_s: float = 20.0


class _SimExposure(ExposureHandle):
    def __init__(self, gen: SimXRay, technique: TechniqueFactors, accession_number: str, permit: Permit) -> None:
        self._gen = gen
        self.technique = technique
        self.accession_number = accession_number
        self._permit = permit
        now_s = gen.clock.now_s()
        patient = gen.room_model.patient
        # AEC: the exposure ends once the detector has its aim signal (dose index 1 in the sim's
        # detector model), or at the technique's backup mAs/time, whichever comes first
        thickness = patient.thickness_cm if patient is not None else 22.0
        needed_mas = AEC_AIM_MAS_AT_120KV / ((technique.tube_voltage_kv / 120.0) ** 2 * math.exp(-(thickness - 22) / 8))
        self.effective_mas = min(technique.current_time_product_mas, needed_mas)
        fraction = self.effective_mas / technique.current_time_product_mas
        self._exposure_start_s = now_s + gen.config.prep_s
        self._exposure_end_s = self._exposure_start_s + fraction * technique.exposure_time_ms / 1000.0
        self._accounted_s = now_s
        self._last_hold_s = now_s
        self._status = HandleStatus.RUNNING
        self._error: str | None = None
        self._result: ExposureResult | None = None
        self._feedback = ExposureFeedback(ExposurePhase.PREP, 0.0, 0.0)
        scripted = patient is not None and patient.moves_during_exposures > 0
        if scripted and patient is not None:
            patient.moves_during_exposures -= 1
        speed = math.hypot(*patient.drift_mm_per_s) if patient is not None else 0.0
        self.motion_mm = SCRIPTED_MOTION_MM if scripted else speed * technique.exposure_time_ms / 1000.0
        t = technique
        # tube current is fixed by the technique; AEC shortens the time, so the rate stays the same
        self._dap_per_s = (DAP_PER_MAS_MGY_CM2 * (t.tube_voltage_kv / 100.0) ** 2 * t.current_time_product_mas
                           / (t.source_image_distance_cm / 100.0) ** 2) / (t.exposure_time_ms / 1000.0)

    # -- the hold, tick by tick ------------------------------------------------------------------

    def _accumulate(self, until_s: float) -> None:
        start = max(self._accounted_s, self._exposure_start_s)
        end = min(until_s, self._exposure_end_s)
        if end > start:
            dap = self._dap_per_s * (end - start)
            self._gen.total_dap_mgy_cm2 += dap
            self._gen.room_model.dap_delivered_mgy_cm2 += dap
            self._feedback = ExposureFeedback(ExposurePhase.EXPOSING, self._feedback.dap_mgy_cm2 + dap,
                                              self._feedback.exposed_ms + (end - start) * 1000.0)
        self._accounted_s = max(self._accounted_s, until_s)
        on = self._exposure_start_s <= self._accounted_s < self._exposure_end_s
        self._gen.room_model.set_exposing(on, self.accession_number)

    def _end(self, status: HandleStatus, error: str | None) -> None:
        self._status, self._error = status, error
        self._feedback = ExposureFeedback(ExposurePhase.ENDED, self._feedback.dap_mgy_cm2, self._feedback.exposed_ms)
        self._gen.room_model.set_exposing(False, None)
        self._gen._active = None
        dap = round(self._feedback.dap_mgy_cm2, 3)
        self._gen.exposure_log.append((self.accession_number, dap, error or "complete"))

    def check_deadman(self) -> bool:
        """End the exposure if the hold was not renewed in time; True when it ended."""
        if self._status is not HandleStatus.RUNNING:
            return True
        lapse_s = self._gen.clock.now_s() - self._last_hold_s
        if lapse_s > self._gen.config.deadman_s:
            self._accumulate(self._last_hold_s + self._gen.config.deadman_s)
            self._end(HandleStatus.FAILED, f"hold-to-expose released: no hold signal for {lapse_s:.2f} s")
            return True
        return False

    def poll(self) -> HandleStatus:
        if self._status is not HandleStatus.RUNNING or self.check_deadman():
            return self._status
        now_s = self._gen.clock.now_s()
        self._accumulate(now_s)
        self._last_hold_s = now_s
        reason = self._gen.sim.fault()
        reason = f"generator fault: {reason}" if reason else self._permit()
        if reason:
            self._end(HandleStatus.FAILED, reason)
        elif now_s >= self._exposure_end_s:
            self._complete(now_s)
        return self._status

    def _complete(self, now_s: float) -> None:
        room = self._gen.room_model
        thickness = room.patient.thickness_cm if room.patient is not None else 22.0
        image = render_radiograph(
            tube_voltage_kv=self.technique.tube_voltage_kv,
            current_time_product_mas=self.effective_mas,
            thickness_cm=thickness, motion_mm=self.motion_mm, rng=self._gen.sim.rng(),
        )
        self._gen.exposures += 1
        self._result = ExposureResult(self._feedback.dap_mgy_cm2, self._feedback.exposed_ms,
                                      Radiograph(image, self.accession_number, now_s))
        self._end(HandleStatus.SUCCEEDED, None)

    def release(self, reason: str) -> None:
        if self._status is HandleStatus.RUNNING and not self.check_deadman():
            self._accumulate(self._gen.clock.now_s())
            self._end(HandleStatus.FAILED, reason)

    @property
    def feedback(self) -> ExposureFeedback:
        return self._feedback

    @property
    def result(self) -> ExposureResult | None:
        return self._result

    @property
    def error(self) -> str | None:
        return self._error


class SimXRay(XRayGenerator):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, room: ImagingRoom,
                 config: SimXRayConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.room_model = room
        self.total_dap_mgy_cm2 = 0.0
        self.exposures = 0
        self.locked_out: str | None = None
        self.self_tests: list[SelfTestResult] = []
        self.exposure_log: list[tuple[str, float, str]] = []  # (accession, dap, how it ended)
        self._active: _SimExposure | None = None
        room.service_hooks.append(self.clear_lockout)

    @property
    def room(self) -> str:
        return self.config.room

    def start_exposure(self, technique: TechniqueFactors, *, accession_number: str, permit: Permit) -> ExposureHandle:
        self._require_open()
        self.sim.raise_on_fault()
        if self.locked_out is not None:
            raise DeviceFault(self.name, f"exposure locked out: {self.locked_out}")
        if self._active is not None and not self._active.check_deadman():
            raise DeviceFault(self.name, "an exposure is already being held")
        self.room_model.advance(self.clock.now_s())
        reason = permit()
        if reason:
            raise DeviceFault(self.name, f"exposure refused: {reason}")
        self._active = _SimExposure(self, technique, accession_number, permit)
        return self._active

    def status(self) -> GeneratorStatus:
        active = self._active
        if active is not None:
            active.check_deadman()
        active = self._active
        return GeneratorStatus(
            exposing=active is not None and self.room_model.exposing,
            holding=active is not None,
            locked_out=self.locked_out,
            total_dap_mgy_cm2=self.total_dap_mgy_cm2,
            exposures=self.exposures,
            stamp_s=self.clock.now_s(),
        )

    def start_self_test(self) -> Handle[SelfTestResult, str]:
        self._require_open()
        handle: ResolvedHandle[SelfTestResult, str] = ResolvedHandle(self.clock.now_s)
        due_s = self.clock.now_s() + self.config.self_test_s
        fault = self.sim.fault()  # decided now: the sim fault is what the test would find
        checks = (("tube_heat_and_filament", fault is None), ("detector_calibration", True),
                  ("interlock_chain", True))
        result = SelfTestResult(fault is None, checks, "" if fault is None else f"tube/generator: {fault}", due_s)
        if fault is not None:
            self.locked_out = f"failed self-test: {fault}"
        self.self_tests.append(result)
        handle.succeed_at(due_s, result)
        handle.set_feedback("running tube, detector and interlock checks")
        return handle

    def clear_lockout(self, by: str) -> None:
        self.locked_out = None

    def health(self) -> DeviceHealth:
        health = self.sim.health()
        if health.status is HealthStatus.OK and self.locked_out is not None:
            return self._health(HealthStatus.ERROR, self.locked_out)
        return health


class SimRoomCameraConfig(DeviceConfig):
    room: str | None = "radiology-xray"  # None: whichever imaging room the robot is in
    view: Literal["wristband", "positioning"] = "positioning"
    width_px: int = 320
    height_px: int = 240
    mm_per_px: float = POSITIONING_MM_PER_PX
    max_robot_distance_m: float = 4.0
    frame_id: str = "room_camera"


class SimRoomCamera(Camera):
    """A camera of an imaging room: the patient's wristband held up to it, or the table from above."""

    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, rooms: list[ImagingRoom],
                 config: SimRoomCameraConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.rooms = rooms
        self.config = config

    def _room_here(self) -> ImagingRoom | None:
        body, world = self.sim.body.pose, self.sim.env.world
        for room in self.rooms:
            place = world.place(room.name)
            if math.hypot(body.x_m - place.x_m, body.y_m - place.y_m) <= self.config.max_robot_distance_m:
                return room
        return None

    def read(self) -> Frame:
        self._require_open()
        self.sim.raise_on_fault()
        cfg, rng = self.config, self.sim.rng()
        now_s = self.clock.now_s()
        room = self._room_here()
        if room is not None:
            room.advance(now_s)
        patient = room.patient if room is not None else None
        image: Any
        if cfg.view == "positioning":
            image = render_positioning_frame(patient, rng, width_px=cfg.width_px, height_px=cfg.height_px,
                                             mm_per_px=cfg.mm_per_px)
        elif patient is not None:
            image = render_wristband_frame(patient.wristband_payload, rng, width_px=640, height_px=480)
        else:
            image = render_corridor_frame(rng, width_px=640, height_px=480)
        return Frame(image, now_s, cfg.frame_id)

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimXRayConfig, ctx: BuildContext) -> SimXRay:
    env, body = sim_context(ctx)
    return SimXRay(name, ctx.clock, env, body, bind_room(ctx, env, body, config.room), config)


def build_camera(name: str, config: SimRoomCameraConfig, ctx: BuildContext) -> SimRoomCamera:
    env, body = sim_context(ctx)
    names = [config.room] if config.room is not None else [p.name for p in env.world.places.values()
                                                            if p.kind == "imaging"]
    return SimRoomCamera(name, ctx.clock, env, body, [bind_room(ctx, env, body, n) for n in sorted(names)], config)


def register(registry: DeviceRegistry) -> None:
    registry.register("xray", "sim", SimXRayConfig, build)
    registry.register("camera", "imaging_room", SimRoomCameraConfig, build_camera)
