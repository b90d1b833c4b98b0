"""Supply delivery: load at central supply or the pharmacy, carry the goods locked to the ward,
hand them over only to an authenticated recipient, and keep a chain of custody of every hand-over.

In order (the table below):

1. GO_TO_ORIGIN, AUTH_SENDER (badge + PIN of someone with `sender_role`), LOAD (the compartment
   unlocks for the sender, is filled per the manifest and locks) → custody entry "loaded".
2. GO_TO_WARD through the powered doors on the way (a door that does not open after bounded
   retries and no way round it → "door <name> did not open"); a forced compartment on the way →
   custody entry "tamper_detected", a high alert, and the goods go back.
3. AUTH_RECIPIENT: a scan with `recipient_role`; every refusal counts, and `max_refusals` (3)
   wrong PINs lock the delivery out (medium security alert); nobody within `auth_timeout_s` →
   nobody to receive. HAND_OVER: the compartment unlocks for the recipient → custody entry
   "handed_over" (who: pseudonymous staff ref, what, when, where) with the ward's stock after the
   delivery and reorder suggestions below the reorder point, in the same journal commit.
4. Undeliverable (any failure in 2–3): GO_BACK to the origin, AUTH_RETURN, UNLOAD_RETURN →
   custody entry "returned"; the mission then ends FAILED with the reason.
5. RETURN_HOME to the dock.

A restart resumes from the committed custody entries: a delivery whose "handed_over" entry is in
the journal is never handed over again (the ledger is the proof); one still "loaded" carries on.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hal.badge_reader import BadgeReader, BadgeScan
from hal.compartments import Compartments, CompartmentState
from hal.device import DeviceError
from missions import events as ev
from missions.base import Mission
from missions.journal import CommittedStep
from missions.journey import Journey, JourneySettings
from missions.logistics import custody
from missions.logistics.custody import CustodyLedger
from missions.logistics.stock import StockLevel, apply_delivery, reorder_suggestions
from missions.timing import Attempts, Deadline, OpStatus


class Step(enum.Enum):
    PLAN = "plan"
    GO_TO_ORIGIN = "go_to_origin"
    AUTH_SENDER = "auth_sender"
    LOAD = "load"
    GO_TO_WARD = "go_to_ward"
    AUTH_RECIPIENT = "auth_recipient"
    HAND_OVER = "hand_over"
    GO_BACK = "go_back"
    AUTH_RETURN = "auth_return"
    UNLOAD_RETURN = "unload_return"
    RETURN_HOME = "return_home"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [s for s in Step if s not in (Step.DONE, Step.ABANDONED)]
BEFORE_LOADING = [Step.GO_TO_ORIGIN, Step.AUTH_SENDER, Step.LOAD]
DELIVERING = [Step.GO_TO_WARD, Step.AUTH_RECIPIENT, Step.HAND_OVER]
RETURNING = [Step.GO_BACK, Step.AUTH_RETURN, Step.UNLOAD_RETURN]

# trigger          source                   destination
STEP_TABLE = (
    ("collect",       Step.PLAN,              Step.GO_TO_ORIGIN),
    ("deliver",       Step.PLAN,              Step.GO_TO_WARD),
    ("send_back",     Step.PLAN,              Step.GO_BACK),
    ("go_home",       Step.PLAN,              Step.RETURN_HOME),
    ("finish",        Step.PLAN,              Step.DONE),          # return_to_dock: false
    ("arrived",       Step.GO_TO_ORIGIN,      Step.AUTH_SENDER),
    ("authenticated", Step.AUTH_SENDER,       Step.LOAD),
    ("arrived",       Step.GO_TO_WARD,        Step.AUTH_RECIPIENT),
    ("authenticated", Step.AUTH_RECIPIENT,    Step.HAND_OVER),
    ("arrived",       Step.GO_BACK,           Step.AUTH_RETURN),
    ("authenticated", Step.AUTH_RETURN,       Step.UNLOAD_RETURN),
    ("committed",     [Step.LOAD, Step.HAND_OVER, Step.UNLOAD_RETURN], Step.PLAN),
    ("home",          Step.RETURN_HOME,       Step.DONE),
    # fault: each step's defined fallback
    ("fault",         BEFORE_LOADING,         Step.ABANDONED),     # nothing on board: the mission fails
    ("fault",         DELIVERING,             Step.GO_BACK),       # undeliverable: the goods go back
    ("fault",         RETURNING,              Step.ABANDONED),     # goods stay locked on board: alert
    ("fault",         [Step.PLAN, Step.RETURN_HOME], Step.ABANDONED),
    ("abandon",       WORKING,                Step.ABANDONED),     # cancelled / failed
    ("restart",       WORKING,                "="),                # after pause / e-stop
)  # fmt: skip

CUSTODY_PREFIX = "custody:"
UNDELIVERABLE = "undeliverable"


class DeliveryLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    item: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    quantity: int = Field(ge=1, le=10_000)


class SupplyDeliveryParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivery_id: str = Field(min_length=1, max_length=64)
    origin: str = Field(min_length=1, max_length=128, description="central-supply or pharmacy place")
    sender_role: str = "supply"
    destination: str = Field(min_length=1, max_length=128, description="the ward's receiving place")
    ward: str = Field(min_length=1, max_length=64)
    recipient_role: str = "nurse"
    items: list[DeliveryLine] = Field(min_length=1, max_length=50)
    #: the ward's stock before this delivery, as the inventory system knows it
    ward_stock: list[StockLevel] = Field(default_factory=list)
    compartment: str | None = None
    return_to_dock: bool = True
    journey: JourneySettings = JourneySettings()
    auth_timeout_s: float = Field(default=600.0, gt=0)
    max_refusals: int = Field(default=3, ge=1, le=10)
    handling_timeout_s: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _items_unique(self) -> SupplyDeliveryParams:
        items = [line.item for line in self.items]
        if len(set(items)) != len(items):
            raise ValueError("items: each item appears once (sum the quantities)")
        return self

    @property
    def manifest(self) -> dict[str, int]:
        return {line.item: line.quantity for line in self.items}


class SupplyDelivery(Mission):
    kind = "supply_delivery"
    Params = SupplyDeliveryParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.PLAN
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})
    resumable_after_restart = True

    params: SupplyDeliveryParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ledger = CustodyLedger(self.mission_id)
        self._compartment: str | None = self.params.compartment
        self._undeliverable: str | None = None
        self._stock: dict[str, Any] | None = None
        self._journey: Journey | None = None
        self._attempt: Attempts[Any] | None = None
        self._auth_deadline: Deadline | None = None
        self._staff: str | None = None  # who authenticated for the step that follows
        self._refusals: dict[enum.Enum, int] = {}
        self._doors_opened: list[str] = []

    # ---- the step handlers ------------------------------------------------------------------

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        return {
            Step.PLAN: self._plan,
            Step.GO_TO_ORIGIN: lambda t: self._travel(t, self.params.origin),
            Step.AUTH_SENDER: lambda t: self._authenticate(t, self.params.sender_role, "load supplies"),
            Step.LOAD: self._load,
            Step.GO_TO_WARD: self._go_to_ward,
            Step.AUTH_RECIPIENT: lambda t: self._authenticate(t, self.params.recipient_role, "receive supplies"),
            Step.HAND_OVER: self._hand_over,
            Step.GO_BACK: lambda t: self._travel(t, self.params.origin),
            Step.AUTH_RETURN: lambda t: self._authenticate(t, self.params.sender_role, "take back supplies"),
            Step.UNLOAD_RETURN: self._unload_return,
            Step.RETURN_HOME: lambda t: self._travel(t, self.ctx.home_dock),
        }

    def _advance(self, now_s: float) -> None:
        self._step_handler()(now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        self._journey = None
        self._attempt = None
        self._auth_deadline = None
        if step is Step.ABANDONED and self._goods_on_board():
            self._emit_alert(
                "on-board", ev.Severity.HIGH, "custody",
                f"Delivery {self.params.delivery_id}: goods still locked in compartment {self._compartment}"
                " - staff to collect them",
            )

    def _on_fault(self, reason: str) -> None:
        if self.step in DELIVERING:
            self._undeliverable = reason
            self._commit(UNDELIVERABLE, {"reason": reason})

    def _plan(self, now_s: float) -> None:
        if not self.ledger.has(custody.LOADED):
            self._go("collect")
        elif self.ledger.has(custody.HANDED_OVER) or self.ledger.has(custody.RETURNED):
            self._go("go_home" if self.params.return_to_dock else "finish")
            if not self.params.return_to_dock:
                self._end()
        elif self._undeliverable is not None:
            self._go("send_back")
        else:
            self._go("deliver")

    def _travel(self, now_s: float, place: str) -> None:
        if self._journey is None:
            self._journey = Journey(self.ctx.devices, place, self.params.journey)
            self._op = self._journey
        status = self._journey.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._doors_opened.extend(self._journey.doors_opened)
            if self.step is Step.RETURN_HOME:
                self._go("home")
                self._end()
            else:
                self._go("arrived")
        elif status is OpStatus.FAILED:
            self._step_fault(self._journey.reason or f"could not reach {place}")

    def _go_to_ward(self, now_s: float) -> None:
        state = self._compartment_state()
        if state.tampered:
            self._record_custody(custody.TAMPER_DETECTED, None, state.contents, self.params.destination)
            self._emit_alert(
                "tamper", ev.Severity.HIGH, "security",
                f"Delivery {self.params.delivery_id}: compartment {self._compartment} forced open in transit"
                " - goods returned to the sender",
            )
            self._step_fault("compartment tampered in transit")
            return
        self._travel(now_s, self.params.destination)

    def _authenticate(self, now_s: float, role: str, purpose: str) -> None:
        if self._attempt is None:
            reader = self.ctx.devices.require(BadgeReader)
            self._attempt = Attempts(
                f"authentication ({role})",
                lambda: reader.start_authentication(required_role=role, purpose=purpose),
                timeout_s=self.params.auth_timeout_s, max_attempts=1,
            )
            self._op = self._attempt
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"no {role} authenticated: {self._attempt.reason}")
            return
        if status is not OpStatus.SUCCEEDED:
            return
        scan = self._attempt.result
        assert isinstance(scan, BadgeScan)
        self._attempt = None
        if scan.granted and scan.staff_ref:
            self._staff = scan.staff_ref
            self._go("authenticated")
            return
        refusals = self._refusals.get(self.step, 0) + 1  # kept over a pause: an e-stop does not reset it
        self._refusals[self.step] = refusals
        self._emit(ev.MISSION_STEP, step=f"{self.step.value}.refused", reason=scan.reason,
                   data={"refusals": refusals, "staff_ref": scan.staff_ref})
        if refusals >= self.params.max_refusals:
            self._emit_alert(
                f"lockout-{self.step.value}", ev.Severity.MEDIUM, "security",
                f"Delivery {self.params.delivery_id}: {refusals} failed authentications at {self._place()}"
                f" (last: {scan.reason}) - locked out",
                staff_ref=scan.staff_ref,
            )
            self._step_fault(f"locked out after {refusals} failed authentications ({scan.reason})")

    def _load(self, now_s: float) -> None:
        compartments = self.ctx.devices.require(Compartments)
        if self._attempt is None:
            if self._compartment is None:
                empty = [c for c in compartments.compartment_ids() if compartments.state(c).empty]
                if not empty:
                    raise DeviceError(compartments.name, "no empty compartment")
                self._compartment = empty[0]
            cid, sender, manifest = self._compartment, self._who(), self.params.manifest
            self._attempt = Attempts(
                f"loading {cid}", lambda: compartments.start_loading(cid, manifest, authorised_by=sender),
                timeout_s=self.params.handling_timeout_s, max_attempts=1,
            )
            self._op = self._attempt
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"loading failed: {self._attempt.reason}")
        elif status is OpStatus.SUCCEEDED:
            state = self._attempt.result
            assert isinstance(state, CompartmentState)
            if state.contents != self.params.manifest:
                self._step_fault(f"compartment holds {state.contents}, manifest says {self.params.manifest}")
                return
            self._record_custody(custody.LOADED, self._who(), state.contents, self.params.origin)
            self._go("committed")

    def _hand_over(self, now_s: float) -> None:
        self._unload(now_s, custody.HANDED_OVER, self.params.destination)

    def _unload_return(self, now_s: float) -> None:
        self._unload(now_s, custody.RETURNED, self.params.origin)

    def _unload(self, now_s: float, action: str, where: str) -> None:
        compartments = self.ctx.devices.require(Compartments)
        assert self._compartment is not None
        if self._attempt is None:
            cid, who = self._compartment, self._who()
            if action == custody.RETURNED and compartments.state(cid).tampered:
                compartments.clear_tamper(cid, authorised_by=who)  # the sender inspects it first
            self._attempt = Attempts(
                f"unloading {cid}", lambda: compartments.start_unloading(cid, authorised_by=who),
                timeout_s=self.params.handling_timeout_s, max_attempts=1,
            )
            self._op = self._attempt
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"unloading failed: {self._attempt.reason}")
        elif status is OpStatus.SUCCEEDED:
            what = dict(self.ledger.entries[-1]["what"]) if self.ledger.entries else self.params.manifest
            extra: dict[str, Any] = {}
            if action == custody.HANDED_OVER:
                levels = apply_delivery(self.params.ward_stock, what)
                extra["stock"] = {
                    "ward": self.params.ward,
                    "levels": [lv.model_dump() for lv in levels],
                    "reorder_suggestions": [s.as_dict() for s in reorder_suggestions(self.params.ward, levels)],
                }
            self._record_custody(action, self._who(), what, where, **extra)
            self._go("committed")

    # ---- custody, outbox, restore -------------------------------------------------------------

    def _record_custody(
        self, action: str, who: str | None, what: dict[str, int], where: str, **extra: Any
    ) -> None:
        entry = self.ledger.new_entry(action, who=who, what=what, when_s=self.ctx.clock.now_s(), where=where,
                                      compartment=self._compartment)
        data = {"entry": entry, "delivery_id": self.params.delivery_id, **extra}
        # journal first (the proof), then the ledger in memory, then the events (outbox)
        if self.journal is not None:
            self.journal.step_committed(self.mission_id, f"{CUSTODY_PREFIX}{entry['seq']}:{action}", data,
                                        self.ctx.clock.now_s())
        self.ledger.append(entry)
        if "stock" in extra:
            self._stock = extra["stock"]
        self._publish_and_mark(f"{CUSTODY_PREFIX}{entry['seq']}:{action}", data)

    def _publish(self, step: str, data: dict[str, Any]) -> None:
        if step.startswith(CUSTODY_PREFIX):
            entry = data["entry"]
            self._emit(ev.MISSION_STEP, step=f"custody.{entry['action']}",
                       data={"delivery_id": data["delivery_id"], "custody_entry": dict(entry)})
            if "stock" in data:
                self._emit(ev.MISSION_STEP, step="stock.updated", data=dict(data["stock"]))
        elif step == UNDELIVERABLE:
            self._emit(ev.MISSION_STEP, step="delivery.undeliverable", reason=str(data["reason"]),
                       data={"delivery_id": self.params.delivery_id})

    def _restore(self, committed: Sequence[CommittedStep]) -> None:
        for item in committed:
            if item.step.startswith(CUSTODY_PREFIX):
                entry = item.data["entry"]
                self.ledger.append(entry)
                self._compartment = entry.get("compartment") or self._compartment
                if "stock" in item.data:
                    self._stock = item.data["stock"]
            elif item.step == UNDELIVERABLE:
                self._undeliverable = str(item.data["reason"])

    def _end(self) -> None:
        if self._undeliverable is not None:
            self.fail(self._undeliverable)  # the goods are back; the delivery itself failed
        else:
            self._succeed()

    # ---- result and helpers -------------------------------------------------------------------

    def _goods_on_board(self) -> bool:
        return self.ledger.has(custody.LOADED) and not (
            self.ledger.has(custody.HANDED_OVER) or self.ledger.has(custody.RETURNED)
        )

    def _progress_fraction(self) -> float:
        if self.ledger.has(custody.HANDED_OVER) or self.ledger.has(custody.RETURNED):
            return 1.0 if self.step is Step.DONE else 0.9
        if self.ledger.has(custody.LOADED):
            return 0.4
        return 0.0

    def _result_data(self) -> dict[str, Any]:
        check = self.ledger.verify()
        if self.ledger.has(custody.HANDED_OVER):
            outcome = "handed_over"
        elif self.ledger.has(custody.RETURNED):
            outcome = "returned"
        elif self._goods_on_board():
            outcome = "on_board"
        else:
            outcome = "not_loaded"
        return {
            "delivery_id": self.params.delivery_id,
            "delivery_outcome": outcome,
            "undeliverable_reason": self._undeliverable,
            "compartment": self._compartment,
            "custody": [dict(e) for e in self.ledger.entries],
            "custody_verified": check.ok,
            "stock": self._stock,
            "doors_opened": list(self._doors_opened),
        }

    def _compartment_state(self) -> CompartmentState:
        compartments = self.ctx.devices.require(Compartments)
        assert self._compartment is not None
        return compartments.state(self._compartment)

    def _who(self) -> str:
        if self._staff is None:  # pragma: no cover - the table reaches handling only after AUTH_*
            raise RuntimeError("nobody authenticated")
        return self._staff

    def _place(self) -> str:
        return self.params.origin if self.step in (*BEFORE_LOADING, *RETURNING) else self.params.destination

    def _emit_alert(self, suffix: str, severity: ev.Severity, category: str, summary: str, **extra: Any) -> None:
        where: dict[str, Any] = {"place": self._place(), "x_m": 0.0, "y_m": 0.0}
        base = self.ctx.devices.drive_base
        if base is not None:
            try:
                pose = base.odometry().pose
                where.update(x_m=round(pose.x_m, 3), y_m=round(pose.y_m, 3), level=pose.level)
            except DeviceError:
                pass
        data = {"alert_id": f"{self.mission_id}.{suffix}", "severity": severity.value, "category": category,
                "summary": summary, "where": where, "evidence_ref": None,
                "delivery_id": self.params.delivery_id, **extra}
        self._emit(ev.ALERT, step=self.step.value, reason=summary, data=data)


MISSIONS = (SupplyDelivery,)
