"""A whole simulated day of faults (24 h, ~3-4 min here): devices failing mid-mission, a ward door
stuck, aged batteries, an uplink dropping. Every failure reaches its mission's result with the
reason and raises an alert; no robot is stranded with a flat battery."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fault_day import DEGRADED_BATTERIES, DEVICE_FAULTS, fault_day_scenario
from rig import FleetStepper

from missions.events import MissionEvent

HOURS = 24.0
# the day is simulated once, in the module's fixture, inside the first test
pytestmark = pytest.mark.timeout(1200)


@dataclass
class Day:
    events: list[MissionEvent]
    min_soc: dict[str, float]
    charged: dict[str, bool]


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Day:
    tmp = tmp_path_factory.mktemp("fault-day")
    fleet = FleetStepper(str(fault_day_scenario(tmp)), tmp / "journal", hours=HOURS)
    env = fleet.run.env
    for robot_id, (capacity, soc) in DEGRADED_BATTERIES.items():
        body = env.body(robot_id)
        body.battery_capacity_wh *= capacity
        body.soc_fraction = soc
    min_soc = {rid: 1.0 for rid in env.robot_ids()}
    try:
        for _ in range(fleet.n_ticks):
            fleet.step()
            for rid in min_soc:
                min_soc[rid] = min(min_soc[rid], env.body(rid).soc_fraction)
    finally:
        fleet.close()
    charged = {rid: env.body(rid).charge_cycles >= 1 or env.body(rid).is_charging for rid in DEGRADED_BATTERIES}
    return Day(fleet.events, min_soc, charged)


def _failed(day: Day) -> list[MissionEvent]:
    return [e for e in day.events if e.kind == "mission.failed"]


def test_every_failure_reaches_its_mission_result_with_the_reason(day: Day) -> None:
    assert _failed(day), "the faults made missions fail"
    assert all(e.reason for e in _failed(day))

    def mentioned(reason: str, robot_id: str) -> bool:
        return any(reason in f"{e.reason} {e.data}" for e in day.events if e.robot_id == robot_id)

    reached = {f"{r}/{d}" for r, d, _at, _m, why in DEVICE_FAULTS if mentioned(why, r)}
    # each fault is timed to hit a mission that needs the device: every one must surface, named
    assert reached == {f"{r}/{d}" for r, d, *_ in DEVICE_FAULTS}, reached
    print("faults reached a mission:", sorted(reached))
    door = [e for e in day.events if e.robot_id == "logistics-1" and "ward-b-entrance" in f"{e.reason} {e.data}"]
    assert door, "the stuck ward door reached the delivery's result"
    print(f"fault day ({HOURS} h): {len(DEVICE_FAULTS) + 1 + len(DEGRADED_BATTERIES)} faults injected, "
          f"{len(_failed(day))} missions failed with a reason, "
          f"{sum(e.kind == 'alert' for e in day.events)} alerts, min charge {min(day.min_soc.values()):.2f}")


def test_every_failed_mission_raised_an_alert(day: Day) -> None:
    alerts = [e for e in day.events if e.kind == "alert"]
    unalerted = [f"{e.robot_id} {e.mission_kind} {e.mission_id}: {e.reason}" for e in _failed(day)
                 if not any(a.robot_id == e.robot_id and a.mission_id in (e.mission_id, None)
                            and abs(a.stamp_s - e.stamp_s) <= 600 for a in alerts)]
    assert unalerted == [], "\n".join(unalerted)


def test_no_robot_strands_with_a_flat_battery(day: Day) -> None:
    assert all(soc > 0.05 for soc in day.min_soc.values()), day.min_soc
    assert all(day.charged.values()), day.charged  # the aged packs were taken to charge in time
