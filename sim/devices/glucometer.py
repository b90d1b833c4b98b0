"""Simulated capillary glucometer: 20 s including the lancet, ±5 %, shown to 0.1 mmol/L."""

from __future__ import annotations

import numpy as np

from hal.glucometer import Glucometer, GlucoseReading
from hal.registry import BuildContext
from sim.devices.common import sim_context
from sim.devices.measuring import SimMeasuringConfig, SimMeasuringDevice
from sim.patients import PatientModel, TrueVitals


class SimGlucometerConfig(SimMeasuringConfig):
    duration_s: float = 20.0
    relative_noise_sigma: float = 0.05


class SimGlucometer(SimMeasuringDevice[GlucoseReading], Glucometer):
    failure_reason = "insufficient blood sample"
    progress_text = "reading test strip"
    config: SimGlucometerConfig

    def _reading(
        self, patient: PatientModel, vitals: TrueVitals, rng: np.random.Generator, stamp_s: float
    ) -> GlucoseReading:
        value = vitals.glucose_mmol_per_l * (1.0 + rng.normal(0.0, self.config.relative_noise_sigma))
        return GlucoseReading(round(max(1.1, value), 1), stamp_s)


def build(name: str, config: SimGlucometerConfig, ctx: BuildContext) -> SimGlucometer:
    env, body = sim_context(ctx)
    return SimGlucometer(name, ctx.clock, env, body, config)
