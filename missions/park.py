"""Park: clear the corridors for a building alarm — drive to a safe parking spot and hold there
until the alarm is cleared (DOMAIN.md §7: fire alarm → every robot clears the corridors).

Runs above every other mission (the runner pre-empts and re-queues the interrupted one) and is
not interrupted for the battery reserve: a safe spot that is a dock charges the robot anyway.
After a restart it is not resumed: the fleet sends a new one if the alarm is still on.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from missions.base import Mission
from missions.timing import Attempts, Deadline, OpStatus, navigation_attempts


class Step(enum.Enum):
    NAVIGATE = "navigate"
    HOLD = "hold"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [Step.NAVIGATE, Step.HOLD]

# trigger      source          destination
STEP_TABLE = (
    ("parked",   Step.NAVIGATE,  Step.HOLD),
    ("cleared",  WORKING,        Step.DONE),       # the alarm was cleared (also while still driving)
    ("fault",    Step.NAVIGATE,  Step.HOLD),       # spot unreachable: stop where it is, out of the way
    ("fault",    Step.HOLD,      Step.ABANDONED),
    ("abandon",  WORKING,        Step.ABANDONED),
    ("restart",  WORKING,        "="),
)  # fmt: skip


class ParkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    place: str = Field(min_length=1, description="the safe parking spot (a named place)")
    reason: str = Field(default="fire alarm", min_length=1, max_length=200)
    nav_timeout_s: float = Field(default=600.0, gt=0)
    nav_attempts: int = Field(default=2, ge=1, le=10)
    max_hold_s: float = Field(default=8 * 3600.0, gt=0)


class Park(Mission):
    kind = "park"
    Params = ParkParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.NAVIGATE
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})
    resumable_after_restart = False

    params: ParkParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._nav: Attempts[Any] | None = None
        self._hold_deadline: Deadline | None = None
        self._parked_at: str | None = None

    def _on_step_start(self, step: enum.Enum) -> None:
        self._nav = None
        if step is Step.HOLD and self._hold_deadline is None:
            self._hold_deadline = Deadline.after(self.ctx.clock.now_s(), self.params.max_hold_s)

    def _advance(self, now_s: float) -> None:
        if not self.ctx.site.fire_alarm_active:
            self._go("cleared")
            self._succeed()
            return
        if self.step is Step.NAVIGATE:
            self._navigate(now_s)
        elif self.step is Step.HOLD and self._hold_deadline is not None and self._hold_deadline.expired(now_s):
            self._step_fault(f"alarm not cleared within {self.params.max_hold_s:g} s: still holding needs a person")

    def _navigate(self, now_s: float) -> None:
        if self._nav is None:
            navigator = self._require(self.ctx.devices.navigator, "navigator")
            self._nav = navigation_attempts(navigator, self.params.place, timeout_s=self.params.nav_timeout_s,
                                            max_attempts=self.params.nav_attempts, retry_wait_s=2.0)
            self._op = self._nav
        status = self._nav.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._parked_at = self.params.place
            self._go("parked")
        elif status is OpStatus.FAILED:
            self._parked_at = "where it stopped"
            self._step_fault(f"could not reach {self.params.place}: {self._nav.reason}; holding where it stopped")

    def _progress_fraction(self) -> float:
        progress = {Step.NAVIGATE: 0.0, Step.HOLD: 0.5, Step.DONE: 1.0}
        return progress.get(Step(self.step.value), 0.0)

    def _result_data(self) -> dict[str, Any]:
        return {"place": self.params.place, "parked_at": self._parked_at, "reason": self.params.reason}


MISSIONS = (Park,)
