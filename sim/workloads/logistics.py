"""Stands in for the hospital's materials management: ward supply requests through the day, a
pharmacy delivery, the fixed-asset audit, and the stuck door.

Each ward is restocked at the configured times from central supply (lines below their reorder
point are ordered up to par; otherwise the two lowest lines are topped up); the wards use stock
hour by hour. Delivered goods go into the ward's stock when the robot reports the hand-over's
custody entry. The summary holds the delivery outcomes, whether every custody chain verifies,
the purchasing plan from the reorder suggestions, and the audit findings beside the truth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pydantic

from missions.events import MissionEvent
from missions.logistics.custody import verify_chain
from missions.logistics.stock import purchasing_plan
from sim.logistics_world import ITEMS, WARD_STORES, LogisticsWorld, logistics_world
from sim.scenario import RobotPlacement
from sim.workloads import Dispatch, WorkloadContext, WorkloadError

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
DELIVERY_PRIORITY = 50
PHARMACY_PRIORITY = 60
AUDIT_PRIORITY = 30


class StuckDoor(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    door: str
    at: str = pydantic.Field(pattern=_HHMM)
    duration_min: float = pydantic.Field(60.0, gt=0)


class PharmacyDelivery(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    at: str = pydantic.Field(pattern=_HHMM)
    ward: str = "ward-a"


class LogisticsSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    #: wards restocked by the robot; the isolation ward is not (infection control: its stock
    #: is passed in through the anteroom by staff, the robot never crosses that boundary)
    wards: list[str] = pydantic.Field(default_factory=lambda: ["ward-a", "ward-b"])
    #: restock every ward from central supply at these times of day
    ward_deliveries: list[str] = pydantic.Field(default_factory=lambda: ["08:00", "13:00", "18:00"])
    pharmacy_delivery: PharmacyDelivery | None = PharmacyDelivery(at="10:30")
    audit_at: str | None = pydantic.Field("15:00", pattern=_HHMM)
    stuck_door: StuckDoor | None = None

    @pydantic.field_validator("ward_deliveries")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        import re

        for t in value:
            if not re.match(_HHMM, t):
                raise ValueError(f"{t!r} must be a time of day HH:MM")
        return value


def build(ctx: WorkloadContext, robots: list[RobotPlacement], settings: Mapping[str, Any]) -> SupplyOffice:
    try:
        config = LogisticsSettings.model_validate(dict(settings))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise WorkloadError(f"workloads.logistics.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if not robots:
        raise WorkloadError("no logistics robot in the scenario")
    if config.stuck_door is not None and config.stuck_door.door not in ctx.world.doors:
        raise WorkloadError(f"stuck_door.door: no door {config.stuck_door.door!r} in the world")
    return SupplyOffice(ctx, robots[0], config)


@dataclass(order=True)
class _Job:
    due_s: float
    seq: int
    kind: str = field(compare=False)  # "ward", "pharmacy", "audit"
    ward: str | None = field(default=None, compare=False)


class SupplyOffice:
    def __init__(self, ctx: WorkloadContext, robot: RobotPlacement, config: LogisticsSettings) -> None:
        self._ctx = ctx
        self._robot = robot.id
        self._dispatch: Dispatch = ctx.dispatch
        self._world: LogisticsWorld = logistics_world(ctx.env)
        self._rng: np.random.Generator = ctx.rng("logistics")
        self._wards = [w for w in config.wards if w in WARD_STORES and WARD_STORES[w] in ctx.world.places]
        self._jobs: list[_Job] = []
        seq = 0
        for at in config.ward_deliveries:
            for ward in self._wards:
                seq += 1
                self._jobs.append(_Job(self._time_of_day(at), seq, "ward", ward))
        if config.pharmacy_delivery is not None and config.pharmacy_delivery.ward in self._wards:
            seq += 1
            self._jobs.append(_Job(self._time_of_day(config.pharmacy_delivery.at), seq, "pharmacy",
                                   config.pharmacy_delivery.ward))
        if config.audit_at is not None:
            seq += 1
            self._jobs.append(_Job(self._time_of_day(config.audit_at), seq, "audit"))
        self._jobs.sort()
        if config.stuck_door is not None:
            from_s = self._time_of_day(config.stuck_door.at)
            self._world.stick_door(config.stuck_door.door, from_s, from_s + config.stuck_door.duration_min * 60)
        self._next_use_s = ctx.start_s + 3600.0
        self._count = 0
        self._dispatched: dict[str, dict[str, Any]] = {}
        self._outcomes: dict[str, dict[str, Any]] = {}
        self._suggestions: list[dict[str, Any]] = []
        self._audit: dict[str, Any] | None = None

    def _time_of_day(self, hhmm: str) -> float:
        hours, minutes = hhmm.split(":")
        midnight = math.floor(self._ctx.start_s / 86400.0) * 86400.0
        at = midnight + int(hours) * 3600 + int(minutes) * 60
        return at + 86400.0 if at < self._ctx.start_s else at

    # ---- the schedule -----------------------------------------------------------------------

    def step(self, now_s: float) -> None:
        while now_s >= self._next_use_s:
            self._use_stock()
            self._next_use_s += 3600.0
        while self._jobs and self._jobs[0].due_s <= now_s:
            job = self._jobs.pop(0)
            if job.kind == "audit":
                self._send_audit()
            else:
                assert job.ward is not None
                self._send_delivery(job.ward, "pharmacy" if job.kind == "pharmacy" else "central-supply")

    def _use_stock(self) -> None:
        for line in self._world.stock.values():
            self._world.consume(line.ward, line.item, int(self._rng.poisson(line.use_per_day / 24.0)))

    def _send_delivery(self, ward: str, origin: str) -> None:
        lines = [ln for ln in self._world.ward_stock(ward) if ITEMS[ln.item][0] == origin]
        low = [ln for ln in lines if ln.on_hand < ln.reorder_point]
        if not low:  # nothing below its reorder point: top up the two lowest lines
            low = sorted(lines, key=lambda ln: (ln.on_hand / ln.par_level, ln.item))[:2]
        items = [{"item": ln.item, "quantity": max(1, ln.par_level - ln.on_hand)} for ln in low]
        self._count += 1
        mission_id = f"{self._robot}-delivery-{self._count:03d}"
        params = {
            "delivery_id": mission_id,
            "origin": origin,
            "sender_role": "pharmacist" if origin == "pharmacy" else "supply",
            "destination": WARD_STORES[ward],
            "ward": ward,
            "items": items,
            "ward_stock": [{"item": ln.item, "on_hand": ln.on_hand, "reorder_point": ln.reorder_point,
                            "par_level": ln.par_level} for ln in self._world.ward_stock(ward)],
        }
        self._dispatched[mission_id] = {"ward": ward, "origin": origin, "items": len(items)}
        priority = PHARMACY_PRIORITY if origin == "pharmacy" else DELIVERY_PRIORITY
        self._dispatch(self._robot, "supply_delivery", params, priority, mission_id)

    def _send_audit(self) -> None:
        self._count += 1
        mission_id = f"{self._robot}-audit-{self._count:03d}"
        rooms = sorted({a.home_room for a in self._world.assets}, key=self._audit_order)
        register = [{"asset_id": a.asset_id, "tag_id": a.tag_id, "kind": a.kind, "room": a.home_room}
                    for a in self._world.assets]
        self._dispatched[mission_id] = {"audit": True}
        self._dispatch(self._robot, "asset_audit", {"audit_id": mission_id, "rooms": rooms, "asset_register": register},
                       AUDIT_PRIORITY, mission_id)

    @staticmethod
    def _audit_order(room: str) -> tuple[int, str]:
        from sim.logistics_world import AUDIT_ROOMS

        return (AUDIT_ROOMS.index(room) if room in AUDIT_ROOMS else len(AUDIT_ROOMS), room)

    # ---- what the robot reports -------------------------------------------------------------

    def on_event(self, event: MissionEvent) -> None:
        if event.robot_id != self._robot or event.mission_id not in self._dispatched:
            return
        if event.kind == "mission.step" and event.step == "custody.handed_over":
            entry = event.data["custody_entry"]
            ward = self._dispatched[event.mission_id]["ward"]
            if not self._dispatched[event.mission_id].get("received"):  # outbox may re-emit: count once
                self._dispatched[event.mission_id]["received"] = True
                for item, quantity in entry["what"].items():
                    if (ward, item) in self._world.stock:
                        self._world.receive(ward, item, int(quantity))
        elif event.kind == "mission.step" and event.step == "stock.updated":
            self._suggestions.extend(event.data.get("reorder_suggestions", []))
        elif event.kind in ("mission.succeeded", "mission.failed", "mission.cancelled"):
            data = event.data
            if event.mission_kind == "asset_audit":
                self._audit = {"outcome": event.kind.split(".")[1], "findings": data.get("findings")}
                return
            chain = data.get("custody", [])
            self._outcomes[event.mission_id] = {
                "outcome": event.kind.split(".")[1],
                "delivery": data.get("delivery_outcome"),
                "reason": event.reason,
                "custody_entries": len(chain),
                "custody_verified": verify_chain(chain, event.mission_id).ok,
            }

    def summary(self) -> dict[str, Any]:
        outcomes = self._outcomes
        deliveries = [m for m, d in self._dispatched.items() if "ward" in d]
        findings = (self._audit or {}).get("findings") or {}
        return {
            "robot": self._robot,
            "deliveries_dispatched": len(deliveries),
            "handed_over": sum(1 for o in outcomes.values() if o["delivery"] == "handed_over"),
            "returned": sum(1 for o in outcomes.values() if o["delivery"] == "returned"),
            "failed": {m: o["reason"] for m, o in sorted(outcomes.items()) if o["outcome"] != "succeeded"},
            "custody_chains_verified": sum(1 for o in outcomes.values() if o["custody_verified"]),
            "custody_chains_broken": sorted(m for m, o in outcomes.items() if not o["custody_verified"]),
            "purchasing_plan": purchasing_plan(self._suggestions),
            "audit": {
                "outcome": (self._audit or {}).get("outcome"),
                "missing": sorted(f["asset_id"] for f in findings.get("missing", [])),
                "misplaced": sorted(f["asset_id"] for f in findings.get("misplaced", [])),
                "truth_missing": sorted(a.asset_id for a in self._world.missing()),
                "truth_misplaced": sorted(a.asset_id for a in self._world.misplaced()),
            },
        }
