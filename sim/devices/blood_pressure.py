"""Simulated oscillometric NIBP monitor: 40 s cuff cycle, ±4 mmHg, whole numbers."""

from __future__ import annotations

import numpy as np

from hal.blood_pressure import BloodPressureMonitor, BloodPressureReading
from hal.registry import BuildContext
from sim.devices.common import sim_context
from sim.devices.measuring import SimMeasuringConfig, SimMeasuringDevice
from sim.patients import PatientModel, TrueVitals


class SimBloodPressureConfig(SimMeasuringConfig):
    duration_s: float = 40.0
    noise_sigma_mmhg: float = 4.0
    pulse_noise_sigma_bpm: float = 2.0


class SimBloodPressureMonitor(SimMeasuringDevice[BloodPressureReading], BloodPressureMonitor):
    failure_reason = "cuff leak"
    progress_text = "inflating cuff"
    config: SimBloodPressureConfig

    def _reading(
        self, patient: PatientModel, vitals: TrueVitals, rng: np.random.Generator, stamp_s: float
    ) -> BloodPressureReading:
        systolic = round(vitals.systolic_bp_mmhg + rng.normal(0.0, self.config.noise_sigma_mmhg))
        diastolic = round(vitals.diastolic_bp_mmhg + rng.normal(0.0, self.config.noise_sigma_mmhg * 0.75))
        diastolic = min(diastolic, systolic - 10)
        mean_arterial = round(diastolic + (systolic - diastolic) / 3)
        pulse = round(vitals.pulse_bpm + rng.normal(0.0, self.config.pulse_noise_sigma_bpm))
        return BloodPressureReading(int(systolic), int(diastolic), int(mean_arterial), int(pulse), stamp_s)


def build(name: str, config: SimBloodPressureConfig, ctx: BuildContext) -> SimBloodPressureMonitor:
    env, body = sim_context(ctx)
    return SimBloodPressureMonitor(name, ctx.clock, env, body, config)
