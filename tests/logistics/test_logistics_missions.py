"""Logistics missions on a whole simulated logistics robot (the kind's YAML, the sim devices, the
default hospital), ticked by hand on a SimClock: deliveries with their custody chain, wrong PINs,
the stuck door, stock, the asset audit, lifts in a two-level world, cancel, e-stop, restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hal.clock import SimClock
from missions.events import MissionEvent
from missions.logistics.custody import verify_chain
from robots.config import RobotKindConfig, kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from robots.robot import Robot, RobotIdentity, build_devices
from sim.body import SimBody
from sim.building_model import building_model
from sim.devices.compartments import SimCompartments, SimKeypad
from sim.devices.door_opener import SimDoorOpener
from sim.environment import SimEnvironment
from sim.logistics_world import Presentation, StaffMember, logistics_world
from sim.patients import PatientCensus
from sim.scenario import WORLDS_DIR
from sim.world import World, load_world
from telemetry.sinks import NullSink

START_S = 1767600000.0
DT = 0.2
ROBOT = "logistics-1"


class Rig:
    """One logistics robot in a world; `restart()` kills it and builds a new one on the same
    journal, body and environment (as a rebooted robot would find them)."""

    def __init__(self, tmp_path: Path, world: World, dock: str, config: RobotKindConfig | None = None) -> None:
        self.clock = SimClock(START_S)
        self.world = world
        self.env = SimEnvironment(world, PatientCensus(1, world.beds(), START_S), self.clock, 1)
        self.body: SimBody = self.env.add_robot(ROBOT, dock)
        self.dock = dock
        self.config = config or load_robot_config(kind_config_path("logistics"))
        self.journal_dir = tmp_path / "journal"
        self.events: list[MissionEvent] = []
        self.robot = self._build()

    def _build(self) -> Robot:
        devices = build_devices(self.config, load_device_registry(), self.clock, ROBOT,
                                {"sim_env": self.env, "sim_body": self.body})
        robot = Robot(RobotIdentity(ROBOT, "test-site", self.dock), self.config, devices, self.clock,
                      site_map=self.world, telemetry=NullSink(), journal_dir=self.journal_dir)
        robot.add_listener(self.events.append)
        robot.setup()
        return robot

    def restart(self) -> None:
        self.robot.close()
        self.robot = self._build()

    def device(self, kind: type[Any]) -> Any:
        return self.robot.devices.require(kind)

    def tick(self) -> None:
        now_s = self.clock.now_s() + DT
        self.clock.set(now_s)
        self.robot.step(now_s)
        self.env.step(DT)

    def run_until(self, done: Callable[[], bool], max_s: float = 3600.0) -> None:
        end_s = self.clock.now_s() + max_s
        while not done():
            assert self.clock.now_s() < end_s, "condition not reached in time"
            self.tick()

    def run_to_end(self, max_s: float = 3600.0) -> Any:
        self.run_until(lambda: bool(self.robot.runner.history), max_s)
        return self.robot.runner.history[-1]

    def steps(self, name: str) -> list[MissionEvent]:
        return [e for e in self.events if e.kind == "mission.step" and e.step == name]

    def alerts(self) -> list[MissionEvent]:
        return [e for e in self.events if e.kind == "alert"]


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path, load_world(WORLDS_DIR / "one_floor_hospital.yaml"), "dock-supply")


def delivery(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "delivery_id": "d-001", "origin": "central-supply", "destination": "ward-a-utility", "ward": "ward-a",
        "items": [{"item": "gloves-m-box", "quantity": 5}, {"item": "saline-500ml", "quantity": 12}],
        "ward_stock": [
            {"item": "gloves-m-box", "on_hand": 2, "reorder_point": 10, "par_level": 30},
            {"item": "saline-500ml", "on_hand": 8, "reorder_point": 10, "par_level": 30},
            {"item": "syringe-10ml", "on_hand": 40, "reorder_point": 15, "par_level": 50},
        ],
        "journey": {"door_timeout_s": 20, "door_attempts": 3, "door_retry_wait_s": 5},
    }
    params.update(overrides)
    return params


def actions(result: Any) -> list[str]:
    return [e["action"] for e in result.data["custody"]]


def nurse_at(rig: Rig, place: str) -> StaffMember:
    return next(s for s in logistics_world(rig.env).staff_at(place) if s.role == "nurse")


# ---- supply delivery ----------------------------------------------------------------------------


def test_delivery_hands_over_to_the_authenticated_nurse_with_a_verifiable_chain(rig: Rig) -> None:
    rig.robot.dispatch("supply_delivery", delivery(), mission_id="d-001")
    result = rig.run_to_end()
    assert result.outcome == "succeeded", result.reason
    assert actions(result) == ["loaded", "handed_over"]
    check = verify_chain(result.data["custody"], "d-001")
    assert check.ok and check.entries == 2
    loaded, handed = result.data["custody"]
    assert loaded["where"] == "central-supply" and loaded["who"].startswith("st-")
    assert handed["who"] in {s.staff_ref for s in logistics_world(rig.env).staff_at("ward-a-utility")}
    assert handed["what"] == {"gloves-m-box": 5, "saline-500ml": 12} and handed["where"] == "ward-a-utility"
    assert handed["prev_hash"] == loaded["hash"]
    # the powered doors were asked to open on the way out and back
    doors = [door for _, door in rig.device(SimDoorOpener).requests]
    assert "central-supply-door" in doors and "ward-a-entrance" in doors
    assert rig.device(SimCompartments).state(handed["compartment"]).empty
    assert [e.data["custody_entry"]["action"] for e in rig.events if e.step and e.step.startswith("custody.")] == [
        "loaded", "handed_over"]


def test_stock_is_updated_on_delivery_with_reorder_suggestions_below_the_reorder_point(rig: Rig) -> None:
    rig.robot.dispatch("supply_delivery", delivery(), mission_id="d-001")
    result = rig.run_to_end()
    levels = {lv["item"]: lv["on_hand"] for lv in result.data["stock"]["levels"]}
    assert levels == {"gloves-m-box": 7, "saline-500ml": 20, "syringe-10ml": 40}
    # gloves are still below their reorder point (7 < 10): order up to par; saline and syringes are not
    [stock_event] = rig.steps("stock.updated")
    assert stock_event.data["reorder_suggestions"] == [
        {"ward": "ward-a", "item": "gloves-m-box", "on_hand": 7, "reorder_point": 10, "order_quantity": 23}]


def test_three_wrong_pins_lock_out_alert_and_the_goods_go_back_with_custody_entries(rig: Rig) -> None:
    nurse = nurse_at(rig, "ward-a-utility")
    logistics_world(rig.env).script("ward-a-utility", [Presentation(nurse.staff_ref, "0000x")] * 3)
    rig.robot.dispatch("supply_delivery", delivery(), mission_id="d-001")
    result = rig.run_to_end()
    assert result.outcome == "failed"
    assert result.reason == "locked out after 3 failed authentications (wrong pin)"
    assert len(rig.steps("auth_recipient.refused")) == 3
    [lockout] = [a for a in rig.alerts() if a.data["category"] == "security"]
    assert lockout.data["severity"] == "medium" and "locked out" in lockout.data["summary"]
    assert actions(result) == ["loaded", "returned"]
    assert result.data["delivery_outcome"] == "returned"
    assert verify_chain(result.data["custody"], "d-001").ok
    returned = result.data["custody"][1]
    assert returned["where"] == "central-supply" and returned["who"] != nurse.staff_ref
    keypad: SimKeypad = rig.device(SimKeypad)
    assert not any(s.granted and s.role == "nurse" for s in keypad.scans)  # nobody on the ward got in


def test_stuck_door_bounded_wait_then_the_reason_names_the_door(rig: Rig) -> None:
    logistics_world(rig.env).stick_door("ward-a-entrance", START_S, START_S + 86400)
    rig.robot.dispatch("supply_delivery", delivery(), mission_id="d-001")
    rig.run_until(lambda: bool(rig.steps("delivery.undeliverable")))
    [undeliverable] = rig.steps("delivery.undeliverable")
    loaded_s = rig.steps("custody.loaded")[0].stamp_s
    # the supply-room door first (4 s), then 3 attempts x 20 s + 2 waits x 5 s: bounded, not forever
    assert 3 * 20 + 2 * 5 <= undeliverable.stamp_s - loaded_s <= 4 + 3 * 20 + 2 * 5 + 1
    assert [d for _, d in rig.device(SimDoorOpener).requests].count("ward-a-entrance") == 3
    result = rig.run_to_end()
    assert result.outcome == "failed" and result.reason == "door ward-a-entrance did not open"
    assert actions(result) == ["loaded", "returned"]


def test_tamper_in_transit_is_a_custody_entry_and_a_high_alert(rig: Rig) -> None:
    rig.robot.dispatch("supply_delivery", delivery(), mission_id="d-001")
    rig.run_until(lambda: bool(rig.steps("custody.loaded")))
    rig.run_until(lambda: rig.robot.runner.current is not None and rig.robot.runner.current.step.value == "go_to_ward")
    compartments: SimCompartments = rig.device(SimCompartments)
    compartments.force_open("C1", take={"saline-500ml": 2})
    result = rig.run_to_end()
    assert actions(result) == ["loaded", "tamper_detected", "returned"]
    assert result.data["custody"][1]["what"] == {"gloves-m-box": 5, "saline-500ml": 10}
    assert any(a.data["category"] == "security" and a.data["severity"] == "high" for a in rig.alerts())
    assert verify_chain(result.data["custody"], "d-001").ok


def test_cancel_in_transit_leaves_an_alert_for_the_goods_on_board(rig: Rig) -> None:
    rig.robot.dispatch("supply_delivery", delivery(), mission_id="d-001")
    rig.run_until(lambda: bool(rig.steps("custody.loaded")))
    for _ in range(50):
        rig.tick()
    rig.robot.cancel()
    result = rig.robot.runner.history[-1]
    assert result.outcome == "cancelled" and result.data["delivery_outcome"] == "on_board"
    [alert] = [a for a in rig.alerts() if a.data["category"] == "custody"]
    assert alert.data["severity"] == "high" and "still locked in compartment C1" in alert.data["summary"]
    for _ in range(20):
        rig.tick()
    assert rig.body.velocity.linear_mps == pytest.approx(0.0, abs=1e-6)


def test_estop_holds_the_delivery_and_it_resumes_after_reset(rig: Rig) -> None:
    rig.robot.dispatch("supply_delivery", delivery(), mission_id="d-001")
    rig.run_until(lambda: bool(rig.steps("custody.loaded")))
    for _ in range(50):
        rig.tick()
    rig.env.press_estop(ROBOT)
    rig.tick()
    assert rig.robot.runner.current is not None and rig.robot.runner.current.state.value == "paused"
    for _ in range(20):
        rig.tick()
    held_at = rig.body.pose
    for _ in range(100):
        rig.tick()
    assert rig.body.pose.distance_to_m(held_at) < 0.01
    rig.env.release_estop(ROBOT)
    rig.tick()
    ok, why = rig.robot.reset_estop("st-00aa11")
    assert ok, why
    result = rig.run_to_end()
    assert result.outcome == "succeeded" and actions(result) == ["loaded", "handed_over"]


@pytest.mark.parametrize("kill_after", ["custody.loaded", "custody.handed_over"])
def test_restart_mid_delivery_never_hands_over_twice(rig: Rig, kill_after: str) -> None:
    rig.robot.dispatch("supply_delivery", delivery(), mission_id="d-001")
    rig.run_until(lambda: bool(rig.steps(kill_after)))
    for _ in range(30):
        rig.tick()
    rig.restart()
    result = rig.run_to_end()
    assert result.outcome == "succeeded", result.reason
    assert actions(result) == ["loaded", "handed_over"]  # one of each: the ledger is the proof
    assert verify_chain(result.data["custody"], "d-001").ok
    unloads = [entry for entry in rig.device(SimCompartments).log if entry[2] in ("unload", "load")]
    if kill_after == "custody.handed_over":
        assert unloads == []  # the new robot never opened a compartment again
    else:
        assert [entry[2] for entry in unloads] == ["unload"]  # handed over once, never re-loaded


# ---- asset audit -------------------------------------------------------------------------------


def test_asset_audit_finds_the_seeded_missing_and_misplaced_assets_and_nothing_else(rig: Rig) -> None:
    world = logistics_world(rig.env)
    register = [{"asset_id": a.asset_id, "tag_id": a.tag_id, "kind": a.kind, "room": a.home_room}
                for a in world.assets]
    rooms = ["central-supply", "ward-b-utility", "ward-b-nurse-station", "ward-a-nurse-station", "ward-a-utility"]
    rig.robot.dispatch("asset_audit", {"audit_id": "au-1", "rooms": rooms, "asset_register": register},
                       mission_id="au-1")
    result = rig.run_to_end(max_s=7200)
    assert result.outcome == "succeeded", result.reason
    findings = result.data["findings"]
    assert world.missing() and world.misplaced()
    assert sorted(f["asset_id"] for f in findings["missing"]) == sorted(a.asset_id for a in world.missing())
    assert sorted((f["asset_id"], f["found_in"]) for f in findings["misplaced"]) == sorted(
        (a.asset_id, a.actual_room) for a in world.misplaced())
    assert findings["unregistered"] == []
    assert len(findings["present"]) == len(world.assets) - len(world.missing()) - len(world.misplaced())
    assert result.data["rooms_audited"] == rooms  # visited in order
    missing_alerts = [a for a in rig.alerts() if a.data["category"] == "asset"]
    assert len(missing_alerts) == len(world.missing())
    assert {a.data["severity"] for a in missing_alerts} == {"low"}
    assert len(rig.steps("audit.misplaced")) == len(world.misplaced())


# ---- lifts -------------------------------------------------------------------------------------


def test_lift_is_called_boarded_and_ridden_in_the_default_hospital(tmp_path: Path) -> None:
    rig = Rig(tmp_path, load_world(WORLDS_DIR / "default_hospital.yaml"), "dock-supply")
    assert rig.world.places["central-supply"].level == -1 and rig.world.places["ward-a-utility"].level == 1
    rig.robot.dispatch("supply_delivery", delivery(), mission_id="d-001")
    rig.run_until(lambda: bool(rig.steps("custody.handed_over")))
    assert rig.body.pose.level == 1
    result = rig.run_to_end()
    assert result.outcome == "succeeded", result.reason
    rides = [r for r in building_model(rig.env).rides() if r.robot == ROBOT]
    assert [(r.from_level, r.to_level, r.outcome) for r in rides] == [(-1, 1, "done"), (1, -1, "done")]
    assert rig.body.pose.level == -1  # back at its dock in the basement
