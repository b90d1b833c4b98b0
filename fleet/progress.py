"""What a robot's report of progress means for a task, per mission kind.

Two facts decide how an interrupted task is re-queued:

* **Divisible work** (a round over beds): the task's list parameter is split by item, and each item
  the robot reports done (a committed clinical record, a bed skipped with its reason) is kept in
  `Task.done_items`. A re-dispatch — to the same robot or another — sends only the rest, so no bed
  is measured twice.
* **Custody** (drugs, meals or supplies loaded in the robot's drawers): from the moment the robot
  reports the load, the task cannot move to another robot — the goods are physically in this one.
  If that robot is lost, the task fails with the reason and an alert (the pharmacy recovers the
  drawer); it is never re-sent, so nothing is handed out twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ListProgress:
    #: the params key holding the list of items
    list_key: str
    #: the key of an item that names it (matches the event's bed_ref)
    item_key: str
    #: events whose data.bed_ref marks that item done
    done_events: frozenset[str]


DIVISIBLE: dict[str, ListProgress] = {
    "nursing_round": ListProgress("beds", "bed_id", frozenset({"clinical.record", "patient.skipped"})),
    "nursing_inquiry": ListProgress("beds", "bed_id", frozenset({"clinical.record"})),
}

#: mission kind -> the step event after which the load is aboard
CUSTODY_STEPS: dict[str, frozenset[str]] = {
    "medication_round": frozenset({"custody.load"}),
    "meal_delivery": frozenset({"custody.load"}),
    "supply_delivery": frozenset({"custody.loaded"}),
    "sample_pickup": frozenset({"handover"}),
}


def done_item(kind: str, body: dict[str, Any]) -> str | None:
    """The item an events body reports done for a task of `kind`, or None."""
    rule = DIVISIBLE.get(kind)
    if rule is None or body.get("event") not in rule.done_events:
        return None
    ref = (body.get("data") or {}).get("bed_ref")
    return str(ref) if ref else None


def loads_custody(kind: str, body: dict[str, Any]) -> bool:
    steps = CUSTODY_STEPS.get(kind)
    return steps is not None and body.get("event") == "mission.step" and body.get("step") in steps


def remaining_params(kind: str, params: dict[str, Any], done: list[str]) -> dict[str, Any]:
    """The params of a re-dispatch: the items not yet done (all params unchanged otherwise)."""
    rule = DIVISIBLE.get(kind)
    if rule is None or not done:
        return params
    items = params.get(rule.list_key)
    if not isinstance(items, list):
        return params
    finished = set(done)
    return {**params, rule.list_key: [i for i in items if not (isinstance(i, dict)
                                                                and str(i.get(rule.item_key)) in finished)]}


def items_left(kind: str, params: dict[str, Any], done: list[str]) -> int | None:
    """How many items remain (None for indivisible work)."""
    rule = DIVISIBLE.get(kind)
    if rule is None:
        return None
    items = remaining_params(kind, params, done).get(rule.list_key)
    return len(items) if isinstance(items, list) else None
