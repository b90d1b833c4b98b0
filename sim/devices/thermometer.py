"""Simulated clinical thermometer (tympanic by default): 5 s, ±0.1 °C, shown to 0.1 °C."""

from __future__ import annotations

import numpy as np

from hal.registry import BuildContext
from hal.thermometer import TemperatureReading, Thermometer
from sim.devices.common import sim_context
from sim.devices.measuring import SimMeasuringConfig, SimMeasuringDevice
from sim.patients import PatientModel, TrueVitals


class SimThermometerConfig(SimMeasuringConfig):
    duration_s: float = 5.0
    noise_sigma_c: float = 0.1
    site: str = "tympanic"


class SimThermometer(SimMeasuringDevice[TemperatureReading], Thermometer):
    failure_reason = "probe not in position"
    progress_text = "reading temperature"
    config: SimThermometerConfig

    def _reading(
        self, patient: PatientModel, vitals: TrueVitals, rng: np.random.Generator, stamp_s: float
    ) -> TemperatureReading:
        value = vitals.temperature_c + rng.normal(0.0, self.config.noise_sigma_c)
        return TemperatureReading(round(value, 1), self.config.site, stamp_s)


def build(name: str, config: SimThermometerConfig, ctx: BuildContext) -> SimThermometer:
    env, body = sim_context(ctx)
    return SimThermometer(name, ctx.clock, env, body, config)
