"""Simulated bed scale: 10 s to settle, ±0.2 kg, shown to 0.1 kg."""

from __future__ import annotations

import numpy as np

from hal.registry import BuildContext
from hal.scale import Scale, WeightReading
from sim.devices.common import sim_context
from sim.devices.measuring import SimMeasuringConfig, SimMeasuringDevice
from sim.patients import PatientModel, TrueVitals


class SimScaleConfig(SimMeasuringConfig):
    duration_s: float = 10.0
    noise_sigma_kg: float = 0.2


class SimScale(SimMeasuringDevice[WeightReading], Scale):
    failure_reason = "reading unstable: patient moving"
    progress_text = "settling"
    config: SimScaleConfig

    def _reading(
        self, patient: PatientModel, vitals: TrueVitals, rng: np.random.Generator, stamp_s: float
    ) -> WeightReading:
        return WeightReading(round(patient.weight_kg + rng.normal(0.0, self.config.noise_sigma_kg), 1), stamp_s)


def build(name: str, config: SimScaleConfig, ctx: BuildContext) -> SimScale:
    env, body = sim_context(ctx)
    return SimScale(name, ctx.clock, env, body, config)
