"""Meal service: take each patient's order on the terminal, send the list to the kitchen, and
later deliver the meals by drawer.

`meal_orders` — per bed: NAVIGATE → IDENTIFY (wristband) → ORDER (only the dishes the patient's
diet allows are offered; nil by mouth is never asked and gets no meal; no answer twice → the
first allowed dish, marked defaulted) → COMMIT; then GO_KITCHEN and SEND the order list (journaled,
then a ``kitchen.order`` event); an unreachable kitchen still gets the list, flagged.

`meal_delivery` — GO_KITCHEN → LOAD (kitchen staff badge; one drawer per patient) → per patient:
NAVIGATE → IDENTIFY → SERVE (diet re-checked: a patient now nil by mouth gets nothing; then that
patient's drawer is unlocked) → CONFIRM on the terminal → SECURE (lock, commit); then GO_BACK to
the kitchen with anything not served (``returned``), and home. Every hand-out is committed before
its drawer unlocks; a restart between the two never opens it again (the meal is marked
"check").
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hal.badge_reader import BadgeScan
from hal.clock import iso_utc
from hal.device import DeviceError
from hal.patient_terminal import HandOver, HandOverOutcome, PatientTerminal, Question, TerminalAnswer
from missions import events as ev
from missions.base import Mission
from missions.journal import CommittedStep
from missions.nursing import bedside
from missions.nursing.menu import DIETS, NIL_BY_MOUTH, allowed_dishes
from missions.timing import Attempts, OpStatus

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"
_REF = r"^pt-[0-9a-f]{6,32}$"
_DIET = "^(" + "|".join(DIETS) + ")$"
_MEAL = "^(breakfast|lunch|dinner)$"


class MealBed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    bed_id: str = Field(min_length=1, max_length=64, pattern=_ID)
    place: str = Field(min_length=1, max_length=128)
    patient_ref: str = Field(pattern=_REF)
    diet: str = Field(pattern=_DIET)


class MealOrder(MealBed):
    dish: str = Field(min_length=1, max_length=64)


class _Base(Mission):
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


# ==== taking the orders ===========================================================================


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


_ORDER_WORKING = [s for s in OrderStep if s not in (OrderStep.DONE, OrderStep.ABANDONED)]

# trigger         source                                             destination
ORDER_TABLE = (
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
    ("abandon",     _ORDER_WORKING,                                      OrderStep.ABANDONED),
    ("restart",     _ORDER_WORKING,                                      "="),
)  # fmt: skip


class MealOrdersParams(bedside.BedsideTuning):
    meal: str = Field(pattern=_MEAL)
    beds: list[MealBed] = Field(min_length=1, max_length=200)
    kitchen_place: str = Field(default="kitchen", min_length=1)


class MealOrders(_Base):
    kind = "meal_orders"
    Params = MealOrdersParams
    Step = OrderStep
    STEP_TABLE = ORDER_TABLE
    INITIAL_STEP = OrderStep.CHOOSE_BED
    FINAL_STEPS = frozenset({OrderStep.DONE, OrderStep.ABANDONED})
    resumable_after_restart = True

    params: MealOrdersParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._done: dict[str, dict[str, Any]] = {}
        self._bed: MealBed | None = None
        self._attempt: Attempts[Any] | None = None
        self._wristband: bedside.WristbandCheck | None = None
        self._asked_twice = False
        self._problem: str | None = None
        self._kitchen_reached = True
        self._sent = False

    def _advance(self, now_s: float) -> None:
        handler: dict[enum.Enum, Callable[[float], None]] = {
            OrderStep.CHOOSE_BED: self._choose, OrderStep.NAVIGATE: self._navigate,
            OrderStep.IDENTIFY: self._identify, OrderStep.ORDER: self._order, OrderStep.SKIP_BED: self._skip,
            OrderStep.GO_KITCHEN: self._go_kitchen, OrderStep.SEND: self._send,
            OrderStep.RETURN_HOME: self._home,
        }
        handler[self.step](now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        self._attempt, self._wristband, self._asked_twice = None, None, False

    def _on_fault(self, reason: str) -> None:
        if self.step is OrderStep.GO_KITCHEN:
            self._kitchen_reached = False
        self._problem = self._problem or reason

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

    def _navigate(self, now_s: float) -> None:
        if self._nav(now_s, self._current().place, self.params):
            self._go("arrived")

    def _identify(self, now_s: float) -> None:
        if self._wristband is None:
            self._wristband = bedside.WristbandCheck(self.ctx, self._current().patient_ref, self.params)
        outcome = self._wristband.poll(now_s)
        if outcome is not None:
            self._go("identified") if outcome[0] else self._step_fault(outcome[1])

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

    def _home(self, now_s: float) -> None:
        if not self.params.return_to_dock or self._nav(now_s, self.ctx.home_dock, self.params):
            self._go("home")
            self._succeed()

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


# ==== delivering the meals ========================================================================


class DeliveryStep(enum.Enum):
    GO_KITCHEN = "go_kitchen"
    LOAD = "load"
    CHOOSE = "choose"
    NAVIGATE = "navigate"
    IDENTIFY = "identify"
    SERVE = "serve"
    CONFIRM = "confirm"
    SECURE = "secure"
    NOT_SERVED = "not_served"
    GO_BACK = "go_back"
    RETURN_HOME = "return_home"
    DONE = "done"
    ABANDONED = "abandoned"


_DELIVERY_WORKING = [s for s in DeliveryStep if s not in (DeliveryStep.DONE, DeliveryStep.ABANDONED)]
D = DeliveryStep

# trigger         source                                  destination
DELIVERY_TABLE = (
    ("arrived",     D.GO_KITCHEN,                             D.LOAD),
    ("loaded",      [D.GO_KITCHEN, D.LOAD],                   D.CHOOSE),
    ("next",        D.CHOOSE,                                 D.NAVIGATE),
    ("all_done",    D.CHOOSE,                                 D.GO_BACK),
    ("arrived",     D.NAVIGATE,                               D.IDENTIFY),
    ("identified",  D.IDENTIFY,                               D.SERVE),
    ("unlocked",    D.SERVE,                                  D.CONFIRM),
    ("withhold",    D.SERVE,                                  D.NOT_SERVED),
    ("answered",    D.CONFIRM,                                D.SECURE),
    ("recorded",    [D.SECURE, D.NOT_SERVED],                 D.CHOOSE),
    ("returned",    D.GO_BACK,                                D.RETURN_HOME),
    ("home",        D.RETURN_HOME,                            D.DONE),
    ("fault",       [D.NAVIGATE, D.IDENTIFY, D.SERVE],        D.NOT_SERVED),
    ("fault",       D.CONFIRM,                                D.SECURE),
    ("fault",       [D.SECURE, D.GO_BACK],                    D.RETURN_HOME),
    ("fault",       [D.GO_KITCHEN, D.LOAD, D.CHOOSE, D.NOT_SERVED, D.RETURN_HOME], D.ABANDONED),
    ("abandon",     _DELIVERY_WORKING,                        D.ABANDONED),
    ("restart",     _DELIVERY_WORKING,                        "="),
)  # fmt: skip


class MealDeliveryParams(bedside.BedsideTuning):
    meal: str = Field(pattern=_MEAL)
    orders: list[MealOrder] = Field(min_length=1, max_length=50)
    kitchen_place: str = Field(default="kitchen", min_length=1)
    badge_timeout_s: float = Field(default=600.0, gt=0)
    confirm_timeout_s: float = Field(default=300.0, gt=0)


class MealDelivery(_Base):
    kind = "meal_delivery"
    Params = MealDeliveryParams
    Step = DeliveryStep
    STEP_TABLE = DELIVERY_TABLE
    INITIAL_STEP = D.GO_KITCHEN
    FINAL_STEPS = frozenset({D.DONE, D.ABANDONED})
    resumable_after_restart = True

    params: MealDeliveryParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._drawers: dict[str, str] = {}  # bed → drawer, once loaded
        self._handed: set[str] = set()  # hand-outs committed (before the unlock)
        self._done: dict[str, dict[str, Any]] = {}
        self._order: MealOrder | None = None
        self._attempt: Attempts[Any] | None = None
        self._wristband: bedside.WristbandCheck | None = None
        self._problem: str | None = None
        self._hand_over: HandOver | None = None
        self._back = False

    def _advance(self, now_s: float) -> None:
        handler: dict[enum.Enum, Callable[[float], None]] = {
            D.GO_KITCHEN: self._go_kitchen, D.LOAD: self._load, D.CHOOSE: self._choose, D.NAVIGATE: self._navigate,
            D.IDENTIFY: self._identify, D.SERVE: self._serve, D.CONFIRM: self._confirm, D.SECURE: self._secure,
            D.NOT_SERVED: self._not_served, D.GO_BACK: self._go_back, D.RETURN_HOME: self._home,
        }
        handler[self.step](now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        self._attempt, self._wristband = None, None
        if step is D.ABANDONED:
            for bed in [b for b in self._handed if b not in self._done]:
                with_lock = self._lock(self._drawers[bed])
                self._record(bed, "check", f"stopped before receipt was confirmed{with_lock}")

    def _on_fault(self, reason: str) -> None:
        self._problem = self._problem or reason

    def _go_kitchen(self, now_s: float) -> None:
        if self._drawers:
            self._go("loaded")
        elif self._nav(now_s, self.params.kitchen_place, self.params):
            self._go("arrived")

    def _load(self, now_s: float) -> None:
        scan = self._poll(now_s, lambda: bedside.authenticate(
            self.ctx, "kitchen", f"load {self.params.meal}", timeout_s=self.params.badge_timeout_s), "kitchen badge")
        if scan is None:
            return
        assert isinstance(scan, BadgeScan)
        if not scan.granted:
            self._step_fault(f"kitchen staff not authenticated: {scan.reason}")
            return
        drawer = self._require(self.ctx.devices.drawer, "drawer")
        free = drawer.drawer_ids()
        loaded = {}
        for order in self.params.orders:
            if order.diet == NIL_BY_MOUTH or not free:
                continue
            drawer_id = free.pop(0)
            drawer.unlock(drawer_id, authorised_by=str(scan.staff_ref))
            drawer.lock(drawer_id)
            loaded[order.bed_id] = drawer_id
        self._commit("load", {"drawers": loaded, "kitchen_staff_ref": scan.staff_ref})
        self._go("loaded")

    def _choose(self, now_s: float) -> None:
        for bed in [b for b in self._handed if b not in self._done]:  # a restart before receipt
            self._record(bed, "check", f"interrupted before receipt was confirmed{self._lock(self._drawers[bed])}")
        for order in self.params.orders:
            if order.bed_id in self._done:
                continue
            if order.bed_id not in self._drawers:
                self._record(order.bed_id, "not_served",
                             "nil by mouth" if order.diet == NIL_BY_MOUTH else "no free drawer")
                continue
            self._order, self._problem, self._hand_over = order, None, None
            self._go("next")
            return
        self._go("all_done")

    def _navigate(self, now_s: float) -> None:
        if self._nav(now_s, self._current().place, self.params):
            self._go("arrived")

    def _identify(self, now_s: float) -> None:
        if self._wristband is None:
            self._wristband = bedside.WristbandCheck(self.ctx, self._current().patient_ref, self.params)
        outcome = self._wristband.poll(now_s)
        if outcome is not None:
            self._go("identified") if outcome[0] else self._step_fault(outcome[1])

    def _serve(self, now_s: float) -> None:
        order = self._current()
        if order.dish not in allowed_dishes(self.params.meal, order.diet) or order.bed_id in self._handed:
            self._problem = f"{order.dish} not allowed on a {order.diet} diet" if order.bed_id not in self._handed \
                else "already handed out"
            self._go("withhold")
            return
        self._commit(f"handout:{order.bed_id}", {"bed_id": order.bed_id, "at": iso_utc(now_s)})
        self._require(self.ctx.devices.drawer, "drawer").unlock(
            self._drawers[order.bed_id], authorised_by=f"wristband:{order.patient_ref}")
        self._go("unlocked")

    def _confirm(self, now_s: float) -> None:
        order = self._current()
        terminal = self.ctx.devices.require(PatientTerminal)  # type: ignore[type-abstract]
        result = self._poll(now_s, lambda: Attempts(
            "hand-over", lambda: terminal.start_hand_over(f"{self.mission_id}.{order.bed_id}", order.dish),
            timeout_s=self.params.confirm_timeout_s, max_attempts=1), "receipt not confirmed")
        if isinstance(result, HandOver):
            self._hand_over = result
            self._go("answered")

    def _secure(self, now_s: float) -> None:
        order = self._current()
        note = self._lock(self._drawers[order.bed_id])
        outcome = self._hand_over.outcome if self._hand_over is not None else None
        if outcome is HandOverOutcome.RECEIVED:
            self._record(order.bed_id, "served", note or None)
        elif outcome is HandOverOutcome.REFUSED:
            self._record(order.bed_id, "not_served", "refused" + note)
        else:
            self._record(order.bed_id, "check", (self._problem or "receipt not confirmed") + note)
        self._go("recorded")

    def _not_served(self, now_s: float) -> None:
        self._record(self._current().bed_id, "not_served", self._problem or "not served")
        self._go("recorded")

    def _go_back(self, now_s: float) -> None:
        leftovers = [b for b, d in self._done.items() if d["status"] != "served" and b in self._drawers]
        if self._back or not leftovers or self._nav(now_s, self.params.kitchen_place, self.params):
            if not self._back:
                self._commit("returned", {"beds": sorted(leftovers), "returned": bool(leftovers)})
            self._go("returned")

    def _home(self, now_s: float) -> None:
        if not self.params.return_to_dock or self._nav(now_s, self.ctx.home_dock, self.params):
            self._go("home")
            self._succeed()

    def _lock(self, drawer_id: str) -> str:
        try:
            self._require(self.ctx.devices.drawer, "drawer").lock(drawer_id)
        except DeviceError as exc:
            return f"; drawer {drawer_id} not locked: {exc.reason}"
        return ""

    def _record(self, bed_id: str, status: str, reason: str | None) -> None:
        self._done[bed_id] = {"status": status, "reason": reason}
        self._commit(f"outcome:{bed_id}", {"bed_id": bed_id, "status": status, "reason": reason})
        self._order = None

    def _publish(self, step: str, data: dict[str, Any]) -> None:
        if step in ("load", "returned"):
            self._emit(ev.MISSION_STEP, step=f"custody.{step}", data=dict(data))
        elif step.startswith("outcome:") and data["status"] == "check":
            self._emit(ev.ALERT, step="secure", reason=data["reason"], data=bedside.alert(
                f"{self.mission_id}.{data['bed_id']}.check", ev.Severity.LOW, "meal", bedside.where(self.ctx, ""),
                f"Bed {data['bed_id']}: meal hand-over not confirmed ({data['reason']}) - nurse to check",
                bed_ref=data["bed_id"]))

    def _restore(self, committed: Sequence[CommittedStep]) -> None:
        for item in committed:
            if item.step == "load":
                self._drawers = dict(item.data["drawers"])
            elif item.step.startswith("handout:"):
                self._handed.add(item.step.removeprefix("handout:"))
            elif item.step.startswith("outcome:"):
                self._done[item.step.removeprefix("outcome:")] = dict(item.data)
            elif item.step == "returned":
                self._back = True

    def _commit(self, step: str, data: dict[str, Any]) -> None:
        if step.startswith("handout:"):
            self._handed.add(step.removeprefix("handout:"))
        elif step == "load":
            self._drawers = dict(data["drawers"])
        elif step == "returned":
            self._back = True
        super()._commit(step, data)

    def _progress_fraction(self) -> float:
        return len(self._done) / len(self.params.orders)

    def _result_data(self) -> dict[str, Any]:
        return {"meal": self.params.meal,
                "served": sorted(b for b, d in self._done.items() if d["status"] == "served"),
                "not_served": [{"bed_id": b, "status": d["status"], "reason": d["reason"]}
                               for b, d in self._done.items() if d["status"] != "served"]}

    def _current(self) -> MealOrder:
        assert self._order is not None
        return self._order


MISSIONS = (MealOrders, MealDelivery)
