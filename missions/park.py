"""Park: clear the corridors for a building alarm — drive to a safe parking spot and hold there
until the alarm is cleared (DOMAIN.md §7: fire alarm → every robot clears the corridors).

Runs above every other mission (the runner pre-empts and re-queues the interrupted one) and is
not interrupted for the battery reserve: a safe spot that is a dock charges the robot anyway.
After a restart it is not resumed: the fleet sends a new one if the alarm is still on.

When the alarm clears, a robot that had nothing to resume (`return_home`) and is not parked at its
own dock drives home before the mission ends: left on the spot, it would stand on another robot's
dock (the fleet parks robots at the nearest free spot), and that robot would wait outside its own
dock at the end of its next mission.
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
    HOLD = "hold"
    GO_HOME = "go_home"  # the alarm cleared and nothing else waits: back to the robot's own dock
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [Step.NAVIGATE, Step.HOLD]

# trigger      source          destination
STEP_TABLE = (
    ("parked",   Step.NAVIGATE,  Step.HOLD),
    ("cleared",  WORKING,        Step.DONE),       # the alarm was cleared (also while still driving)
    ("go_home",  WORKING,        Step.GO_HOME),    # ... with nothing to resume, away from its dock
    ("home",     Step.GO_HOME,   Step.DONE),
    ("fault",    Step.GO_HOME,   Step.ABANDONED),
    ("fault",    Step.NAVIGATE,  Step.HOLD),       # spot unreachable: stop where it is, out of the way
    ("redirect", WORKING,        Step.NAVIGATE),   # a new spot from the fleet (on the floor it is on)
    ("fault",    Step.HOLD,      Step.ABANDONED),
    ("abandon",  [*WORKING, Step.GO_HOME], Step.ABANDONED),
    ("restart",  [*WORKING, Step.GO_HOME], "="),
)  # fmt: skip


class ParkParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    place: str = Field(min_length=1, description="the safe parking spot (a named place)")
    reason: str = Field(default="fire alarm", min_length=1, max_length=200)
    nav_timeout_s: float = Field(default=600.0, gt=0)
    nav_attempts: int = Field(default=2, ge=1, le=10)
    max_hold_s: float = Field(default=8 * 3600.0, gt=0)
    #: drive back to the home dock once the alarm clears (the robot sets it when nothing waits)
    return_home: bool = False


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
        if self.step is Step.GO_HOME:
            self._go_home(now_s)
            return
        if not self.ctx.site.fire_alarm_active:
            if self.params.return_home and self._parked_at != self.ctx.home_dock:
                self._go("go_home")
                return
            self._go("cleared")
            self._succeed()
            return
        if self.step is Step.NAVIGATE:
            self._navigate(now_s)
        elif self.step is Step.HOLD and self._hold_deadline is not None and self._hold_deadline.expired(now_s):
            self._step_fault(f"alarm not cleared within {self.params.max_hold_s:g} s: still holding needs a person")

    def _navigate(self, now_s: float) -> None:
        status = self._drive(now_s, self.params.place)
        if status is OpStatus.SUCCEEDED:
            self._parked_at = self.params.place
            self._go("parked")
        elif status is OpStatus.FAILED:
            self._parked_at = "where it stopped"
            self._step_fault(f"could not reach {self.params.place}: {self._reason()}; holding where it stopped")

    def _drive(self, now_s: float, place: str) -> OpStatus:
        """The step's drive to `place`, started on its first poll. By `go_to`: a robot still in a
        lift car (its ride pre-empted by the alarm) drives out first."""
        if self._nav is None:
            self._require(self.ctx.devices.navigator, "navigator")
            self._nav = go_to(self.ctx.devices, place, nav_timeout_s=self.params.nav_timeout_s,
                              nav_attempts=self.params.nav_attempts, nav_retry_wait_s=2.0)
            self._op = self._nav
        return self._nav.poll(now_s)

    def _reason(self) -> str | None:
        return self._nav.reason if self._nav is not None else None

    def redirect(self, place: str) -> bool:
        """Park at `place` instead — the fleet's new spot for a robot that reached another floor
        than its first spot's (a lift car recalled with it inside). False once parked at its spot
        or past the alarm."""
        if self.step not in WORKING or place == self.params.place:
            return False
        if self.step is Step.HOLD and self._parked_at == self.params.place:
            return False
        self.params.place = place
        self._go("redirect")
        return True

    def _go_home(self, now_s: float) -> None:
        status = self._drive(now_s, self.ctx.home_dock)
        if status is OpStatus.SUCCEEDED:
            self._parked_at = self.ctx.home_dock
            self._go("home")
            self._succeed()
        elif status is OpStatus.FAILED:
            self._step_fault(f"alarm cleared, but could not drive back to {self.ctx.home_dock}: {self._reason()}")

    def _progress_fraction(self) -> float:
        progress = {Step.NAVIGATE: 0.0, Step.HOLD: 0.5, Step.GO_HOME: 0.9, Step.DONE: 1.0}
        return progress.get(Step(self.step.value), 0.0)

    def _result_data(self) -> dict[str, Any]:
        return {"place": self.params.place, "parked_at": self._parked_at, "reason": self.params.reason}


MISSIONS = (Park,)
