"""Simulated tag reader that skips the image: the faced patient's wristband payload, or None
with `unreadable_probability`. For fleet-scale runs; `opencv` on a sim camera is the real path."""

from __future__ import annotations

from hal.clock import Clock
from hal.device import DeviceHealth, HealthStatus
from hal.registry import BuildContext, DeviceConfig
from hal.tag_reader import TagRead, TagReader
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment


class SimTagReaderConfig(DeviceConfig):
    unreadable_probability: float = 0.05
    max_patient_distance_m: float = 1.5
    warn_after_failures: int = 5


class SimTagReader(TagReader):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimTagReaderConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.consecutive_failures = 0

    def read_tag(self) -> TagRead:
        self._require_open()
        self.sim.raise_on_fault()
        patient = self.sim.env.patient_facing(self.sim.body, self.config.max_patient_distance_m)
        readable = patient is not None and self.sim.rng().random() >= self.config.unreadable_probability
        payload = patient.wristband_payload if readable and patient is not None else None
        self.consecutive_failures = 0 if payload is not None else self.consecutive_failures + 1
        return TagRead(payload, "qr", self.clock.now_s())

    def health(self) -> DeviceHealth:
        health = self.sim.health()
        if health.status is HealthStatus.OK and self.consecutive_failures >= self.config.warn_after_failures:
            return self._health(
                HealthStatus.WARNING, f"{self.consecutive_failures} consecutive reads without a readable tag"
            )
        return health


def build(name: str, config: SimTagReaderConfig, ctx: BuildContext) -> SimTagReader:
    env, body = sim_context(ctx)
    return SimTagReader(name, ctx.clock, env, body, config)
