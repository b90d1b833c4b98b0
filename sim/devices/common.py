"""What every simulated device shares: its link to the simulator, faults and health."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hal.device import Device, DeviceFault, DeviceHealth, HealthStatus
from hal.registry import BuildContext

if TYPE_CHECKING:
    from sim.body import SimBody
    from sim.environment import SimEnvironment

NO_PATIENT = "no patient in front of the robot"


def sim_context(ctx: BuildContext) -> tuple[SimEnvironment, SimBody]:
    """The environment and this robot's body from the build context's extras."""
    extras: dict[str, Any] = ctx.extras
    if "sim_env" not in extras or "sim_body" not in extras:
        raise KeyError("sim devices need a simulator environment (extras 'sim_env' and 'sim_body')")
    return extras["sim_env"], extras["sim_body"]


class SimLink:
    """A sim device's view of the simulator: environment, body, and its injected faults."""

    def __init__(self, device: Device, env: SimEnvironment, body: SimBody) -> None:
        self._device = device
        self.env = env
        self.body = body
        self.robot_id = body.robot_id

    def fault(self) -> str | None:
        """The injected fault, by the device's configured name or by its kind."""
        if not self.env.has_faults(self.robot_id):
            return None
        now_s = self._device.clock.now_s()
        return self.env.fault_for(self.robot_id, self._device.name, now_s) or self.env.fault_for(
            self.robot_id, self._device.kind, now_s
        )

    def raise_on_fault(self) -> None:
        reason = self.fault()
        if reason is not None:
            raise DeviceFault(self._device.name, reason)

    def rng(self) -> Any:
        return self.env.rng_for(self.robot_id, self._device.name)

    def health(self) -> DeviceHealth:
        device = self._device
        now_s = device.clock.now_s()
        if not device.is_open:
            return DeviceHealth(HealthStatus.STALE, "not set up", now_s)
        if self.env.has_faults(self.robot_id):  # else no fault to look up (the common case)
            reason = self.fault()
            if reason is not None:
                return DeviceHealth(HealthStatus.ERROR, reason, now_s)
        return DeviceHealth(HealthStatus.OK, "", now_s)
