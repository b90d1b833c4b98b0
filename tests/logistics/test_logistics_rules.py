"""The logistics rules on their own (custody ledger, stock, register comparison, sim devices),
and a logistics-only scenario run through the simulator for two simulated hours."""

from __future__ import annotations

import copy

from missions.logistics.assets import RegisteredAsset, compare_with_register
from missions.logistics.custody import CustodyLedger, entry_hash, genesis_hash, verify_chain
from missions.logistics.stock import StockLevel, apply_delivery, purchasing_plan, reorder_suggestions
from sim.logistics_world import build_logistics_world
from sim.runner import SimOptions, SimulationRun
from sim.scenario import RobotPlacement, Scenario


def ledger_of_three() -> CustodyLedger:
    ledger = CustodyLedger("d-9")
    for action, who, where in (("loaded", "st-0000a1", "central-supply"), ("tamper_detected", None, "corridor"),
                               ("returned", "st-0000a1", "central-supply")):
        ledger.append(ledger.new_entry(action, who=who, what={"gloves-m-box": 4}, when_s=100.0, where=where,
                                       compartment="C1"))
    return ledger


def test_custody_chain_verifies_end_to_end_and_links_each_entry_to_the_one_before() -> None:
    ledger = ledger_of_three()
    assert ledger.verify().ok and ledger.verify().entries == 3
    assert ledger.entries[0]["prev_hash"] == genesis_hash("d-9")
    for before, after in zip(ledger.entries, ledger.entries[1:], strict=False):
        assert after["prev_hash"] == before["hash"]
    assert all(e["hash"] == entry_hash(e) for e in ledger.entries)


def test_tampering_with_one_entry_is_named_as_the_first_broken_entry() -> None:
    entries = ledger_of_three().entries
    changed = copy.deepcopy(entries)
    changed[1]["what"] = {"gloves-m-box": 1}  # someone edits what was in the box
    check = verify_chain(changed, "d-9")
    assert not check.ok and check.first_broken_seq == 1 and "content changed" in check.reason
    rehashed = copy.deepcopy(changed)
    rehashed[1]["hash"] = entry_hash(rehashed[1])  # ... and recomputes its hash: the next link breaks
    check = verify_chain(rehashed, "d-9")
    assert not check.ok and check.first_broken_seq == 2 and "does not link" in check.reason
    assert verify_chain(entries[:1] + entries[2:], "d-9").first_broken_seq == 1  # a deleted entry
    assert verify_chain(entries, "d-other").first_broken_seq == 0  # moved to another delivery


def test_stock_reorder_suggestions_and_purchasing_plan() -> None:
    levels = [StockLevel(item="gauze-10x10", on_hand=1, reorder_point=8, par_level=24),
              StockLevel(item="iv-giving-set", on_hand=9, reorder_point=8, par_level=24)]
    after = apply_delivery(levels, {"gauze-10x10": 3, "syringe-10ml": 5})
    assert [(lv.item, lv.on_hand) for lv in after] == [("gauze-10x10", 4), ("iv-giving-set", 9), ("syringe-10ml", 5)]
    suggestions = [s.as_dict() for s in reorder_suggestions("ward-a", after)]
    assert suggestions == [{"ward": "ward-a", "item": "gauze-10x10", "on_hand": 4, "reorder_point": 8,
                            "order_quantity": 20}]
    later = {**suggestions[0], "on_hand": 2, "order_quantity": 22}  # the latest per ward and item counts
    plan = purchasing_plan([*suggestions, later, {**later, "ward": "ward-b", "order_quantity": 10}])
    assert plan == {"lines": 2, "items": {"gauze-10x10": {"order_quantity": 32, "wards": ["ward-a", "ward-b"]}},
                    "total_units": 32}


def test_register_comparison_counts_only_audited_rooms() -> None:
    register = [RegisteredAsset(asset_id=f"FA-{n}", tag_id=f"T{n}", room=room)
                for n, room in enumerate(["r1", "r1", "r2", "r3"])]
    findings = compare_with_register(register, {"r1": ["T0", "T2", "TX"], "r2": []})
    assert findings["present"] == ["FA-0"]
    assert findings["misplaced"] == [{"asset_id": "FA-2", "kind": "equipment", "register_room": "r2",
                                      "found_in": "r1"}]
    assert [m["asset_id"] for m in findings["missing"]] == ["FA-1"]  # FA-3's room r3 was not audited
    assert findings["unregistered"] == [{"tag_id": "TX", "room": "r1"}]


def test_logistics_world_is_seeded_and_pseudonymous() -> None:
    a, b = build_logistics_world(7), build_logistics_world(7)
    assert [x.tag_id for x in a.assets] == [x.tag_id for x in b.assets]
    assert [x.asset_id for x in a.missing()] == [x.asset_id for x in b.missing()]
    assert len(a.missing()) == 2 and len(a.misplaced()) == 2
    assert all(s.staff_ref.startswith("st-") for s in a.staff)
    assert [x.tag_id for x in build_logistics_world(8).assets] != [x.tag_id for x in a.assets]


def test_logistics_only_scenario_runs_two_simulated_hours() -> None:
    scenario = Scenario(
        name="logistics-2h", start_time="07:45", hours=2, tick_s=0.4,  # coarser ticks: half the wall time
        robots=[RobotPlacement(id="logistics-1", kind="logistics", dock="dock-supply", serves="central-supply")],
        fleet={"demand": {"supply": {"ward_deliveries": ["08:00"],
                                     "pharmacy_delivery": {"at": "08:30", "ward": "ward-a"},
                                     "asset_audit": {"at": "08:50"}}}},
        hospital={"logistics": {"stuck_door": {"door": "ward-b-entrance", "at": "08:00", "duration_min": 20}}},
    )
    summary = SimulationRun(scenario, SimOptions(broker=None, progress=False)).run()
    work = summary["fleet"]["sources"]["supply"]
    hospital = summary["hospital"]["logistics"]
    assert work["deliveries_requested"] == 3, work
    assert work["handed_over"] == 2 and work["returned"] == 1, work
    # ward B's 08:00 restock finds its entrance stuck: the robot brings the goods back with the reason
    assert work["failed"] == {"restock-ward-b-20260105-0800": "door ward-b-entrance did not open"}, work
    # every custody chain verifies: by the robot, and independently from the delivery's end event
    assert work["custody_verified_by_robot"] == 3, work
    assert hospital["custody_chains_verified"] == 3 and hospital["custody_chains_broken"] == [], hospital
    assert list(work["audits"]) == ["audit-20260105-0850"], work
    audit = work["audits"]["audit-20260105-0850"]
    assert audit["state"] == "done", audit
    truth = hospital["audit_truth"]
    assert audit["missing"] == truth["missing"] and audit["misplaced"] == truth["misplaced"], (audit, truth)
    assert [a["matches_truth"] for a in hospital["audits"].values()] == [True], hospital
    assert summary["telemetry_contract_errors"] == {}
