"""Simulated badge + PIN reader: someone with the asked-for role comes, badges and types the PIN
after `staff_response_s`. Staff references are pseudonymous and stable for the seed. Tests inject
refusals with `refuse_next(reason)` and read every request in `requests`."""

from __future__ import annotations

import hashlib

from hal.badge_reader import BadgeReader, BadgeScan
from hal.clock import Clock
from hal.device import DeviceHealth
from hal.handle import Handle, ResolvedHandle
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment


class SimBadgeReaderConfig(DeviceConfig):
    staff_response_s: float = 45.0  # the nurse or pharmacist walks over, badges, types the PIN
    refuse_probability: float = 0.0  # wrong PIN, expired badge


def staff_ref(seed: int, robot_id: str, role: str) -> str:
    """The one pseudonymous member of staff of `role` who serves this robot in the simulation."""
    return "st-" + hashlib.sha256(f"medbot-staff:{seed}:{robot_id}:{role}".encode()).hexdigest()[:8]


class SimBadgeReader(BadgeReader):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimBadgeReaderConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.requests: list[tuple[str, str]] = []  # (required_role, purpose)
        self._refusals: list[str] = []

    def refuse_next(self, reason: str = "PIN incorrect", count: int = 1) -> None:
        self._refusals.extend([reason] * count)

    def start_authentication(self, *, required_role: str, purpose: str) -> Handle[BadgeScan, str]:
        self._require_open()
        now_s = self.clock.now_s()
        self.requests.append((required_role, purpose))
        handle: ResolvedHandle[BadgeScan, str] = ResolvedHandle(self.clock.now_s)
        fault = self.sim.fault()
        if fault is not None:
            handle.fail_at(now_s, f"device fault: {fault}")
            return handle
        done_s = now_s + self.config.staff_response_s
        refusal = self._refusals.pop(0) if self._refusals else None
        if refusal is None and self.config.refuse_probability > 0 and self.sim.rng().random() < (
            self.config.refuse_probability
        ):
            refusal = "PIN incorrect"
        if refusal is not None:
            handle.succeed_at(done_s, BadgeScan(False, None, None, refusal, done_s))
        else:
            ref = staff_ref(self.sim.env.seed, self.sim.robot_id, required_role)
            handle.succeed_at(done_s, BadgeScan(True, ref, required_role, "", done_s))
        return handle

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimBadgeReaderConfig, ctx: BuildContext) -> SimBadgeReader:
    env, body = sim_context(ctx)
    return SimBadgeReader(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("badge_reader", "sim", SimBadgeReaderConfig, build)
