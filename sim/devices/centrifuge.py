"""Simulated centrifuge: spins the tubes in its rotor (an area of the robot's racks); an odd
number of tubes unbalances the rotor, so the spin fails before it starts."""

from __future__ import annotations

from hal.centrifuge import Centrifuge, SpinResult
from hal.clock import Clock
from hal.device import DeviceHealth
from hal.handle import Handle
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.devices.tube_handler import CallbackHandle
from sim.environment import SimEnvironment
from sim.lab_samples import Tube, lab_site


class SimCentrifugeConfig(DeviceConfig):
    rotor_area: str = "centrifuge"
    max_rcf_g: float = 3000.0
    spin_up_down_s: float = 60.0  # acceleration and braking, on top of the spin


class SimCentrifuge(Centrifuge):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody,
                 config: SimCentrifugeConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.spins = 0

    def rotor_area(self) -> str:
        return self.config.rotor_area

    def start_spin(self, *, rcf_g: float, duration_s: float) -> Handle[SpinResult, str]:
        self._require_open()
        now_s = self.clock.now_s()
        cell = lab_site(self.sim.env).cell(self.sim.robot_id)
        tubes = cell.tubes_in(self.config.rotor_area)
        handle: CallbackHandle[SpinResult] = CallbackHandle(self.clock.now_s, lambda: self._spun(tubes))
        fault = self.sim.fault()
        done_s = now_s + duration_s + self.config.spin_up_down_s
        if fault is not None:
            handle.fail_at(now_s, f"centrifuge fault: {fault}")
        elif rcf_g > self.config.max_rcf_g:
            handle.fail_at(now_s, f"{rcf_g:g} g exceeds the rotor's {self.config.max_rcf_g:g} g")
        elif not tubes:
            handle.fail_at(now_s, "the rotor is empty")
        elif len(tubes) % 2:
            handle.fail_at(now_s + 5.0, f"rotor imbalance ({len(tubes)} tubes): spin aborted")
        else:
            handle.set_feedback(f"{duration_s:.0f} s")
            handle.succeed_at(done_s, SpinResult(rcf_g, duration_s, len(tubes), done_s))
        return handle

    def _spun(self, tubes: list[Tube]) -> None:
        self.spins += 1
        for tube in tubes:
            tube.centrifuged = True

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimCentrifugeConfig, ctx: BuildContext) -> SimCentrifuge:
    env, body = sim_context(ctx)
    return SimCentrifuge(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("centrifuge", "sim", SimCentrifugeConfig, build)
