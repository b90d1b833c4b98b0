"""The bed loop every bedside mission that visits beds one by one shares (`BedsideMission`):
operation polling, navigation to the bed, the wristband check and the way home. The missions
(`missions.nursing_inquiry`, and through `missions.nursing.meals.MealMission` the two meal
missions) keep their own steps, tables and records."""

from __future__ import annotations

import enum
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from missions.base import Mission
from missions.nursing import bedside
from missions.nursing.beds import BedVisit
from missions.timing import Attempts, OpStatus


class BedsideMission(Mission):
    """The shared bed loop. A subclass names the bed in hand through `_current()` and wires
    `_navigate`, `_identify` and `_home` to its NAVIGATE, IDENTIFY and RETURN_HOME steps (triggers
    `arrived`, `identified`, `home`); a fault's reason is kept in `_problem` (the first one wins)
    for the bed's record."""

    params: bedside.BedsideTuning

    # how a failed way home reads in the mission's failure reason
    HOME_FAULT: ClassVar[str] = "navigation failed"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attempt: Attempts[Any] | None = None
        self._wristband: bedside.WristbandCheck | None = None
        self._problem: str | None = None

    @abstractmethod
    def _current(self) -> BedVisit:
        """The bed (or order) the loop is at."""

    def _on_step_start(self, step: enum.Enum) -> None:
        self._attempt, self._wristband = None, None

    def _on_fault(self, reason: str) -> None:
        self._problem = self._problem or reason

    def _track(self, attempt: Attempts[Any]) -> Attempts[Any]:
        self._op = attempt
        return attempt

    def _poll(self, now_s: float, make: Callable[[], Attempts[Any]], what: str) -> Any | None:
        """Run one operation; its result once done, None while running (a failure takes `fault`)."""
        if self._attempt is None:
            self._attempt = self._track(make())
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"{what}: {self._attempt.reason}")
            return None
        return self._attempt.result if status is OpStatus.SUCCEEDED else None

    def _nav(
        self, now_s: float, place: str, tuning: bedside.BedsideTuning, what: str = "navigation failed"
    ) -> bool:
        return self._poll(now_s, lambda: bedside.go_to(self.ctx, place, tuning), what) is not None

    def _navigate(self, now_s: float) -> None:
        if self._nav(now_s, self._current().place, self.params):
            self._go("arrived")

    def _identify(self, now_s: float) -> None:
        if self._wristband is None:
            self._wristband = bedside.WristbandCheck(self.ctx, self._current().patient_ref, self.params)
        outcome = self._wristband.poll(now_s)
        if outcome is not None:
            self._go("identified") if outcome[0] else self._step_fault(outcome[1])

    def _home(self, now_s: float) -> None:
        if not self.params.return_to_dock or self._nav(now_s, self.ctx.home_dock, self.params, self.HOME_FAULT):
            self._go("home")
            self._succeed()
