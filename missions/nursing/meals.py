"""What the two meal missions share: the bed and order models and the common fields of their params
(`MealParams`), and the bed loop (`MealMission`, the `missions.nursing.bedside_mission` loop over them).
The missions themselves are `missions.meal_orders` (take each patient's order, send the list to
the kitchen) and `missions.meal_delivery` (deliver by drawer)."""

from __future__ import annotations

from abc import abstractmethod

from pydantic import Field

from missions.nursing import bedside
from missions.nursing.beds import BedVisit
from missions.nursing.bedside_mission import BedsideMission
from missions.nursing.menu import DIETS

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


class MealMission(BedsideMission):
    """The bed loop (`BedsideMission`) over meal beds or orders, with the meal params."""

    params: MealParams

    @abstractmethod
    def _current(self) -> MealBed:
        """The bed (or order) the loop is at."""
