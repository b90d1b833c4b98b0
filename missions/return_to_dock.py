"""Return to dock: drive to the dock, then stay until the battery is charged enough to resume work.

A dock that never starts charging ends the mission FAILED "dock not charging" (the commonest
fleet complaint is charging that silently gets stuck); charging that starts but never reaches the
target fails on its own, longer deadline. After a restart this mission is *not* resumed: the
runner sends a fresh one if the battery still needs it.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from missions.base import Mission
from missions.journey import go_to
from missions.timing import Attempts, Deadline, OpStatus


class Step(enum.Enum):
    NAVIGATE = "navigate"
    CHARGE = "charge"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [Step.NAVIGATE, Step.CHARGE]

# trigger      source          destination
STEP_TABLE = (
    ("arrived",  Step.NAVIGATE,  Step.CHARGE),
    ("charged",  Step.CHARGE,    Step.DONE),
    ("fault",    WORKING,        Step.ABANDONED),  # dock unreachable / not charging: mission fails
    ("abandon",  WORKING,        Step.ABANDONED),  # cancelled, or failed elsewhere
    ("restart",  WORKING,        "="),             # after a pause or e-stop, start the step again
)  # fmt: skip


class ReturnToDockParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dock: str | None = Field(default=None, min_length=1, description="named place; default: the home dock")
    resume_soc_fraction: float = Field(default=0.8, gt=0.0, le=1.0)
    nav_timeout_s: float = Field(default=900.0, gt=0)
    nav_attempts: int = Field(default=3, ge=1, le=10)
    nav_retry_wait_s: float = Field(default=5.0, ge=0)
    charge_start_timeout_s: float = Field(default=120.0, gt=0)
    charge_timeout_s: float = Field(default=6 * 3600.0, gt=0)


class ReturnToDock(Mission):
    kind = "return_to_dock"
    Params = ReturnToDockParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.NAVIGATE
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})
    resumable_after_restart = False

    params: ReturnToDockParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._nav: Attempts[Any] | None = None
        self._not_charging_until: Deadline | None = None
        self._charge_deadline: Deadline | None = None
        self._last_soc: float | None = None

    @property
    def dock(self) -> str:
        return self.params.dock or self.ctx.home_dock

    def _on_step_start(self, step: enum.Enum) -> None:
        self._nav = None
        self._not_charging_until = None
        self._charge_deadline = None

    def _advance(self, now_s: float) -> None:
        if self.step is Step.NAVIGATE:
            self._navigate(now_s)
        elif self.step is Step.CHARGE:
            self._charge(now_s)

    def _navigate(self, now_s: float) -> None:
        if self._nav is None:
            self._require(self.ctx.devices.navigator, "navigator")
            self._nav = go_to(self.ctx.devices, self.dock, nav_timeout_s=self.params.nav_timeout_s,
                              nav_attempts=self.params.nav_attempts, nav_retry_wait_s=self.params.nav_retry_wait_s)
            self._op = self._nav
        status = self._nav.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._go("arrived")
        elif status is OpStatus.FAILED:
            self._step_fault(f"could not reach dock {self.dock}: {self._nav.reason}")

    def _charge(self, now_s: float) -> None:
        battery = self._require(self.ctx.devices.battery, "battery")
        if self._charge_deadline is None:
            self._charge_deadline = Deadline.after(now_s, self.params.charge_timeout_s)
        state = battery.state()
        self._last_soc = state.soc_fraction
        if state.soc_fraction >= self.params.resume_soc_fraction:
            self._go("charged")
            self._succeed()
            return
        if state.is_charging:
            self._not_charging_until = None
        else:
            if self._not_charging_until is None:
                self._not_charging_until = Deadline.after(now_s, self.params.charge_start_timeout_s)
            if self._not_charging_until.expired(now_s):
                self._step_fault("dock not charging")
                return
        if self._charge_deadline.expired(now_s):
            self._step_fault(
                f"charging did not reach {self.params.resume_soc_fraction:.0%} within "
                f"{self.params.charge_timeout_s:g} s (at {state.soc_fraction:.0%})"
            )

    def _progress_fraction(self) -> float:
        if self.step is Step.DONE:
            return 1.0
        if self.step is Step.CHARGE and self._last_soc is not None:
            return 0.5 + 0.5 * min(1.0, self._last_soc / self.params.resume_soc_fraction)
        return 0.0

    def _result_data(self) -> dict[str, Any]:
        return {"dock": self.dock, "soc_fraction": self._last_soc}
