"""Ward stock: levels after a delivery, reorder suggestions below the reorder point, and the
purchasing plan that sums the suggestions per item.

A line is below its reorder point when ``on_hand < reorder_point``; the suggestion orders up to
the par level (``par_level - on_hand``), the usual two-bin / par-level rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StockLevel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    item: str = Field(min_length=1, max_length=64)
    on_hand: int = Field(ge=0)
    reorder_point: int = Field(ge=0)
    par_level: int = Field(ge=1)

    @model_validator(mode="after")
    def _par_above_reorder(self) -> StockLevel:
        if self.par_level < self.reorder_point:
            raise ValueError(f"{self.item}: par_level {self.par_level} is below reorder_point {self.reorder_point}")
        return self


@dataclass(frozen=True, slots=True)
class ReorderSuggestion:
    ward: str
    item: str
    on_hand: int
    reorder_point: int
    order_quantity: int

    def as_dict(self) -> dict[str, Any]:
        return {"ward": self.ward, "item": self.item, "on_hand": self.on_hand,
                "reorder_point": self.reorder_point, "order_quantity": self.order_quantity}


def apply_delivery(levels: Iterable[StockLevel], delivered: Mapping[str, int]) -> list[StockLevel]:
    """Levels after the delivered quantities are put away (items the ward does not stock are
    added as new lines with no reorder point)."""
    result = []
    seen = set()
    for level in levels:
        seen.add(level.item)
        result.append(level.model_copy(update={"on_hand": level.on_hand + int(delivered.get(level.item, 0))}))
    for item in sorted(set(delivered) - seen):
        qty = int(delivered[item])
        result.append(StockLevel(item=item, on_hand=qty, reorder_point=0, par_level=max(1, qty)))
    return result


def reorder_suggestions(ward: str, levels: Iterable[StockLevel]) -> list[ReorderSuggestion]:
    return [
        ReorderSuggestion(ward, lv.item, lv.on_hand, lv.reorder_point, lv.par_level - lv.on_hand)
        for lv in sorted(levels, key=lambda lv: lv.item)
        if lv.on_hand < lv.reorder_point
    ]


def purchasing_plan(suggestions: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum the latest suggestion per (ward, item) into order quantities per item."""
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for suggestion in suggestions:
        latest[(str(suggestion["ward"]), str(suggestion["item"]))] = suggestion
    per_item: dict[str, dict[str, Any]] = {}
    for (ward, item), suggestion in sorted(latest.items()):
        line = per_item.setdefault(item, {"order_quantity": 0, "wards": []})
        line["order_quantity"] += int(suggestion["order_quantity"])
        line["wards"].append(ward)
    return {
        "lines": len(latest),
        "items": per_item,
        "total_units": sum(int(v["order_quantity"]) for v in per_item.values()),
    }
