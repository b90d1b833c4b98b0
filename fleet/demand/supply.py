"""Materials management: ward restocks, the pharmacy delivery and the fixed-asset audit.

At each configured time every ward is restocked from central supply: the lines below their reorder
point are ordered up to par; when none is, the two lowest lines (by share of par) are topped up, so
a round never goes out empty-handed while the ward has anything of that origin. The pharmacy
delivery does the same with the pharmacy's lines for one ward. The quantities come from the stock
levels the hospital's inventory system holds *at the moment the delivery falls due*
(`ctx.hospital["ward_stock"]`, a `WardStock`); the audit takes its asset register from
`ctx.hospital["asset_register"]` (an `AssetRegister`).

Tasks (robot kinds ``("logistics",)``; a source never names a robot):

- ``restock-<ward>-<YYYYMMDD-HHMM>`` `supply_delivery`, priority 50, deadline due + 60 min (the ward
  uses stock hour by hour: a restock later than that has let a line run down for another hour);
- ``pharmacy-<ward>-<YYYYMMDD-HHMM>`` `supply_delivery`, priority 60, deadline due + 45 min (drugs
  for the next drug round);
- ``audit-<YYYYMMDD-HHMM>`` `asset_audit`, priority 30, deadline due + 4 h (same shift; it yields to
  everything else).

Ids are the due slot's local date and time, so they are the same every run and a restarted fleet
that re-creates a request creates the same task. The task's zone is the ward (restricted wards then
get only robots stationed there: the isolation ward is stocked through its anteroom by staff), its
place the origin (the robot starts by loading there).

Summary figures come from the tasks' results: delivery outcomes, failures with their reasons, the
robot's own custody check (`custody_verified`), the purchasing plan summed from the reorder
suggestions, the audit findings. Re-verifying the custody chains' hashes is left to the simulated
hospital (`sim/hospital/logistics.py`, with `missions.logistics.custody.verify_chain`): the fleet
must not import `missions/`, and re-implementing the ledger's hashing here would make two sources
of truth for one format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import pydantic

from fleet.demand import DemandContext, DemandError, RobotMessage
from fleet.demand._common import Strict, parse_settings
from fleet.demand.daily import HHMM, minute_of_day, next_daily_s, stamp
from fleet.tasks import Task, TaskRequest, TaskState

NAME = "supply"
ROBOT_KINDS = ("logistics",)
TimeOfDay = Annotated[str, pydantic.StringConstraints(pattern=HHMM)]
#: lines topped up when no line of the ward is below its reorder point
TOP_UP_LINES = 2


# ---- what the hospital's information systems provide ---------------------------------------------


class StockLine(Protocol):
    """One line of a ward's stock as the inventory system holds it."""

    @property
    def item(self) -> str: ...
    #: the place the item comes from (``central-supply``, ``pharmacy``)
    @property
    def supplied_from(self) -> str: ...
    @property
    def on_hand(self) -> int: ...
    @property
    def reorder_point(self) -> int: ...
    @property
    def par_level(self) -> int: ...


class WardStock(Protocol):
    """`ctx.hospital["ward_stock"]`: the wards' stock levels, read when a delivery falls due."""

    def lines(self, ward: str) -> Sequence[StockLine]:
        """The ward's stock lines now (empty for a ward the system does not stock)."""
        ...

    def receiving_place(self, ward: str) -> str | None:
        """Where the ward takes goods in (its utility room); None: it does not."""
        ...


class RegisteredAsset(Protocol):
    @property
    def asset_id(self) -> str: ...
    @property
    def tag_id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    #: where the register says it is
    @property
    def room(self) -> str: ...


class AssetRegister(Protocol):
    """`ctx.hospital["asset_register"]`: the fixed-asset register."""

    def assets(self) -> Sequence[RegisteredAsset]: ...


# ---- settings --------------------------------------------------------------------------------------


class PharmacyDelivery(Strict):
    at: str = pydantic.Field(pattern=HHMM)
    ward: str = "ward-a"
    origin: str = "pharmacy"
    priority: int = pydantic.Field(60, ge=0, le=100)
    deadline_min: float = pydantic.Field(45.0, gt=0)


class AssetAuditPlan(Strict):
    at: str = pydantic.Field(pattern=HHMM)
    #: rooms in visiting order; None: the register's rooms, in the order the register lists them
    rooms: list[str] | None = pydantic.Field(None, min_length=1)
    priority: int = pydantic.Field(30, ge=0, le=100)
    deadline_min: float = pydantic.Field(240.0, gt=0)


class SupplySettings(Strict):
    #: wards restocked by robot (the isolation ward is not: its stock goes in through the anteroom)
    wards: list[str] = pydantic.Field(default_factory=lambda: ["ward-a", "ward-b"])
    ward_deliveries: list[TimeOfDay] = pydantic.Field(default_factory=lambda: ["08:00", "13:00", "18:00"])
    central_supply: str = "central-supply"
    restock_priority: int = pydantic.Field(50, ge=0, le=100)
    restock_deadline_min: float = pydantic.Field(60.0, gt=0)
    pharmacy_delivery: PharmacyDelivery | None = PharmacyDelivery(at="10:30")
    asset_audit: AssetAuditPlan | None = AssetAuditPlan(at="15:00")
    utc_offset_h: float = pydantic.Field(0.0, ge=-14, le=14)


@dataclass
class _Job:
    key: str  # stable across restarts: "restock:ward-a:08:00"
    kind: str  # "restock", "pharmacy", "audit"
    minute: int
    ward: str | None
    due_s: float


def build(ctx: DemandContext, settings: Mapping[str, Any]) -> SupplyOffice:
    config = parse_settings(SupplySettings, NAME, settings)
    stock, register = ctx.hospital.get("ward_stock"), ctx.hospital.get("asset_register")
    if stock is None:
        raise DemandError(f"demand.{NAME}: needs the hospital's ward stock (hospital information 'ward_stock')")
    if config.asset_audit is not None and register is None:
        raise DemandError(f"demand.{NAME}.asset_audit: needs the asset register (hospital information "
                          "'asset_register')")
    places = ctx.site.places
    wards = set(ctx.site.wards())
    for i, ward in enumerate(config.wards):
        if ward not in wards:
            raise DemandError(f"demand.{NAME}.wards.{i}: {ward!r} is not a ward of site {ctx.site.name!r}")
        store = stock.receiving_place(ward)
        if store is None or store not in places:
            raise DemandError(f"demand.{NAME}.wards.{i}: ward {ward!r} has no receiving place on the site map "
                              f"(the inventory system says {store!r})")
    if config.central_supply not in places:
        raise DemandError(f"demand.{NAME}.central_supply: no place {config.central_supply!r} on the site map")
    pharmacy = config.pharmacy_delivery
    if pharmacy is not None:
        if pharmacy.ward not in config.wards:
            raise DemandError(f"demand.{NAME}.pharmacy_delivery.ward: {pharmacy.ward!r} is not one of wards")
        if pharmacy.origin not in places:
            raise DemandError(f"demand.{NAME}.pharmacy_delivery.origin: no place {pharmacy.origin!r} on the site map")
    audit = config.asset_audit
    if audit is not None:
        for i, room in enumerate(audit.rooms or []):
            if room not in places:
                raise DemandError(f"demand.{NAME}.asset_audit.rooms.{i}: no place {room!r} on the site map")
        if audit.rooms is not None and len(set(audit.rooms)) != len(audit.rooms):
            raise DemandError(f"demand.{NAME}.asset_audit.rooms: each room is visited once")
    return SupplyOffice(ctx, config, stock, register)


class SupplyOffice:
    name = NAME

    def __init__(self, ctx: DemandContext, config: SupplySettings, stock: WardStock,
                 register: AssetRegister | None) -> None:
        self._ctx = ctx
        self._config = config
        self._stock = stock
        self._register = register
        self._jobs: list[_Job] = []
        for at in config.ward_deliveries:
            for ward in config.wards:
                self._add_job(f"restock:{ward}:{at}", "restock", at, ward)
        if config.pharmacy_delivery is not None:
            p = config.pharmacy_delivery
            self._add_job(f"pharmacy:{p.ward}:{p.at}", "pharmacy", p.at, p.ward)
        if config.asset_audit is not None:
            self._add_job(f"audit:{config.asset_audit.at}", "audit", config.asset_audit.at, None)
        # what was asked for and how it ended, by task id (all JSON-able: the fleet persists it)
        self._requested: dict[str, dict[str, Any]] = {}
        self._outcomes: dict[str, dict[str, Any]] = {}
        self._audits: dict[str, dict[str, Any]] = {}
        self._suggestions: dict[str, dict[str, Any]] = {}  # "ward|item" -> the latest suggestion
        self._skipped: dict[str, str] = {}  # job slot -> why nothing was asked for

    def _add_job(self, key: str, kind: str, at: str, ward: str | None) -> None:
        minute = minute_of_day(at)
        due = next_daily_s(self._ctx.start_s, minute, self._config.utc_offset_h)
        self._jobs.append(_Job(key, kind, minute, ward, due))

    # ---- the schedule -----------------------------------------------------------------------

    def step(self, now_s: float) -> None:
        # in due order, ties in configuration order (ward A's 08:00 restock before ward B's)
        for job in sorted((j for j in self._jobs if j.due_s <= now_s), key=lambda j: j.due_s):
            due_s = job.due_s
            # the next slot after now, not after due: a fleet down for a day catches up once, not twice
            job.due_s = next_daily_s(max(now_s, due_s + 1.0), job.minute, self._config.utc_offset_h)
            if job.kind == "audit":
                self._request_audit(due_s)
            else:
                assert job.ward is not None
                self._request_delivery(job.kind, job.ward, due_s)

    def _request_delivery(self, kind: str, ward: str, due_s: float) -> None:
        config = self._config
        task_id = f"{kind}-{ward}-{stamp(due_s, config.utc_offset_h)}"
        if kind == "pharmacy":
            assert config.pharmacy_delivery is not None
            origin, role = config.pharmacy_delivery.origin, "pharmacist"
            priority, window_min = config.pharmacy_delivery.priority, config.pharmacy_delivery.deadline_min
        else:
            origin, role = config.central_supply, "supply"
            priority, window_min = config.restock_priority, config.restock_deadline_min
        lines = sorted(self._stock.lines(ward), key=lambda ln: ln.item)
        items = restock_quantities(lines, origin)
        if not items:
            self._skipped[task_id] = f"ward {ward} stocks nothing from {origin}"
            return
        params = {
            "delivery_id": task_id,
            "origin": origin,
            "sender_role": role,
            "destination": self._stock.receiving_place(ward),
            "ward": ward,
            "items": items,
            # the ward's stock before this delivery: the robot reports the levels after hand-over
            # and the reorder suggestions from them
            "ward_stock": [{"item": ln.item, "on_hand": ln.on_hand, "reorder_point": ln.reorder_point,
                            "par_level": ln.par_level} for ln in lines],
        }
        self._requested[task_id] = {"kind": kind, "ward": ward, "origin": origin, "items": len(items)}
        self._ctx.submit(TaskRequest(
            task_id=task_id, kind="supply_delivery", params=params, priority=priority, robot_kinds=ROBOT_KINDS,
            earliest_start_s=due_s, deadline_s=due_s + window_min * 60.0, zone=ward, place=origin,
            requested_by=f"source:{NAME}",
        ))

    def _request_audit(self, due_s: float) -> None:
        plan = self._config.asset_audit
        assert plan is not None and self._register is not None
        task_id = f"audit-{stamp(due_s, self._config.utc_offset_h)}"
        assets = list(self._register.assets())
        # the whole register goes along, not only the audited rooms' lines: an asset found in an
        # audited room but registered elsewhere is then reported as misplaced, not as an unknown tag
        register = [{"asset_id": a.asset_id, "tag_id": a.tag_id, "kind": a.kind, "room": a.room} for a in assets]
        rooms = list(plan.rooms) if plan.rooms is not None else _first_seen(
            a.room for a in assets if a.room in self._ctx.site.places)
        if not rooms:
            self._skipped[task_id] = "the asset register names no room on the site map"
            return
        self._requested[task_id] = {"kind": "audit", "rooms": len(rooms), "assets": len(register)}
        self._ctx.submit(TaskRequest(
            task_id=task_id, kind="asset_audit", params={"audit_id": task_id, "rooms": rooms,
                                                         "asset_register": register},
            priority=plan.priority, robot_kinds=ROBOT_KINDS, earliest_start_s=due_s,
            deadline_s=due_s + plan.deadline_min * 60.0, place=rooms[0], requested_by=f"source:{NAME}",
        ))

    # ---- what the robots report -------------------------------------------------------------

    def on_message(self, message: RobotMessage) -> None:
        """Nothing to do as it happens: everything the office books comes with the task's result."""

    def on_task_finished(self, task: Task) -> None:
        if task.task_id not in self._requested:
            return
        result = task.result or {}
        if task.kind == "asset_audit":
            findings = result.get("findings") or {}
            self._audits[task.task_id] = {
                "state": task.state.value, "reason": task.reason,
                "missing": sorted(str(f["asset_id"]) for f in findings.get("missing", [])),
                "misplaced": sorted(str(f["asset_id"]) for f in findings.get("misplaced", [])),
            }
            return
        self._outcomes[task.task_id] = {
            "state": task.state.value, "reason": task.reason,
            "delivery": result.get("delivery_outcome"),
            "custody_verified": result.get("custody_verified"),
        }
        stock = result.get("stock") or {}
        for suggestion in stock.get("reorder_suggestions") or []:
            self._suggestions[f"{suggestion['ward']}|{suggestion['item']}"] = dict(suggestion)

    def summary(self) -> dict[str, Any]:
        deliveries = [t for t, r in self._requested.items() if r["kind"] != "audit"]
        outcomes = self._outcomes
        return {
            "deliveries_requested": len(deliveries),
            "deliveries_by_kind": _count(self._requested[t]["kind"] for t in deliveries),
            "handed_over": sum(1 for o in outcomes.values() if o["delivery"] == "handed_over"),
            "returned": sum(1 for o in outcomes.values() if o["delivery"] == "returned"),
            "failed": {t: o["reason"] for t, o in sorted(outcomes.items()) if o["state"] != TaskState.DONE.value},
            "custody_verified_by_robot": sum(1 for o in outcomes.values() if o["custody_verified"] is True),
            "not_requested": dict(sorted(self._skipped.items())),
            "purchasing_plan": purchasing_plan(self._suggestions.values()),
            "audits": dict(sorted(self._audits.items())),
        }

    # ---- restart ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "due": {j.key: j.due_s for j in self._jobs},
            "requested": self._requested, "outcomes": self._outcomes, "audits": self._audits,
            "suggestions": self._suggestions, "skipped": self._skipped,
        }

    def restore(self, state: dict[str, Any]) -> None:
        due = state.get("due", {})
        for job in self._jobs:  # a slot added to the settings since keeps its computed time
            if job.key in due:
                job.due_s = float(due[job.key])
        self._requested = dict(state.get("requested", {}))
        self._outcomes = dict(state.get("outcomes", {}))
        self._audits = dict(state.get("audits", {}))
        self._suggestions = dict(state.get("suggestions", {}))
        self._skipped = dict(state.get("skipped", {}))


# ---- the rules, as functions a test can call ---------------------------------------------------------


def restock_quantities(lines: Sequence[StockLine], origin: str) -> list[dict[str, Any]]:
    """What to send a ward from `origin`: every line below its reorder point up to par; if none is,
    the `TOP_UP_LINES` lowest by share of par (at least one unit each, so a round that goes out
    carries something). `lines` in item order."""
    mine = [ln for ln in lines if ln.supplied_from == origin]
    low = [ln for ln in mine if ln.on_hand < ln.reorder_point]
    if not low:
        low = sorted(mine, key=lambda ln: (ln.on_hand / max(1, ln.par_level), ln.item))[:TOP_UP_LINES]
    return [{"item": ln.item, "quantity": max(1, ln.par_level - ln.on_hand)} for ln in low]


def purchasing_plan(suggestions: Any) -> dict[str, Any]:
    """Order quantities per item from the latest reorder suggestion per (ward, item) — what
    purchasing buys to bring the wards back to par."""
    per_item: dict[str, dict[str, Any]] = {}
    latest = sorted(suggestions, key=lambda s: (str(s["ward"]), str(s["item"])))
    for s in latest:
        line = per_item.setdefault(str(s["item"]), {"order_quantity": 0, "wards": []})
        line["order_quantity"] += int(s["order_quantity"])
        line["wards"].append(str(s["ward"]))
    return {"lines": len(latest), "items": dict(sorted(per_item.items())),
            "total_units": sum(int(v["order_quantity"]) for v in per_item.values())}


def _first_seen(names: Any) -> list[str]:
    return list(dict.fromkeys(names))


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))
