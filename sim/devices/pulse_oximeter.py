"""Simulated fingertip pulse oximeter: 15 s, SpO2 ±1 %, whole numbers as displayed."""

from __future__ import annotations

import numpy as np

from hal.pulse_oximeter import PulseOximeter, PulseOximetryReading
from hal.registry import BuildContext
from sim.devices.common import sim_context
from sim.devices.measuring import SimMeasuringConfig, SimMeasuringDevice
from sim.patients import PatientModel, TrueVitals


class SimPulseOximeterConfig(SimMeasuringConfig):
    duration_s: float = 15.0
    spo2_noise_sigma_percent: float = 1.0
    pulse_noise_sigma_bpm: float = 2.0


class SimPulseOximeter(SimMeasuringDevice[PulseOximetryReading], PulseOximeter):
    failure_reason = "probe off"
    progress_text = "acquiring pulse signal"
    config: SimPulseOximeterConfig

    def _reading(
        self, patient: PatientModel, vitals: TrueVitals, rng: np.random.Generator, stamp_s: float
    ) -> PulseOximetryReading:
        spo2 = min(100, round(vitals.spo2_percent + rng.normal(0.0, self.config.spo2_noise_sigma_percent)))
        pulse = round(vitals.pulse_bpm + rng.normal(0.0, self.config.pulse_noise_sigma_bpm))
        perfusion = round(float(rng.uniform(1.0, 6.0)) * (0.5 if vitals.systolic_bp_mmhg < 95 else 1.0), 1)
        return PulseOximetryReading(int(spo2), int(pulse), perfusion, stamp_s)


def build(name: str, config: SimPulseOximeterConfig, ctx: BuildContext) -> SimPulseOximeter:
    env, body = sim_context(ctx)
    return SimPulseOximeter(name, ctx.clock, env, body, config)
