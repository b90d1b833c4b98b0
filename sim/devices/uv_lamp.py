"""Simulated UV-C lamp with its presence interlock.

The presence sensor sees a person when a patient's bed place is within `range_m` on the same
level, when a test or scenario has put someone there (`set_person_present`), or while a fault
named `"<device name>.presence"` is active (a scenario: staff walk into the anteroom). The dose
grows at `irradiance_w_per_m2` while on; a person coming within range switches it off.
"""

from __future__ import annotations

import math

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.handle import Handle, HandleStatus
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from hal.uv_lamp import InterlockRefused, UvDoseResult, UvLamp, UvLampState
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment


class SimUvLampConfig(DeviceConfig):
    irradiance_w_per_m2: float = 1.0  # UV-C at 1 m from the lamp
    range_m: float = 4.0  # the interlock's radius


class _DoseHandle(Handle[UvDoseResult, float]):
    def __init__(self, lamp: SimUvLamp, target_j_per_m2: float) -> None:
        self._lamp = lamp
        self._target = target_j_per_m2
        self._start_s = lamp.clock.now_s()
        self.status = HandleStatus.RUNNING
        self._result: UvDoseResult | None = None
        self._error: str | None = None

    def dose_j_per_m2(self) -> float:
        now_s = self._lamp.clock.now_s()
        return min(self._target, (now_s - self._start_s) * self._lamp.config.irradiance_w_per_m2)

    def poll(self) -> HandleStatus:
        if self.status is not HandleStatus.RUNNING:
            return self.status
        fault = self._lamp.sim.fault()
        if fault is not None:
            self._stop(HandleStatus.FAILED, f"device fault: {fault}")
        elif self._lamp.person_in_range():
            self._stop(HandleStatus.FAILED, "interlock: a person came within range - lamp switched off")
        elif self.dose_j_per_m2() >= self._target:
            now_s = self._lamp.clock.now_s()
            self._result = UvDoseResult(self._target, now_s - self._start_s)
            self._stop(HandleStatus.SUCCEEDED, None)
        return self.status

    def _stop(self, status: HandleStatus, error: str | None) -> None:
        self._lamp.dose_delivered_j_per_m2 = self.dose_j_per_m2()
        self._lamp.lamp_on = False
        self._lamp.dose_handle = None
        self.status, self._error = status, error

    @property
    def feedback(self) -> float | None:
        return self.dose_j_per_m2()

    @property
    def result(self) -> UvDoseResult | None:
        return self._result

    @property
    def error(self) -> str | None:
        return self._error

    def cancel(self) -> None:
        if self.status is HandleStatus.RUNNING:
            self._stop(HandleStatus.CANCELLED, None)


class SimUvLamp(UvLamp):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimUvLampConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.lamp_on = False
        self.dose_delivered_j_per_m2 = 0.0
        self.dose_handle: _DoseHandle | None = None
        self.on_while_person_present = False  # the invariant tests check: must stay False
        self._person_present = False

    def set_person_present(self, present: bool) -> None:
        """Input injection for tests: someone steps into (or out of) the lamp's range."""
        self._person_present = present

    def person_in_range(self) -> bool:
        if self._person_present:
            return True
        env, pose = self.sim.env, self.sim.body.pose
        if env.has_faults(self.sim.robot_id) and env.fault_for(
                self.sim.robot_id, f"{self.name}.presence", self.clock.now_s()) is not None:
            return True
        return any(
            bed.level == pose.level and math.hypot(bed.x_m - pose.x_m, bed.y_m - pose.y_m) <= self.config.range_m
            for bed in env.world.beds()
        )

    def state(self) -> UvLampState:
        handle = self.dose_handle
        if handle is not None:
            handle.poll()
        person = self.person_in_range()
        if self.lamp_on and person:
            self.on_while_person_present = True
        dose = handle.dose_j_per_m2() if handle is not None else self.dose_delivered_j_per_m2
        irradiance = self.config.irradiance_w_per_m2 if self.lamp_on else 0.0
        return UvLampState(self.lamp_on, irradiance, dose, person, self.clock.now_s())

    def start_dose(self, target_j_per_m2: float) -> Handle[UvDoseResult, float]:
        self._require_open()
        self.sim.raise_on_fault()
        if target_j_per_m2 <= 0:
            raise ValueError(f"target dose must be positive, got {target_j_per_m2}")
        if self.person_in_range():
            raise InterlockRefused(self.name, "a person is within range: lamp not switched on")
        if self.dose_handle is not None:
            self.dose_handle.cancel()
        self.lamp_on = True
        self.dose_delivered_j_per_m2 = 0.0
        self.dose_handle = _DoseHandle(self, target_j_per_m2)
        return self.dose_handle

    def off(self) -> None:
        if self.dose_handle is not None:
            self.dose_handle.cancel()
        self.lamp_on = False

    def close(self) -> None:
        self.off()
        super().close()

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimUvLampConfig, ctx: BuildContext) -> SimUvLamp:
    env, body = sim_context(ctx)
    return SimUvLamp(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("uv_lamp", "sim", SimUvLampConfig, build)
