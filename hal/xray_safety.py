"""The exposure gate: no X-ray exposure unless every interlock holds.

Checked before an exposure starts and on every tick of it (`supervise`), ending it on the same tick
a condition breaks. It fails closed: interlocks that cannot be read, a lock-out after a failed
self-test or an e-stop each refuse, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.device import DeviceError
from hal.handle import HandleStatus
from hal.imaging import ExposureHandle
from hal.room_interlocks import RoomInterlocks


@dataclass(frozen=True, slots=True)
class GateDecision:
    allowed: bool
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


class ExposureGate:
    def __init__(self, interlocks: RoomInterlocks) -> None:
        self.interlocks = interlocks
        self._lockout: str | None = None
        self._estop: str | None = None
        self.refusals = 0

    def lock_out(self, reason: str) -> None:
        self._lockout = reason

    def set_estop(self, reason: str | None) -> None:
        self._estop = reason

    def check(self) -> GateDecision:
        reasons: list[str] = []
        if self._estop:
            reasons.append(f"e-stop: {self._estop}")
        if self._lockout:
            reasons.append(f"locked out: {self._lockout}")
        try:
            reasons.extend(self.interlocks.state().reasons())
        except DeviceError as exc:  # an interlock we cannot read is an open one
            reasons.append(f"interlocks unreadable: {exc.reason}")
        if reasons:
            self.refusals += 1
        return GateDecision(not reasons, tuple(reasons))

    def permit(self) -> str | None:
        """The `hal.imaging.Permit` form, handed to the generator for its own per-poll check."""
        decision = self.check()
        return None if decision.allowed else decision.reason

    def supervise(self, handle: ExposureHandle) -> HandleStatus:
        """One tick of an exposure: gate first, release at once when it refuses, then poll."""
        decision = self.check()
        if not decision.allowed:
            handle.release(f"exposure gate: {decision.reason}")
        return handle.poll()
