"""Meal menu and diet rules: which dishes each diet allows; nil by mouth gets nothing.

A diabetic diet allows only dishes marked suitable (controlled carbohydrate); a soft diet only
soft dishes. The robot offers only the allowed dishes, so a patient cannot order against their
diet on the terminal; the kitchen still checks the list it receives.
"""

from __future__ import annotations

from dataclasses import dataclass

DIETS = ("standard", "diabetic", "soft", "nil_by_mouth")
NIL_BY_MOUTH = "nil_by_mouth"


@dataclass(frozen=True, slots=True)
class Dish:
    name: str
    meals: tuple[str, ...]
    diabetic_ok: bool
    soft: bool


MENU: tuple[Dish, ...] = (
    Dish("porridge", ("breakfast",), True, True),
    Dish("scrambled_eggs_toast", ("breakfast",), True, False),
    Dish("pastry_and_jam", ("breakfast",), False, False),
    Dish("yoghurt_fruit", ("breakfast", "lunch", "dinner"), True, True),
    Dish("chicken_vegetables", ("lunch", "dinner"), True, False),
    Dish("fish_pie", ("lunch", "dinner"), True, True),
    Dish("vegetable_soup", ("lunch", "dinner"), True, True),
    Dish("pasta_bake", ("lunch", "dinner"), False, True),
    Dish("sponge_pudding", ("lunch", "dinner"), False, True),
)


def allowed_dishes(meal: str, diet: str) -> tuple[str, ...]:
    """The dishes a patient on `diet` may choose for `meal`, in menu order (empty: nil by mouth)."""
    if diet not in DIETS:
        raise ValueError(f"unknown diet {diet!r}; known: {', '.join(DIETS)}")
    if diet == NIL_BY_MOUTH:
        return ()
    return tuple(
        d.name for d in MENU
        if meal in d.meals and (diet != "diabetic" or d.diabetic_ok) and (diet != "soft" or d.soft)
    )


def dish_allowed(dish: str, meal: str, diet: str) -> bool:
    return dish in allowed_dishes(meal, diet)
