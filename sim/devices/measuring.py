"""Shared base of the simulated bedside measuring devices: one reading of the faced patient,
after a realistic duration, with device noise and rounding, or a failure with its reason."""

from __future__ import annotations

from abc import abstractmethod
from typing import Generic, TypeVar

import numpy as np

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.handle import Handle, ResolvedHandle
from hal.measurement import MeasuringDevice
from hal.registry import DeviceConfig
from sim.body import SimBody
from sim.devices.common import NO_PATIENT, SimLink
from sim.environment import SimEnvironment
from sim.patients import PatientModel, TrueVitals

R = TypeVar("R")


class SimMeasuringConfig(DeviceConfig):
    duration_s: float = 10.0
    failure_probability: float = 0.02  # per measurement: probe off, cuff leak, ...
    max_patient_distance_m: float = 1.5


class SimMeasuringDevice(MeasuringDevice[R], Generic[R]):
    #: why a measurement fails now and then (`failure_probability`)
    failure_reason = "probe off"
    #: the progress text while measuring
    progress_text = "measuring"

    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimMeasuringConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.measurements_started = 0

    def health(self) -> DeviceHealth:
        return self.sim.health()

    def start_measurement(self) -> Handle[R, str]:
        self._require_open()
        now_s = self.clock.now_s()
        handle: ResolvedHandle[R, str] = ResolvedHandle(self.clock.now_s)
        self.measurements_started += 1
        rng = self.sim.rng()
        fault = self.sim.fault()
        patient = self.sim.env.patient_facing(self.sim.body, self.config.max_patient_distance_m)
        if fault is not None:
            handle.fail_at(now_s, f"device fault: {fault}")
        elif patient is None:
            handle.fail_at(now_s, NO_PATIENT)
        elif rng.random() < self.config.failure_probability:
            handle.set_feedback(self.progress_text)
            handle.fail_at(now_s + self.config.duration_s / 2, self.failure_reason)
        else:
            done_s = now_s + self.config.duration_s
            handle.set_feedback(self.progress_text)
            handle.succeed_at(done_s, self._reading(patient, patient.vitals_at(done_s), rng, done_s))
        return handle

    @abstractmethod
    def _reading(self, patient: PatientModel, vitals: TrueVitals, rng: np.random.Generator, stamp_s: float) -> R:
        """What the device would display for these true vitals."""
