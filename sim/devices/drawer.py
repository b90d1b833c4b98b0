"""Simulated locked drawers with an audit log; `open_drawer`/`close_drawer` inject what a nurse
does with an unlocked drawer (gpiozero-style input injection)."""

from __future__ import annotations

from dataclasses import dataclass

from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth
from hal.drawer import Drawer, DrawerState
from hal.registry import BuildContext, DeviceConfig
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment


class SimDrawerConfig(DeviceConfig):
    drawer_ids: tuple[str, ...] = ("A", "B", "C")


@dataclass(frozen=True, slots=True)
class DrawerEvent:
    drawer_id: str
    action: str  # unlock, lock, open, close
    by: str | None
    stamp_s: float


class SimDrawer(Drawer):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimDrawerConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self._locked = {d: True for d in config.drawer_ids}
        self._open = {d: False for d in config.drawer_ids}
        self.log: list[DrawerEvent] = []

    def drawer_ids(self) -> list[str]:
        return list(self._locked)

    def _check(self, drawer_id: str) -> None:
        self._require_open()
        if drawer_id not in self._locked:
            raise DeviceError(self.name, f"unknown drawer {drawer_id!r} (drawers: {', '.join(self._locked)})")

    def state(self, drawer_id: str) -> DrawerState:
        self._check(drawer_id)
        return DrawerState(drawer_id, self._locked[drawer_id], self._open[drawer_id], self.clock.now_s())

    def unlock(self, drawer_id: str, *, authorised_by: str) -> None:
        self._check(drawer_id)
        self.sim.raise_on_fault()
        if not authorised_by:
            raise DeviceError(self.name, "unlocking needs a staff badge (authorised_by)")
        self._locked[drawer_id] = False
        self._record(drawer_id, "unlock", authorised_by)

    def lock(self, drawer_id: str) -> None:
        self._check(drawer_id)
        self.sim.raise_on_fault()
        if self._open[drawer_id]:
            raise DeviceError(self.name, f"drawer {drawer_id!r} is open: close it before locking")
        self._locked[drawer_id] = True
        self._record(drawer_id, "lock", None)

    def open_drawer(self, drawer_id: str, by: str | None = None) -> None:
        self._check(drawer_id)
        if self._locked[drawer_id]:
            raise DeviceError(self.name, f"drawer {drawer_id!r} is locked")
        self._open[drawer_id] = True
        self._record(drawer_id, "open", by)

    def close_drawer(self, drawer_id: str) -> None:
        self._check(drawer_id)
        self._open[drawer_id] = False
        self._record(drawer_id, "close", None)

    def _record(self, drawer_id: str, action: str, by: str | None) -> None:
        self.log.append(DrawerEvent(drawer_id, action, by, self.clock.now_s()))

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimDrawerConfig, ctx: BuildContext) -> SimDrawer:
    env, body = sim_context(ctx)
    return SimDrawer(name, ctx.clock, env, body, config)
