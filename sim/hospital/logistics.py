"""The supply side of the simulated hospital: what happens to stock and assets, never what is ordered.

- The wards use their stock hour by hour (Poisson draws of each line's daily use, seeded).
- Goods go into a ward's stock when a robot reports the custody hand-over at that ward's
  receiving place (`custody.handed_over` with its ledger entry): the entry says what and where, so
  any delivery counts — the fleet's restocks and an operator's alike — and the same entry sent
  again by the robot's outbox counts once (by its hash).
- A powered door sticks for a while (`stuck_door`): the sim door opener refuses it.
- The fixed assets really are where `sim.logistics_world` put them (some missing, some misplaced):
  the audit's truth.

It offers the fleet's supply source (`fleet/demand/supply.py`) what a real site's inventory system
and asset register would: ``ward_stock`` (`WardStockInfo`, satisfies `fleet.demand.supply.WardStock`)
and ``asset_register`` (`AssetRegisterInfo`, satisfies `fleet.demand.supply.AssetRegister`). The
register says where assets *should* be, never where they are.

Custody chains are re-verified here, from each delivery's end event, with the ledger's own
`verify_chain`: the fleet reports the robot's check, this is the independent one (the fleet may not
import `missions/`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pydantic

from fleet.demand._common import Strict
from fleet.demand.daily import HHMM, minute_of_day, next_daily_s
from missions import events as ev
from missions.events import MissionEvent
from missions.logistics.custody import verify_chain
from sim.hospital import HospitalContext, HospitalError, parse_settings
from sim.logistics_world import ITEMS, WARD_STORES, LogisticsWorld, logistics_world

_END = (ev.MISSION_SUCCEEDED, ev.MISSION_FAILED, ev.MISSION_CANCELLED)


class StuckDoor(Strict):
    door: str
    at: str = pydantic.Field(pattern=HHMM)
    duration_min: float = pydantic.Field(60.0, gt=0)


class LogisticsPartSettings(Strict):
    #: how often the wards' use is drawn (each line uses use_per_day x period / 24 h on average)
    use_period_min: float = pydantic.Field(60.0, gt=0, le=1440)
    stuck_door: StuckDoor | None = None


def build(ctx: HospitalContext, settings: Mapping[str, Any]) -> HospitalSupply:
    config = parse_settings(LogisticsPartSettings, "logistics", settings)
    if config.stuck_door is not None and config.stuck_door.door not in ctx.world.doors:
        raise HospitalError(f"hospital.logistics.stuck_door.door: no door {config.stuck_door.door!r} in the world "
                            f"(known: {', '.join(sorted(ctx.world.doors))})")
    return HospitalSupply(ctx, config)


# ---- the information the fleet reads ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WardStockLine:
    """A copy of one line as it stands (the fleet never holds the live line)."""

    item: str
    supplied_from: str
    on_hand: int
    reorder_point: int
    par_level: int


@dataclass(frozen=True, slots=True)
class RegisterLine:
    asset_id: str
    tag_id: str
    kind: str
    room: str


class WardStockInfo:
    """The inventory system: every ward's stock levels as they are now."""

    def __init__(self, world: LogisticsWorld) -> None:
        self._world = world

    def lines(self, ward: str) -> list[WardStockLine]:
        return [WardStockLine(ln.item, ITEMS[ln.item][0], ln.on_hand, ln.reorder_point, ln.par_level)
                for ln in self._world.ward_stock(ward)]

    def receiving_place(self, ward: str) -> str | None:
        return WARD_STORES.get(ward)


class AssetRegisterInfo:
    """The fixed-asset register: where each tagged asset belongs, in the register's room order."""

    def __init__(self, world: LogisticsWorld) -> None:
        self._world = world

    def assets(self) -> list[RegisterLine]:
        return [RegisterLine(a.asset_id, a.tag_id, a.kind, a.home_room) for a in self._world.assets]


# ---- the part ------------------------------------------------------------------------------------------


class HospitalSupply:
    def __init__(self, ctx: HospitalContext, config: LogisticsPartSettings) -> None:
        self._world = logistics_world(ctx.env)
        # the stream the old supply workload drew use from: the same seed uses the same stock
        self._rng: np.random.Generator = ctx.rng("logistics")
        self._period_s = config.use_period_min * 60.0
        self._draws_per_day = 1440.0 / config.use_period_min
        self._next_use_s = ctx.start_s + self._period_s
        self._stuck: dict[str, Any] | None = None
        if config.stuck_door is not None:
            door = config.stuck_door
            from_s = next_daily_s(ctx.start_s, minute_of_day(door.at))  # the simulator's day is UTC
            self._world.stick_door(door.door, from_s, from_s + door.duration_min * 60.0)
            self._stuck = {"door": door.door, "from_s": from_s, "until_s": from_s + door.duration_min * 60.0}
        self._store_ward = {store: ward for ward, store in WARD_STORES.items()}
        self._handovers: set[str] = set()  # custody entry hashes already put away
        self._received: dict[str, int] = {}  # ward -> units put into its stock
        self._used = 0
        self._chains: dict[str, bool] = {}  # delivery mission id -> its chain verifies
        self._audits: dict[str, dict[str, Any]] = {}
        self._info = {"ward_stock": WardStockInfo(self._world), "asset_register": AssetRegisterInfo(self._world)}

    def step(self, now_s: float) -> None:
        while now_s >= self._next_use_s:
            for line in self._world.stock.values():
                self._used += self._world.consume(
                    line.ward, line.item, int(self._rng.poisson(line.use_per_day / self._draws_per_day)))
            self._next_use_s += self._period_s

    def on_event(self, event: MissionEvent) -> None:
        if event.mission_kind == "supply_delivery":
            if event.kind == ev.MISSION_STEP and event.step == "custody.handed_over":
                self._put_away(event.data.get("custody_entry") or {})
            elif event.kind in _END and event.mission_id not in self._chains:
                self._chains[event.mission_id] = verify_chain(event.data.get("custody", []), event.mission_id).ok
        elif event.mission_kind == "asset_audit" and event.kind in _END and event.mission_id not in self._audits:
            findings = event.data.get("findings") or {}
            found_missing = sorted(str(f["asset_id"]) for f in findings.get("missing", []))
            found_misplaced = sorted(str(f["asset_id"]) for f in findings.get("misplaced", []))
            truth_missing, truth_misplaced = self._truth()
            self._audits[event.mission_id] = {
                "outcome": event.kind.split(".")[1], "missing": found_missing, "misplaced": found_misplaced,
                "matches_truth": (found_missing, found_misplaced) == (truth_missing, truth_misplaced),
            }

    def _put_away(self, entry: Mapping[str, Any]) -> None:
        key = str(entry.get("hash"))
        ward = self._store_ward.get(str(entry.get("where")))
        if key in self._handovers or ward is None:
            return  # a re-sent entry, or goods handed over somewhere that is no ward's store
        self._handovers.add(key)
        for item, quantity in (entry.get("what") or {}).items():
            if (ward, item) in self._world.stock:  # a line the ward does not keep is not stocked
                self._world.receive(ward, item, int(quantity))
                self._received[ward] = self._received.get(ward, 0) + int(quantity)

    def _truth(self) -> tuple[list[str], list[str]]:
        return (sorted(a.asset_id for a in self._world.missing()),
                sorted(a.asset_id for a in self._world.misplaced()))

    def information(self) -> dict[str, Any]:
        return dict(self._info)

    def summary(self) -> dict[str, Any]:
        truth_missing, truth_misplaced = self._truth()
        below = [f"{ln.ward}:{ln.item}" for _, ln in sorted(self._world.stock.items()) if ln.on_hand < ln.reorder_point]
        return {
            "stock_used_units": self._used,
            "hand_overs": len(self._handovers),
            "units_received": dict(sorted(self._received.items())),
            "custody_chains_verified": sum(1 for ok in self._chains.values() if ok),
            "custody_chains_broken": sorted(m for m, ok in self._chains.items() if not ok),
            "stuck_door": self._stuck,
            "lines_below_reorder_point": below,
            "audit_truth": {"missing": truth_missing, "misplaced": truth_misplaced},
            "audits": dict(sorted(self._audits.items())),
        }
