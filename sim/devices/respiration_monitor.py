"""Simulated contact-free respiration monitor: counts breaths over 60 s, ±1 /min."""

from __future__ import annotations

import numpy as np

from hal.registry import BuildContext
from hal.respiration_monitor import RespirationMonitor, RespirationReading
from sim.devices.common import sim_context
from sim.devices.measuring import SimMeasuringConfig, SimMeasuringDevice
from sim.patients import PatientModel, TrueVitals


class SimRespirationMonitorConfig(SimMeasuringConfig):
    duration_s: float = 60.0
    noise_sigma_per_min: float = 0.8


class SimRespirationMonitor(SimMeasuringDevice[RespirationReading], RespirationMonitor):
    failure_reason = "patient moved: breathing signal lost"
    progress_text = "counting breaths"
    config: SimRespirationMonitorConfig

    def _reading(
        self, patient: PatientModel, vitals: TrueVitals, rng: np.random.Generator, stamp_s: float
    ) -> RespirationReading:
        rate = round(vitals.respiration_rate_per_min + rng.normal(0.0, self.config.noise_sigma_per_min))
        return RespirationReading(max(4, int(rate)), stamp_s)


def build(name: str, config: SimRespirationMonitorConfig, ctx: BuildContext) -> SimRespirationMonitor:
    env, body = sim_context(ctx)
    return SimRespirationMonitor(name, ctx.clock, env, body, config)
