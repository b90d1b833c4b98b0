"""What the two meal missions share: the bed and order models of their params, and the bed loop's
polling helpers (`MealMission`). The missions themselves are `missions.meal_orders` (take each
patient's order, send the list to the kitchen) and `missions.meal_delivery` (deliver by drawer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from missions.base import Mission
from missions.nursing import bedside
from missions.nursing.menu import DIETS
from missions.timing import Attempts, OpStatus

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"
_REF = r"^pt-[0-9a-f]{6,32}$"
_DIET = "^(" + "|".join(DIETS) + ")$"
MEAL_PATTERN = "^(breakfast|lunch|dinner)$"


class MealBed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    bed_id: str = Field(min_length=1, max_length=64, pattern=_ID)
    place: str = Field(min_length=1, max_length=128)
    patient_ref: str = Field(pattern=_REF)
    diet: str = Field(pattern=_DIET)


class MealOrder(MealBed):
    dish: str = Field(min_length=1, max_length=64)


class MealMission(Mission):
    """Shared bed loop helpers (navigation, wristband, question/hand-over polling)."""

    _attempt: Attempts[Any] | None

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
