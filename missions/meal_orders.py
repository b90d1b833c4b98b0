"""Meal orders (`meal_orders`): take each patient's order on the terminal and send the list to the
kitchen.

Per bed: NAVIGATE → IDENTIFY (wristband) → ORDER (only the dishes the patient's diet allows are
offered; nil by mouth is never asked and gets no meal; no answer twice → the first allowed dish,
marked defaulted) → COMMIT; then GO_KITCHEN and SEND the order list (journaled, then a
``kitchen.order`` event); an unreachable kitchen still gets the list, flagged. The meals are
delivered later by `missions.meal_delivery`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field

from hal.clock import iso_utc
from hal.patient_terminal import Question, TerminalAnswer
from missions import events as ev
from missions.journal import CommittedStep
from missions.nursing import bedside
from missions.nursing.meals import MealBed, MealMission, MealParams
from missions.nursing.menu import NIL_BY_MOUTH, allowed_dishes


class OrderStep(enum.Enum):
    CHOOSE_BED = "choose_bed"
    NAVIGATE = "navigate"
    IDENTIFY = "identify"
    ORDER = "order"
    SKIP_BED = "skip_bed"
    GO_KITCHEN = "go_kitchen"
    SEND = "send"
    RETURN_HOME = "return_home"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [s for s in OrderStep if s not in (OrderStep.DONE, OrderStep.ABANDONED)]

# trigger         source                                             destination
STEP_TABLE = (
    ("next_bed",    OrderStep.CHOOSE_BED,                                OrderStep.NAVIGATE),
    ("all_done",    OrderStep.CHOOSE_BED,                                OrderStep.GO_KITCHEN),
    ("arrived",     OrderStep.NAVIGATE,                                  OrderStep.IDENTIFY),
    ("identified",  OrderStep.IDENTIFY,                                  OrderStep.ORDER),
    ("committed",   [OrderStep.ORDER, OrderStep.SKIP_BED],               OrderStep.CHOOSE_BED),
    ("arrived",     OrderStep.GO_KITCHEN,                                OrderStep.SEND),
    ("sent",        OrderStep.SEND,                                      OrderStep.RETURN_HOME),
    ("home",        OrderStep.RETURN_HOME,                               OrderStep.DONE),
    ("fault",       [OrderStep.NAVIGATE, OrderStep.IDENTIFY, OrderStep.ORDER], OrderStep.SKIP_BED),
    ("fault",       OrderStep.GO_KITCHEN,                                OrderStep.SEND),  # sent from here
    ("fault",       [OrderStep.CHOOSE_BED, OrderStep.SKIP_BED, OrderStep.SEND, OrderStep.RETURN_HOME],
                                                                         OrderStep.ABANDONED),
    ("abandon",     WORKING,                                             OrderStep.ABANDONED),
    ("restart",     WORKING,                                             "="),
)  # fmt: skip


class MealOrdersParams(MealParams):
    beds: list[MealBed] = Field(min_length=1, max_length=200)


class MealOrders(MealMission):
    kind = "meal_orders"
    Params = MealOrdersParams
    Step = OrderStep
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = OrderStep.CHOOSE_BED
    FINAL_STEPS = frozenset({OrderStep.DONE, OrderStep.ABANDONED})
    resumable_after_restart = True

    params: MealOrdersParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._done: dict[str, dict[str, Any]] = {}
        self._bed: MealBed | None = None
        self._asked_twice = False
        self._kitchen_reached = True
        self._sent = False

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        return {
            OrderStep.CHOOSE_BED: self._choose, OrderStep.NAVIGATE: self._navigate,
            OrderStep.IDENTIFY: self._identify, OrderStep.ORDER: self._order, OrderStep.SKIP_BED: self._skip,
            OrderStep.GO_KITCHEN: self._go_kitchen, OrderStep.SEND: self._send,
            OrderStep.RETURN_HOME: self._home,
        }

    def _advance(self, now_s: float) -> None:
        self._step_handler()(now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        super()._on_step_start(step)
        self._asked_twice = False

    def _on_fault(self, reason: str) -> None:
        if self.step is OrderStep.GO_KITCHEN:
            self._kitchen_reached = False
        super()._on_fault(reason)

    def _choose(self, now_s: float) -> None:
        for bed in self.params.beds:
            if bed.bed_id in self._done:
                continue
            if bed.diet == NIL_BY_MOUTH:  # never asked: offering food would be the error
                self._record(bed, {"outcome": "nil_by_mouth", "bed_id": bed.bed_id, "patient_ref": bed.patient_ref,
                                   "diet": bed.diet, "dish": None})
                continue
            self._bed, self._problem = bed, None
            self._go("next_bed")
            return
        self._go("all_done")

    def _order(self, now_s: float) -> None:
        bed = self._current()
        dishes = allowed_dishes(self.params.meal, bed.diet)
        question = Question("meal_choice", f"What would you like for {self.params.meal}?", dishes)
        answer = self._poll(now_s, lambda: bedside.ask(self.ctx, question, self.params), "terminal")
        if answer is None:
            return
        assert isinstance(answer, TerminalAnswer)
        if answer.choice is None and not self._asked_twice:
            self._asked_twice, self._attempt, self._op = True, None, None
            return
        dish = answer.choice if answer.choice in dishes else dishes[0]
        self._record(bed, {"outcome": "ordered", "bed_id": bed.bed_id, "patient_ref": bed.patient_ref,
                           "diet": bed.diet, "dish": dish, "defaulted": answer.choice is None})
        self._go("committed")

    def _skip(self, now_s: float) -> None:
        bed = self._current()
        reason = self._problem or "not identified"
        self._record(bed, {"outcome": "skipped", "bed_id": bed.bed_id, "patient_ref": bed.patient_ref,
                           "diet": bed.diet, "dish": None, "reason": reason, "alerts": [bedside.alert(
                               f"{self.mission_id}.{bed.bed_id}.meal", ev.Severity.LOW, "meal",
                               bedside.where(self.ctx, bed.place),
                               f"Bed {bed.bed_id}: no {self.params.meal} order taken ({reason})",
                               bed_ref=bed.bed_id)]})
        self._go("committed")

    def _go_kitchen(self, now_s: float) -> None:
        if self._sent or self._nav(now_s, self.params.kitchen_place, self.params):
            self._go("arrived")

    def _send(self, now_s: float) -> None:
        if self._sent:  # sent before a restart: never twice
            self._go("sent")
            return
        orders = [{k: d[k] for k in ("bed_id", "patient_ref", "diet", "dish")}
                  for d in self._done.values() if d["outcome"] == "ordered"]
        self._commit("kitchen", {"meal": self.params.meal, "orders": orders, "sent_at": iso_utc(now_s),
                                 "robot_at_kitchen": self._kitchen_reached})
        self._sent = True
        self._go("sent")

    def _record(self, bed: MealBed, data: dict[str, Any]) -> None:
        self._done[bed.bed_id] = data
        self._commit(f"bed:{bed.bed_id}", data)
        self._bed = None

    def _publish(self, step: str, data: dict[str, Any]) -> None:
        if step == "kitchen":
            self._emit(ev.MISSION_STEP, step="kitchen.order", data=dict(data))
        for item in data.get("alerts", []):
            self._emit(ev.ALERT, step="skip_bed", reason=item["summary"], data=dict(item))

    def _restore(self, committed: Sequence[CommittedStep]) -> None:
        for item in committed:
            if item.step.startswith("bed:"):
                self._done[item.step.removeprefix("bed:")] = item.data
            elif item.step == "kitchen":
                self._sent = True

    def _progress_fraction(self) -> float:
        return len(self._done) / len(self.params.beds)

    def _result_data(self) -> dict[str, Any]:
        return {"meal": self.params.meal, "sent_to_kitchen": self._sent,
                "orders": {b: d["dish"] for b, d in self._done.items() if d["outcome"] == "ordered"},
                "nil_by_mouth": [b for b, d in self._done.items() if d["outcome"] == "nil_by_mouth"],
                "skipped": [{"bed_id": b, "reason": d.get("reason")} for b, d in self._done.items()
                            if d["outcome"] == "skipped"]}

    def _current(self) -> MealBed:
        assert self._bed is not None
        return self._bed


MISSIONS = (MealOrders,)
