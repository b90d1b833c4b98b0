"""Meal delivery (`meal_delivery`): deliver the ordered meals by drawer.

GO_KITCHEN → LOAD (kitchen staff badge; one drawer per patient) → per patient: NAVIGATE →
IDENTIFY → SERVE (diet re-checked: a patient now nil by mouth gets nothing; then that patient's
drawer is unlocked) → CONFIRM on the terminal → SECURE (lock, commit); then GO_BACK to the kitchen
with anything not served (``returned``), and home. Every hand-out is committed before its drawer
unlocks; a restart between the two never opens it again (the meal is marked "check"). The orders
come from `missions.meal_orders`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field

from hal.badge_reader import BadgeScan
from hal.clock import iso_utc
from hal.device import DeviceError
from hal.patient_terminal import HandOver, HandOverOutcome, PatientTerminal
from missions import events as ev
from missions.journal import CommittedStep
from missions.nursing import bedside
from missions.nursing.meals import MealMission, MealOrder, MealParams
from missions.nursing.menu import NIL_BY_MOUTH, allowed_dishes
from missions.timing import Attempts


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


WORKING = [s for s in DeliveryStep if s not in (DeliveryStep.DONE, DeliveryStep.ABANDONED)]
D = DeliveryStep

# trigger         source                                  destination
STEP_TABLE = (
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
    ("abandon",     WORKING,                                  D.ABANDONED),
    ("restart",     WORKING,                                  "="),
)  # fmt: skip


class MealDeliveryParams(MealParams):
    orders: list[MealOrder] = Field(min_length=1, max_length=50)
    badge_timeout_s: float = Field(default=600.0, gt=0)
    confirm_timeout_s: float = Field(default=300.0, gt=0)


class MealDelivery(MealMission):
    kind = "meal_delivery"
    Params = MealDeliveryParams
    Step = DeliveryStep
    STEP_TABLE = STEP_TABLE
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
        self._hand_over: HandOver | None = None
        self._back = False

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        return {
            D.GO_KITCHEN: self._go_kitchen, D.LOAD: self._load, D.CHOOSE: self._choose, D.NAVIGATE: self._navigate,
            D.IDENTIFY: self._identify, D.SERVE: self._serve, D.CONFIRM: self._confirm, D.SECURE: self._secure,
            D.NOT_SERVED: self._not_served, D.GO_BACK: self._go_back, D.RETURN_HOME: self._home,
        }

    def _advance(self, now_s: float) -> None:
        self._step_handler()(now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        super()._on_step_start(step)
        if step is D.ABANDONED:
            for bed in [b for b in self._handed if b not in self._done]:
                with_lock = self._lock(self._drawers[bed])
                self._record(bed, "check", f"stopped before receipt was confirmed{with_lock}")

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
        terminal = self.ctx.devices.require(PatientTerminal)
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


MISSIONS = (MealDelivery,)
