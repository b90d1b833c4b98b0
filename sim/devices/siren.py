"""Simulated siren + beacon: remembers what it sounded and when (bounded history)."""

from __future__ import annotations

from collections import deque

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from hal.siren import Siren, SirenPattern, SirenState
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment


class SimSirenConfig(DeviceConfig):
    history_length: int = 100


class SimSiren(Siren):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimSirenConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self._pattern: SirenPattern | None = None
        self._until_s: float | None = None
        #: (stamp_s, pattern) of every sound() call, for logs and tests
        self.history: deque[tuple[float, SirenPattern]] = deque(maxlen=config.history_length)

    def sound(self, pattern: SirenPattern, *, duration_s: float | None = None) -> None:
        self._require_open()
        self.sim.raise_on_fault()
        now_s = self.clock.now_s()
        self._pattern = SirenPattern(pattern)
        self._until_s = None if duration_s is None else now_s + duration_s
        self.history.append((now_s, self._pattern))

    def silence(self) -> None:
        self._pattern, self._until_s = None, None

    def state(self) -> SirenState:
        now_s = self.clock.now_s()
        if self._until_s is not None and now_s >= self._until_s:
            self.silence()
        pattern = self._pattern
        sounding = pattern is not None and pattern is not SirenPattern.BEACON_ONLY
        return SirenState(sounding, pattern, pattern is not None, self._until_s, now_s)

    def close(self) -> None:
        self.silence()
        super().close()

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimSirenConfig, ctx: BuildContext) -> SimSiren:
    env, body = sim_context(ctx)
    return SimSiren(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("siren", "sim", SimSirenConfig, build)
