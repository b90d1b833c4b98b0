"""The fleet's traffic arbiter: mutex groups granted whole, in priority order, released when left."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.traffic import GIVE_WAY_S, REWANT_GRACE_S, SETTLE_S, TrafficArbiter
from telemetry.codec import MessageEncoder
from telemetry.topics import FLEET_ID, Channel
from telemetry.validate import PayloadError

KINDS = {"door:a": "door", "lane:x": "lane", "lift:1": "lift", "dock:1": "charger"}
T0 = 1000.0
SETTLED = T0 + SETTLE_S


def want(groups: list[str], priority: int = 50, seq: int = 1, held: list[str] | None = None,
         at: str | None = "hold-1") -> dict[str, Any]:
    return {"seq": seq, "held": held or [], "wanted": {"groups": groups, "priority": priority, "task_id": None,
                                                          "at": at}}


def state(held: list[str], seq: int) -> dict[str, Any]:
    return {"seq": seq, "held": held, "wanted": None}


def settled_arbiter(alerts: list[str] | None = None) -> TrafficArbiter:
    sink = alerts if alerts is not None else []
    arbiter = TrafficArbiter(KINDS, alert=lambda aid, sev, summary, now: sink.append(summary))
    arbiter.step(T0)  # starts the settle period
    return arbiter


def test_nothing_is_granted_before_every_robot_had_time_to_report_its_holds() -> None:
    arbiter = settled_arbiter()
    arbiter.on_report("r1", want(["door:a"]), T0 + 1)
    arbiter.step(T0 + 1)
    assert "door:a" not in arbiter.owners
    # the robot that was in the door all along reports it during the settle period
    arbiter.on_report("r2", state(["door:a"], 1), T0 + 2)
    table = arbiter.step(SETTLED)
    assert table is not None and table["owners"] == {"door:a": "r2"}


def test_free_groups_are_granted_whole_and_a_second_robot_waits_until_release() -> None:
    arbiter = settled_arbiter()
    arbiter.on_report("r1", want(["door:a", "lane:x"]), SETTLED)
    arbiter.on_report("r2", want(["lane:x"]), SETTLED)
    table = arbiter.step(SETTLED)
    assert table is not None and table["owners"] == {"door:a": "r1", "lane:x": "r1"}
    # r1 passes the door and is in the lane; then leaves both
    arbiter.on_report("r1", state(["lane:x"], 2), SETTLED + 5)
    arbiter.step(SETTLED + 5)
    assert arbiter.owners == {"lane:x": "r1"}
    arbiter.on_report("r1", state([], 3), SETTLED + 9)
    table = arbiter.step(SETTLED + 9)
    assert table is not None and table["owners"] == {"lane:x": "r2"}
    lane = arbiter.figures.summary()["wait_s"]["lane"]
    assert lane["grants"] == 2 and lane["max"] == pytest.approx(9.0)
    assert lane["longest"] == {"group": "lane:x", "robot": "r2"}


def test_a_higher_priority_request_passes_one_that_waited_longer() -> None:
    arbiter = settled_arbiter()
    arbiter.on_report("holder", state(["door:a"], 1), T0)
    arbiter.on_report("linen", want(["door:a"], priority=10), SETTLED)
    arbiter.step(SETTLED)
    arbiter.on_report("news2", want(["door:a"], priority=90), SETTLED + 20)
    arbiter.on_report("holder", state([], 2), SETTLED + 30)
    arbiter.step(SETTLED + 30)
    assert arbiter.owners == {"door:a": "news2"}


def test_a_waiter_placed_higher_is_not_overtaken_by_a_lower_one_on_its_groups() -> None:
    """news2 waits for door+lane (the door is taken); linen wants only the lane, which is free —
    but granting it would make news2 wait longer still, so linen waits too."""
    arbiter = settled_arbiter()
    arbiter.on_report("holder", state(["door:a"], 1), T0)
    arbiter.on_report("news2", want(["door:a", "lane:x"], priority=90), SETTLED)
    arbiter.on_report("linen", want(["lane:x"], priority=10), SETTLED)
    arbiter.on_report("other", want(["lift:1"], priority=10), SETTLED)
    arbiter.step(SETTLED)
    assert arbiter.owners == {"door:a": "holder", "lift:1": "other"}


def test_a_robot_reporting_itself_inside_a_group_it_does_not_own_is_a_counted_conflict() -> None:
    alerts: list[str] = []
    arbiter = settled_arbiter(alerts)
    arbiter.on_report("r1", state(["dock:1"], 1), T0)
    arbiter.on_report("r2", state(["dock:1"], 1), T0 + 1)
    assert arbiter.owners == {"dock:1": "r1"}
    assert arbiter.figures.conflicts == 1
    assert "r2 reports being in dock:1, which is reserved for r1" in alerts


def test_a_lost_robot_keeps_what_it_stands_in_and_stops_waiting() -> None:
    alerts: list[str] = []
    arbiter = settled_arbiter(alerts)
    arbiter.on_report("r1", want(["lane:x"], held=["door:a"]), SETTLED)
    arbiter.on_report("r2", want(["door:a"]), SETTLED)
    arbiter.robot_lost("r1", SETTLED)
    arbiter.step(SETTLED)
    assert arbiter.owners == {"door:a": "r1"}  # r1's want for the lane is gone; the door stays held
    assert any("went offline holding door:a" in a for a in alerts)
    assert arbiter.clear("r1") == ["door:a"]
    arbiter.step(SETTLED + 1)
    assert arbiter.owners == {"door:a": "r2"}


def test_a_wait_for_cycle_is_counted_once_and_broken_by_the_lowest_priority_robot() -> None:
    alerts: list[str] = []
    arbiter = settled_arbiter(alerts)
    arbiter.on_report("a", want(["dock:1"], priority=60, held=["door:a"]), SETTLED)
    arbiter.on_report("b", want(["door:a"], priority=20, held=["dock:1"]), SETTLED)
    table = arbiter.step(SETTLED)
    arbiter.step(SETTLED + 1)
    assert arbiter.figures.deadlocks == 1
    assert table is not None and table["give_way"] == ["b"]
    assert any("b gives way" in a for a in alerts)
    # b gave way and asks again: the same cycle back is a new episode, broken again (before, a
    # cycle once seen was never broken again while any robot waited anywhere)
    later = arbiter.step(SETTLED + GIVE_WAY_S + 1)
    assert later is not None and later["give_way"] == ["b"] and arbiter.figures.deadlocks == 2


def test_a_robot_granted_a_door_nose_to_nose_with_the_robot_waiting_to_come_out_lets_go_of_it() -> None:
    # r1 (priority 70) is granted door:a and drives up to it; r2 (50), inside, waits for the door
    # to come out, and stands in r1's way: the holder lets go and r2 is let through first, ahead
    # of r3 (60) who waits for the door too. Counted as a standoff, not a deadlock
    alerts: list[str] = []
    arbiter = settled_arbiter(alerts)
    arbiter.on_report("r1", want(["door:a"], priority=70), SETTLED)
    arbiter.step(SETTLED)
    assert arbiter.owners == {"door:a": "r1"}
    arbiter.on_report("r1", {"seq": 2, "held": ["door:a"], "wanted": None, "blocked_by": "r2"}, SETTLED + 1)
    arbiter.on_report("r2", want(["door:a"], priority=50, at="inside"), SETTLED + 1)
    arbiter.on_report("r3", want(["door:a"], priority=60), SETTLED + 1)
    table = arbiter.step(SETTLED + 1)
    assert table is not None and table["give_way"] == ["r1"]
    assert arbiter.figures.standoffs == 1 and arbiter.figures.deadlocks == 0
    assert any("r1 gives way" in a for a in alerts)
    arbiter.on_report("r1", {"seq": 3, "held": [], "wanted": None, "blocked_by": "r2"}, SETTLED + 2)  # let go
    arbiter.step(SETTLED + 2)
    assert arbiter.owners == {"door:a": "r2"}
    # two robots merely stopped by each other, nothing reserved between them: no business of the fleet's
    quiet = settled_arbiter()
    quiet.on_report("x", {"seq": 1, "held": [], "wanted": None, "blocked_by": "y"}, SETTLED)
    quiet.on_report("y", {"seq": 1, "held": [], "wanted": None, "blocked_by": "x"}, SETTLED)
    table = quiet.step(SETTLED)
    assert (table is None or "give_way" not in table) and quiet.figures.standoffs == quiet.figures.deadlocks == 0


def test_older_reports_do_not_undo_newer_ones() -> None:
    arbiter = settled_arbiter()
    arbiter.on_report("r1", state(["door:a"], 5), T0)
    arbiter.on_report("r1", state([], 4), T0 + 1)
    assert arbiter.owners == {"door:a": "r1"}


def test_the_table_is_republished_when_nothing_changed_but_its_period_ran_out() -> None:
    arbiter = settled_arbiter()
    assert arbiter.step(T0 + 1) is None
    assert arbiter.step(T0 + 11) is not None


def test_both_shapes_of_the_traffic_body_match_the_contract() -> None:
    arbiter = settled_arbiter()
    arbiter.on_report("r1", want(["door:a"]), SETTLED)
    table = arbiter.step(SETTLED)
    assert table is not None
    fleet, robot = MessageEncoder("site-1", FLEET_ID), MessageEncoder("site-1", "r1")
    fleet.encode(Channel.TRAFFIC, table, SETTLED)
    robot.encode(Channel.TRAFFIC, want(["door:a"]), SETTLED)
    robot.encode(Channel.TRAFFIC, state([], 3), SETTLED)
    robot.encode(Channel.TRAFFIC, {**state(["door:a"], 4), "blocked_by": "r2"}, SETTLED)
    with pytest.raises(PayloadError):
        robot.encode(Channel.TRAFFIC, {"seq": 1, "held": ["Door A!"], "wanted": None}, SETTLED)
    with pytest.raises(PayloadError):
        fleet.encode(Channel.TRAFFIC, {"seq": 1, "owners": {"door:a": "R1"}}, SETTLED)


def test_a_conflict_is_alerted_once_until_it_ends() -> None:
    alerts: list[str] = []
    arbiter = settled_arbiter(alerts)
    arbiter.on_report("r1", state(["dock:1"], 1), T0)
    for seq in range(1, 5):
        arbiter.on_report("r2", state(["dock:1"], seq), T0 + seq)
    assert arbiter.figures.conflicts == 1 and len(alerts) == 1
    arbiter.on_report("r2", state([], 6), T0 + 6)
    arbiter.on_report("r2", state(["dock:1"], 7), T0 + 7)
    assert arbiter.figures.conflicts == 2


def test_a_robot_turning_to_another_lift_keeps_its_wait_and_its_place_in_the_queue() -> None:
    kinds = {"lift:1": "lift", "lift:2": "lift"}
    arbiter = TrafficArbiter(kinds)
    arbiter.step(T0)
    arbiter.on_report("rider", state(["lift:1"], 1), T0)
    arbiter.on_report("late", want(["lift:2"]), SETTLED)  # lift 2 was free: granted at once
    arbiter.step(SETTLED)
    arbiter.on_report("late", state([], 2), SETTLED + 1)
    arbiter.on_report("switcher", want(["lift:1"]), SETTLED + 2)
    arbiter.step(SETTLED + 2)
    # the switcher waited 10 s for lift 1, then heads for lift 2 (which "late" has just left)
    arbiter.on_report("switcher", want(["lift:2"], seq=2), SETTLED + 12)
    table = arbiter.step(SETTLED + 12)
    assert table is not None and table["owners"]["lift:2"] == "switcher"
    lift = arbiter.figures.summary()["wait_s"]["lift"]
    assert lift["max"] == pytest.approx(10.0)  # counted from its first request, not from the switch
    assert lift["grants"] == 2 and lift["withdrawn"] == 0


def test_a_wait_given_up_before_a_grant_is_in_the_figures() -> None:
    arbiter = settled_arbiter()
    arbiter.on_report("holder", state(["door:a"], 1), T0)
    arbiter.on_report("patient", want(["door:a"]), SETTLED)
    arbiter.step(SETTLED)
    arbiter.on_report("patient", state([], 2), SETTLED + 600)  # gave up its goal after the bound
    arbiter.step(SETTLED + 600)
    assert "door" not in arbiter.figures.summary()["wait_s"]  # it may ask again at once: one wait then
    arbiter.step(SETTLED + 600 + REWANT_GRACE_S)
    door = arbiter.figures.summary()["wait_s"]["door"]
    assert door["withdrawn"] == 1 and door["grants"] == 0 and door["max"] == pytest.approx(600.0)
    assert arbiter.figures.grants == 0


def test_a_wait_withdrawn_for_a_moment_and_asked_again_for_another_lift_is_one_wait() -> None:
    arbiter = TrafficArbiter({"lift:1": "lift", "lift:2": "lift"})
    arbiter.step(T0)
    arbiter.on_report("rider", state(["lift:1", "lift:2"], 1), T0)
    arbiter.on_report("switcher", want(["lift:1"]), SETTLED)
    arbiter.step(SETTLED)
    arbiter.on_report("switcher", state([], 2), SETTLED + 10)  # between two goals: no wait for a tick
    arbiter.step(SETTLED + 10)
    arbiter.on_report("switcher", want(["lift:2"], seq=3), SETTLED + 11)
    arbiter.on_report("rider", state(["lift:1"], 2), SETTLED + 20)
    table = arbiter.step(SETTLED + 20)
    assert table is not None and table["owners"]["lift:2"] == "switcher"
    lift = arbiter.flush_figures().summary()["wait_s"]["lift"]
    assert lift["max"] == pytest.approx(20.0) and lift["withdrawn"] == 0 and lift["grants"] == 1


def parked(at: str | None, seq: int, exit_spot: str | None = None, groups: list[str] | None = None,
           *, waits: bool = True, held: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"seq": seq, "held": held or [], "parked_at": at, "wanted": None}
    if groups:
        body["wanted"] = {"groups": groups, "priority": 50, "task_id": None, "at": None, "exit": exit_spot,
                          "wait_for_exit": waits, "stops_at_exit": True}
    return body


def test_a_chain_to_a_spot_another_robot_is_parked_at_waits_outside_and_holds_nobody_up() -> None:
    arbiter = settled_arbiter()
    arbiter.on_report("counter", parked("pharmacy", 1), SETTLED)  # at the pharmacy counter
    arbiter.on_report("nurse", parked(None, 1, "pharmacy", ["door:a"]), SETTLED)  # holding on its way
    arbiter.step(SETTLED)
    assert "door:a" not in arbiter.owners  # it would stop in the doorway: it waits outside
    arbiter.on_report("counter", parked("pharmacy", 2, "corridor", ["door:a"]), SETTLED + 60)
    table = arbiter.step(SETTLED + 60)
    assert table is not None and table["owners"] == {"door:a": "counter"}  # the robot inside leaves first
    arbiter.on_report("counter", parked(None, 3), SETTLED + 70)  # through the door and away
    table = arbiter.step(SETTLED + 70)
    assert table is not None and table["owners"] == {"door:a": "nurse"}
    waits = arbiter.figures.summary()["wait_s"]
    assert waits["workplace"]["max"] == pytest.approx(70.0)  # the counter was taken, not the door
    assert waits["workplace"]["longest"] == {"group": "pharmacy", "robot": "nurse"}
    assert waits["door"]["max"] == pytest.approx(0.0)  # the door itself was never what it waited for


def test_two_robots_swapping_spots_through_one_chain_are_let_through() -> None:
    arbiter = settled_arbiter()
    arbiter.on_report("west", parked("w", 1, "e", ["door:a"]), SETTLED)
    arbiter.on_report("east", parked("e", 1, "w", ["door:a"]), SETTLED + 1)
    table = arbiter.step(SETTLED + 1)
    assert table is not None and table["owners"] == {"door:a": "west"}  # not a wait for each other's spot
    assert arbiter.figures.deadlocks == 0


def test_a_robot_on_its_way_to_the_spot_claims_it_before_it_is_parked_there() -> None:
    arbiter = settled_arbiter()
    arbiter.on_report("first", parked(None, 1, "pharmacy", ["door:a"]), SETTLED)
    arbiter.step(SETTLED)
    assert arbiter.owners == {"door:a": "first"}
    arbiter.on_report("first", parked(None, 2), SETTLED + 5)  # through the door, still driving to the counter
    arbiter.on_report("second", parked(None, 1, "pharmacy", ["door:a"]), SETTLED + 5)
    arbiter.step(SETTLED + 5)
    assert "door:a" not in arbiter.owners  # the counter is spoken for: it waits outside
    arbiter.on_report("first", parked("pharmacy", 3), SETTLED + 20)
    arbiter.step(SETTLED + 20)
    assert "door:a" not in arbiter.owners
    arbiter.on_report("first", parked(None, 4), SETTLED + 200)  # done and gone
    table = arbiter.step(SETTLED + 200)
    assert table is not None and table["owners"] == {"door:a": "second"}


def test_a_robot_that_only_looks_in_goes_in_beside_a_robot_at_work() -> None:
    arbiter = settled_arbiter()
    arbiter.on_report("counter", parked("pharmacy", 1), SETTLED)
    arbiter.on_report("patrol", parked(None, 1, "pharmacy", ["door:a"], waits=False), SETTLED)
    table = arbiter.step(SETTLED)
    assert table is not None and table["owners"] == {"door:a": "patrol"}


def test_a_spot_a_robot_only_passes_is_not_claimed() -> None:
    arbiter = settled_arbiter()
    body = parked(None, 1, "corridor", ["door:a"])
    body["wanted"]["stops_at_exit"] = False  # out of the room and on along the corridor
    arbiter.on_report("leaving", body, SETTLED)
    arbiter.step(SETTLED)
    arbiter.on_report("leaving", parked(None, 2), SETTLED + 5)
    arbiter.on_report("next", parked(None, 1, "corridor", ["door:a"]), SETTLED + 6)
    table = arbiter.step(SETTLED + 6)
    assert table is not None and table["owners"] == {"door:a": "next"}


def lane_want(at: str, exit_node: str, seq: int = 1, priority: int = 50,
              held: list[str] | None = None) -> dict[str, Any]:
    return {"seq": seq, "held": held or [],
            "wanted": {"groups": ["lane:x"], "priority": priority, "task_id": None, "at": at, "exit": exit_node}}


def test_robots_going_the_same_way_follow_each_other_into_a_lane_and_one_coming_the_other_way_waits() -> None:
    # r2 waited for the whole traversal of r1 going the same way (the day's lane waits, p99 40 s):
    # it is let in behind r1 (the lane handed to it, r1 still inside, no conflict); r3 coming the
    # other way waits until both have left
    arbiter = settled_arbiter()
    arbiter.on_report("r1", lane_want("north-end", "south-end"), SETTLED)
    arbiter.step(SETTLED)
    arbiter.on_report("r1", state(["lane:x"], 2), SETTLED + 1)  # in the lane
    arbiter.on_report("r2", lane_want("north-end", "south-end"), SETTLED + 1)
    table = arbiter.step(SETTLED + 1)
    assert table is not None and table["convoys"] == {"lane:x": ["r1"]}  # r1 may drive on through it
    MessageEncoder("site-1", FLEET_ID).encode(Channel.TRAFFIC, table, SETTLED + 1)  # the contract
    arbiter.on_report("r3", lane_want("south-end", "north-end"), SETTLED + 2)
    arbiter.step(SETTLED + 2)
    assert arbiter.owners == {"lane:x": "r2"}
    arbiter.on_report("r1", state(["lane:x"], 3), SETTLED + 3)  # still in it, behind it r2's
    arbiter.on_report("r2", state(["lane:x"], 2), SETTLED + 3)
    arbiter.step(SETTLED + 3)
    assert arbiter.figures.conflicts == 0 and arbiter.owners == {"lane:x": "r2"}
    arbiter.on_report("r1", state([], 4), SETTLED + 6)  # r1 out
    arbiter.step(SETTLED + 6)
    assert arbiter.owners == {"lane:x": "r2"}  # r3 still waits: r2 is in it
    arbiter.on_report("r2", state([], 3), SETTLED + 9)
    arbiter.step(SETTLED + 9)
    assert arbiter.owners == {"lane:x": "r3"}
    lane = arbiter.figures.summary()["wait_s"]["lane"]
    assert lane["grants"] == 3 and lane["max"] == 7.0  # r3's; r2's was 0


def test_a_lane_owner_leaving_it_backwards_hands_it_to_the_robot_still_inside() -> None:
    # and a follower is not let in ahead of one queued before it for the other way (fairness),
    # nor behind a leader that waits for something or is stopped by a robot
    queued = settled_arbiter()
    queued.on_report("r1", lane_want("north-end", "south-end"), SETTLED)
    queued.step(SETTLED)
    queued.on_report("r1", state(["lane:x"], 2), SETTLED + 1)
    queued.on_report("r3", lane_want("south-end", "north-end"), SETTLED + 1)
    queued.on_report("r2", lane_want("north-end", "south-end"), SETTLED + 2)
    queued.step(SETTLED + 2)
    assert queued.owners == {"lane:x": "r1"}
    arbiter = settled_arbiter()
    arbiter.on_report("r1", lane_want("north-end", "south-end"), SETTLED)
    arbiter.step(SETTLED)
    arbiter.on_report("r1", state(["lane:x"], 2), SETTLED + 1)
    arbiter.on_report("r2", lane_want("north-end", "south-end"), SETTLED + 1)
    arbiter.step(SETTLED + 1)
    arbiter.on_report("r3", lane_want("south-end", "north-end"), SETTLED + 2)
    arbiter.on_report("r2", state([], 3), SETTLED + 2)  # r2 turned back before going in: r1 is still in it
    arbiter.step(SETTLED + 2)
    assert arbiter.owners == {"lane:x": "r1"}
    arbiter.on_report("r1", {"seq": 3, "held": ["lane:x"], "wanted": None, "blocked_by": "r9"}, SETTLED + 3)
    arbiter.on_report("r4", lane_want("north-end", "south-end"), SETTLED + 3)
    arbiter.step(SETTLED + 3)
    assert arbiter.owners == {"lane:x": "r1"}
