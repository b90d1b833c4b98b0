"""Simulated ultrasound probe arm: contact force with slow variation and the patient's own
baseline; the probe retracts and the scan fails the moment the force passes the scan's limit."""

from __future__ import annotations

import math

from hal.clock import Clock
from hal.device import DeviceFault, DeviceHealth
from hal.handle import DrivenHandle, Handle, HandleStatus
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from hal.ultrasound import ScanFeedback, ScanRequest, ScanResult, UltrasoundProbeArm
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.devices.xray import bind_room
from sim.environment import SimEnvironment
from sim.imaging_patients import ImagingRoom, render_ultrasound_frame


class SimUltrasoundConfig(DeviceConfig):
    room: str = "radiology-ultrasound"
    nominal_force_n: float = 6.0
    force_swing_n: float = 1.5  # breathing pushes the probe back and forth
    frames_per_s: float = 20.0


class _SimScan(DrivenHandle[ScanResult, ScanFeedback]):
    def __init__(self, arm: SimUltrasound, request: ScanRequest) -> None:
        super().__init__()
        self._arm = arm
        self.request = request
        self._start_s = arm.clock.now_s()
        self._feedback = ScanFeedback(0.0, 0.0)
        self._peak_n = 0.0
        patient = arm.room_model.patient
        self._baseline_n = arm.config.nominal_force_n * (patient.thickness_cm / 22.0 if patient is not None else 1.0)

    def force_at(self, t_s: float) -> float:
        return self._baseline_n + self._arm.config.force_swing_n * math.sin(2 * math.pi * t_s / 4.0)

    def poll(self) -> HandleStatus:
        if self._status is not HandleStatus.RUNNING:
            return self._status
        arm, now_s = self._arm, self._arm.clock.now_s()
        elapsed = now_s - self._start_s
        force = self.force_at(elapsed)
        self._peak_n = max(self._peak_n, force)
        self._feedback = ScanFeedback(round(force, 2), elapsed)
        fault = arm.sim.fault()
        if fault is not None:
            self._fail(f"probe arm fault: {fault}")
        elif arm.room_model.patient is None:
            self._fail("no patient on the couch")
        elif force > self.request.max_contact_force_n:
            self._fail(f"contact force {force:.1f} N above the limit {self.request.max_contact_force_n:g} N:"
                       " probe retracted")
        elif elapsed >= self.request.duration_s:
            image = render_ultrasound_frame(arm.sim.rng())
            frames = int(self.request.duration_s * arm.config.frames_per_s)
            self.succeed(ScanResult(self.request.region, frames, round(self._peak_n, 2), image, now_s))
            arm.retract()
        return self._status

    def _fail(self, reason: str) -> None:
        self.fail(reason)
        self._arm.retract()

    def cancel(self) -> None:
        if self._status is HandleStatus.RUNNING:
            super().cancel()
            self._arm.retract()


class SimUltrasound(UltrasoundProbeArm):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, room: ImagingRoom,
                 config: SimUltrasoundConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.room_model = room
        self.config = config
        self._contact = False
        self.scans = 0

    @property
    def room(self) -> str:
        return self.config.room

    def start_scan(self, request: ScanRequest) -> Handle[ScanResult, ScanFeedback]:
        self._require_open()
        self.sim.raise_on_fault()
        if self._contact:
            raise DeviceFault(self.name, "a scan is already in progress")
        self.room_model.advance(self.clock.now_s())
        self._contact = True
        self.scans += 1
        return _SimScan(self, request)

    def retract(self) -> None:
        self._contact = False

    @property
    def in_contact(self) -> bool:
        return self._contact

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimUltrasoundConfig, ctx: BuildContext) -> SimUltrasound:
    env, body = sim_context(ctx)
    return SimUltrasound(name, ctx.clock, env, body, bind_room(ctx, env, body, config.room), config)


def register(registry: DeviceRegistry) -> None:
    registry.register("ultrasound", "sim", SimUltrasoundConfig, build)
