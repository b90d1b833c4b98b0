"""The simulated hospital's supply side (sim/hospital/logistics.py): stock used hour by hour, goods
put away on the custody hand-over (once), chains re-verified, the audit beside the truth, the stuck
door — and its information feeding the fleet's supply and patrol sources on the default hospital's
site, as params the missions accept."""

from __future__ import annotations

import functools
from typing import Any

import pydantic
import pytest

from fleet.demand import DemandContext, patrol_plans, supply
from fleet.site import SiteMap, site_from_json
from fleet.tasks import Task, TaskRequest, TaskState
from hal.clock import SimClock
from missions import events as ev
from missions.asset_audit import AssetAuditParams
from missions.events import MissionEvent
from missions.logistics.custody import CustodyLedger
from missions.security.routes import ROUTES
from missions.security_patrol import SecurityPatrolParams
from missions.supply_delivery import SupplyDeliveryParams
from sim.environment import SimEnvironment
from sim.hospital import HospitalContext, HospitalError
from sim.hospital.logistics import AssetRegisterInfo, HospitalSupply, WardStockInfo, build
from sim.logistics_world import ITEMS, logistics_world
from sim.patients import PatientCensus
from sim.world import World, load_default_world
from sim.world_export import world_json

MIDNIGHT_S = 1767571200.0
START_S = MIDNIGHT_S + 7 * 3600.0


@functools.lru_cache(maxsize=1)
def hospital() -> World:
    return load_default_world()


@functools.lru_cache(maxsize=1)
def site() -> SiteMap:
    return site_from_json(world_json(hospital()))


def context(seed: int = 1) -> HospitalContext:
    world = hospital()
    clock = SimClock(START_S)
    env = SimEnvironment(world, PatientCensus(seed, world.beds(), START_S), clock, seed)
    return HospitalContext(world=world, census=env.census, env=env, clock=clock, seed=seed, start_s=START_S,
                           end_s=START_S + 86400.0, robots=[], request_task=lambda body: None,
                           fire_panel=lambda active, reason: None)


def part(**settings: Any) -> tuple[HospitalSupply, HospitalContext]:
    ctx = context()
    return build(ctx, settings), ctx


def handed_over(mission_id: str, where: str, what: dict[str, int]) -> tuple[MissionEvent, CustodyLedger]:
    ledger = CustodyLedger(mission_id)
    ledger.append(ledger.new_entry("loaded", who="st-000001", what=what, when_s=START_S, where="central-supply",
                                   compartment="c1"))
    entry = ledger.new_entry("handed_over", who="st-000002", what=what, when_s=START_S + 600, where=where,
                             compartment="c1")
    ledger.append(entry)
    event = MissionEvent(ev.MISSION_STEP, "logistics-1", mission_id, "supply_delivery", START_S + 600,
                         step="custody.handed_over", data={"delivery_id": mission_id, "custody_entry": entry})
    return event, ledger


def ended(mission_id: str, kind: str, data: dict[str, Any]) -> MissionEvent:
    return MissionEvent(ev.MISSION_SUCCEEDED, "logistics-1", mission_id, kind, START_S + 900, data=data)


# ---- information --------------------------------------------------------------------------------------


def test_the_inventory_system_shows_the_stock_as_it_is_and_the_register_where_assets_belong() -> None:
    hospital_part, ctx = part()
    world = logistics_world(ctx.env)
    info = hospital_part.information()
    assert set(info) == {"ward_stock", "asset_register"}
    lines = info["ward_stock"].lines("ward-a")
    assert [ln.item for ln in lines] == sorted(ITEMS)
    assert {ln.supplied_from for ln in lines} == {"central-supply", "pharmacy"}
    assert lines[0].on_hand == world.stock[("ward-a", lines[0].item)].on_hand
    assert info["ward_stock"].receiving_place("ward-b") == "ward-b-utility"
    assert info["ward_stock"].lines("no-such-ward") == []
    register = info["asset_register"].assets()
    assert [a.room for a in register] == [a.home_room for a in world.assets]
    assert any(a.home_room != a.actual_room for a in world.assets)  # the register is not the truth
    # what the fleet's supply source is typed against (mypy checks these two lines)
    stock: supply.WardStock = WardStockInfo(world)
    assets: supply.AssetRegister = AssetRegisterInfo(world)
    assert stock.lines("ward-b") and assets.assets()


def test_the_wards_use_stock_every_hour_the_same_for_the_same_seed() -> None:
    def on_hand_after(hours: float) -> list[int]:
        hospital_part, ctx = part()
        hospital_part.step(START_S + hours * 3600.0)
        return [ln.on_hand for ln in logistics_world(ctx.env).stock.values()]

    start, after = on_hand_after(0.99), on_hand_after(6.0)
    assert sum(after) < sum(start)
    assert on_hand_after(6.0) == after


# ---- goods and chains -----------------------------------------------------------------------------------


def test_goods_go_into_the_wards_stock_on_the_hand_over_once() -> None:
    hospital_part, ctx = part()
    world = logistics_world(ctx.env)
    before = world.stock[("ward-a", "gauze-10x10")].on_hand
    event, _ = handed_over("restock-ward-a-20260105-0800", "ward-a-utility", {"gauze-10x10": 12, "unknown-item": 3})
    hospital_part.on_event(event)
    hospital_part.on_event(event)  # the outbox sent it again
    assert world.stock[("ward-a", "gauze-10x10")].on_hand == before + 12
    elsewhere, _ = handed_over("other", "kitchen", {"gauze-10x10": 5})
    hospital_part.on_event(elsewhere)
    assert world.stock[("ward-a", "gauze-10x10")].on_hand == before + 12
    summary = hospital_part.summary()
    assert (summary["hand_overs"], summary["units_received"]) == (1, {"ward-a": 12})


def test_custody_chains_are_verified_independently() -> None:
    hospital_part, _ = part()
    _, good = handed_over("d-1", "ward-a-utility", {"gauze-10x10": 1})
    _, bad = handed_over("d-2", "ward-a-utility", {"gauze-10x10": 1})
    tampered = [dict(e) for e in bad.entries]
    tampered[1]["what"] = {"gauze-10x10": 99}
    hospital_part.on_event(ended("d-1", "supply_delivery", {"custody": good.entries}))
    hospital_part.on_event(ended("d-2", "supply_delivery", {"custody": tampered}))
    summary = hospital_part.summary()
    assert (summary["custody_chains_verified"], summary["custody_chains_broken"]) == (1, ["d-2"])


def test_the_audit_is_compared_with_the_truth() -> None:
    hospital_part, ctx = part()
    world = logistics_world(ctx.env)
    truth = {"missing": [{"asset_id": a.asset_id} for a in world.missing()],
             "misplaced": [{"asset_id": a.asset_id} for a in world.misplaced()]}
    hospital_part.on_event(ended("audit-1", "asset_audit", {"findings": truth}))
    hospital_part.on_event(ended("audit-2", "asset_audit", {"findings": {"missing": [], "misplaced": []}}))
    summary = hospital_part.summary()
    assert summary["audits"]["audit-1"]["matches_truth"] is True
    assert summary["audits"]["audit-2"]["matches_truth"] is False
    assert summary["audit_truth"]["missing"] == sorted(a.asset_id for a in world.missing())


def test_the_door_sticks_for_its_window() -> None:
    hospital_part, ctx = part(stuck_door={"door": "ward-b-entrance", "at": "13:00", "duration_min": 45})
    world = logistics_world(ctx.env)
    assert not world.door_stuck("ward-b-entrance", MIDNIGHT_S + 12.99 * 3600)
    assert world.door_stuck("ward-b-entrance", MIDNIGHT_S + 13.5 * 3600)
    assert not world.door_stuck("ward-b-entrance", MIDNIGHT_S + 13.75 * 3600)
    assert hospital_part.summary()["stuck_door"]["door"] == "ward-b-entrance"


@pytest.mark.parametrize(("settings", "field"), [
    ({"stuck_door": {"door": "no-such-door", "at": "13:00"}}, "hospital.logistics.stuck_door.door"),
    ({"stuck_door": {"door": "ward-b-entrance", "at": "1pm"}}, "hospital.logistics.stuck_door.at"),
    ({"use_period_min": 0}, "hospital.logistics.use_period_min"),
    ({"wards": ["ward-a"]}, "hospital.logistics.wards"),  # which wards are restocked is the fleet's
])
def test_bad_settings_name_the_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(HospitalError, match=f"^{field.replace('.', '[.]')}:"):
        build(context(), settings)


# ---- with the fleet's sources ------------------------------------------------------------------------------


def test_a_day_of_supply_and_patrol_plans_on_the_default_hospital_is_valid_mission_params() -> None:
    hospital_part, _ = part()
    submitted: list[TaskRequest] = []
    ctx = DemandContext(site=site(), seed=1, start_s=START_S, end_s=START_S + 86400.0, submit=submitted.append,
                        hospital=hospital_part.information())
    office = supply.build(ctx, {})
    night_walk = [{"name": "night", "from": "20:00", "car_park": True, "checkpoints": ["main-entrance"]},
                  {"name": "day", "from": "07:00", "route": "day"}]
    desk = patrol_plans.build(ctx, {"plans": night_walk})
    ended_laps: set[str] = set()
    t = START_S
    while t < START_S + 86400.0:
        hospital_part.step(t)
        office.step(t)
        desk.step(t)
        if submitted and submitted[-1].kind == "security_patrol" and submitted[-1].task_id not in ended_laps:
            ended_laps.add(submitted[-1].task_id)  # no robots here: each lap ends at once
            desk.on_task_finished(Task(submitted[-1], t, state=TaskState.DONE, finished_s=t))
        t += 60.0
    kinds = {r.kind for r in submitted}
    assert kinds == {"supply_delivery", "asset_audit", "security_patrol"}
    models: dict[str, type[pydantic.BaseModel]] = {
        "supply_delivery": SupplyDeliveryParams, "asset_audit": AssetAuditParams,
        "security_patrol": SecurityPatrolParams}
    for request in submitted:
        models[request.kind].model_validate(request.params)
    night = next(r for r in submitted if r.kind == "security_patrol" and "checkpoints" in r.params)
    bays = [c["name"] for c in night.params["checkpoints"] if c["place"].startswith("car-park")]
    # walked nearest-first on the site's route graph: the order of the robots' own night route
    assert bays == [n for n in ROUTES["night"] if n.startswith("car-park")]
