"""What the two meal missions share: the bed and order models and the common fields of their params
(`MealParams`), and the bed loop (`MealMission`: polling, navigation, wristband check, going home).
The missions themselves are `missions.meal_orders` (take each patient's order, send the list to
the kitchen) and `missions.meal_delivery` (deliver by drawer)."""

from __future__ import annotations

import enum
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

from pydantic import Field

from missions.base import Mission
from missions.nursing import bedside
from missions.nursing.beds import BedVisit
from missions.nursing.menu import DIETS
from missions.timing import Attempts, OpStatus

_DIET = "^(" + "|".join(DIETS) + ")$"
MEAL_PATTERN = "^(breakfast|lunch|dinner)$"


class MealBed(BedVisit):
    diet: str = Field(pattern=_DIET)


class MealOrder(MealBed):
    dish: str = Field(min_length=1, max_length=64)


class MealParams(bedside.BedsideTuning):
    """The params both meal missions take besides their list of beds or orders."""

    meal: str = Field(pattern=MEAL_PATTERN)
    kitchen_place: str = Field(default="kitchen", min_length=1)


class MealMission(Mission):
    """The shared bed loop: operation polling, navigation, wristband check and the way home.

    A subclass names the bed in hand through `_current()`; a fault's reason is kept in `_problem`
    (the first one wins) for the bed's record."""

    params: MealParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attempt: Attempts[Any] | None = None
        self._wristband: bedside.WristbandCheck | None = None
        self._problem: str | None = None

    @abstractmethod
    def _current(self) -> MealBed:
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

    def _nav(self, now_s: float, place: str, tuning: bedside.BedsideTuning) -> bool:
        return self._poll(now_s, lambda: bedside.go_to(self.ctx, place, tuning), "navigation failed") is not None

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
        if not self.params.return_to_dock or self._nav(now_s, self.ctx.home_dock, self.params):
            self._go("home")
            self._succeed()
