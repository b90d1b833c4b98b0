"""The robot's traffic client: asks for the chain of groups ahead, holds outside, releases behind."""

from __future__ import annotations

import itertools
from typing import Any

from hal.geometry import Pose2D
from robots.traffic import REPORT_PERIOD_S, TrafficClient, TrafficMap
from telemetry.codec import MessageEncoder
from telemetry.topics import Channel

# a corridor along y = 0: c0 - c1 - [d1 - d2] - [l1 - l2] - c2 - c3 ; door:a then lane:x, back to back
NODES = {"c0": (0.0, 0.0, 0), "c1": (5.0, 0.0, 0), "d1": (8.0, 0.0, 0), "d2": (9.0, 0.0, 0),
         "l1": (10.5, 0.0, 0), "l2": (14.0, 0.0, 0), "c2": (17.0, 0.0, 0), "c3": (22.0, 0.0, 0)}
ORDER = ["c0", "c1", "d1", "d2", "l1", "l2", "c2", "c3"]
EDGES = list(itertools.pairwise(ORDER))
GROUPS = {"door:a": ["d1", "d2"], "lane:x": ["l1", "l2"]}


class FakeNavigator:
    def __init__(self) -> None:
        self.ahead: list[str] = []
        self.holds: list[str | None] = []
        self.cancelled = 0

    def route_nodes(self) -> list[str]:
        return list(self.ahead)

    def hold_at(self, node: str | None) -> None:
        self.holds.append(node)

    def cancel(self) -> None:
        self.cancelled += 1
        self.ahead = []


def make_client(**kwargs: Any) -> tuple[TrafficClient, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []
    traffic_map = TrafficMap.build(NODES, GROUPS, EDGES)
    return TrafficClient("r1", traffic_map, lambda body, now: sent.append(body), **kwargs), sent


def at(x: float) -> Pose2D:
    return Pose2D(x, 0.0, 0.0, 0)


def drive(client: TrafficClient, nav: FakeNavigator, x: float, now_s: float) -> bool:
    nav.ahead = [n for n in ORDER if NODES[n][0] > x + 0.3]
    return client.step(now_s, at(x), nav, priority=70, task_id="task-1")


def test_the_groups_ahead_are_asked_for_together_and_the_robot_holds_at_the_last_free_node() -> None:
    client, sent = make_client()
    nav = FakeNavigator()
    assert drive(client, nav, 3.0, 0.0) is False
    assert nav.holds == ["c1"]
    assert sent[-1]["wanted"] == {"groups": ["door:a", "lane:x"], "priority": 70, "task_id": "task-1", "at": "c1",
                                  "exit": "c2", "wait_for_exit": True, "stops_at_exit": False}
    assert sent[-1]["held"] == []


def test_a_grant_lifts_the_hold_and_each_group_is_released_once_left_behind() -> None:
    client, sent = make_client()
    nav = FakeNavigator()
    drive(client, nav, 3.0, 0.0)
    client.on_table({"seq": 1, "owners": {"door:a": "r1", "lane:x": "r1"}}, 1.0)
    drive(client, nav, 4.0, 1.0)
    assert nav.holds[-1] is None
    assert sent[-1]["held"] == ["door:a", "lane:x"] and sent[-1]["wanted"] is None
    drive(client, nav, 8.5, 5.0)  # in the door
    assert client.held == {"door:a", "lane:x"}
    drive(client, nav, 12.0, 9.0)  # in the lane, the door behind
    assert client.held == {"lane:x"}
    drive(client, nav, 16.5, 12.0)  # past the lane by more than its release distance
    assert client.held == set()
    assert sent[-1] == {"seq": sent[-1]["seq"], "held": [], "parked_at": None, "wanted": None}


def test_a_single_lane_corridor_is_kept_until_the_robot_is_clear_of_its_mouth() -> None:
    # released at its very end, the robot waiting at the far end came in while this one still
    # stood in the lane's mouth, walls either side: neither could go round the other
    from robots.traffic import LANE_RELEASE_M

    client, _ = make_client()
    nav = FakeNavigator()
    drive(client, nav, 3.0, 0.0)
    client.on_table({"seq": 1, "owners": {"door:a": "r1", "lane:x": "r1"}}, 1.0)
    drive(client, nav, 12.0, 9.0)  # in the lane
    drive(client, nav, 14.0 + LANE_RELEASE_M - 0.5, 12.0)  # out of it, past the clearance, not its mouth
    assert client.held == {"lane:x"}
    drive(client, nav, 14.0 + LANE_RELEASE_M + 0.5, 14.0)
    assert client.held == set()
    # a robot that stops just past the lane (its route ends there) lets it go at once
    client2, _ = make_client()
    nav2 = FakeNavigator()
    drive(client2, nav2, 3.0, 0.0)
    client2.on_table({"seq": 1, "owners": {"door:a": "r1", "lane:x": "r1"}}, 1.0)
    drive(client2, nav2, 12.0, 9.0)
    nav2.ahead = []
    client2.step(12.0, at(15.0), nav2, priority=70, task_id="task-1")
    assert client2.held == set()


def test_a_robot_asked_to_give_way_lets_go_of_what_it_has_not_entered_and_holds_outside() -> None:
    # granted the door and lane, stopped short of them by the robot that waits to come out: told
    # to give way, it lets go of both (it is in neither) and holds at the last free node; it says
    # what it is stopped for
    client, sent = make_client()
    nav = FakeNavigator()
    drive(client, nav, 3.0, 0.0)
    client.on_table({"seq": 1, "owners": {"door:a": "r1", "lane:x": "r1"}}, 1.0)
    nav.ahead = [n for n in ORDER if NODES[n][0] > 4.3]
    client.step(1.5, at(4.0), nav, priority=70, task_id="task-1", blocked_by="r2")
    assert client.held == {"door:a", "lane:x"} and sent[-1]["blocked_by"] == "r2"
    client.on_table({"seq": 2, "owners": {"door:a": "r1", "lane:x": "r1"}, "give_way": ["r1"]}, 2.0)
    client.step(2.0, at(4.0), nav, priority=70, task_id="task-1", blocked_by="r2")
    assert client.held == set() and sent[-1]["held"] == [] and sent[-1]["wanted"] is None
    assert nav.holds[-1] == "c1"


def test_a_lane_handed_to_a_robot_following_this_one_in_is_still_this_ones_to_drive_through() -> None:
    # granted door and lane, on its way in; the fleet lets a robot going the same way in behind
    # it (the lane's owner is now that one, this robot in its convoy): this one does not stop and
    # ask for the lane again, and releases it once it has left it
    client, sent = make_client()
    nav = FakeNavigator()
    drive(client, nav, 3.0, 0.0)
    client.on_table({"seq": 1, "owners": {"door:a": "r1", "lane:x": "r1"}}, 1.0)
    drive(client, nav, 8.5, 5.0)  # in the door, the lane ahead
    client.on_table({"seq": 2, "owners": {"door:a": "r1", "lane:x": "r2"}, "convoys": {"lane:x": ["r1"]}}, 5.5)
    drive(client, nav, 9.5, 6.0)  # the door behind it
    assert client.wanted == set() and nav.holds[-1] is None and client.held == {"lane:x"}
    drive(client, nav, 12.0, 9.0)
    assert client.held == {"lane:x"} and sent[-1]["wanted"] is None
    drive(client, nav, 16.5, 12.0)
    assert client.held == set()


def test_a_group_that_starts_at_the_very_next_node_stops_the_robot_where_it_stands() -> None:
    client, _ = make_client()
    nav = FakeNavigator()
    nav.ahead = ["d1", "d2", "l1", "l2", "c2"]
    assert client.step(0.0, at(6.5), nav, priority=50, task_id=None) is True
    client.on_table({"seq": 1, "owners": {"door:a": "r1", "lane:x": "r1"}}, 1.0)
    assert client.step(1.0, at(6.5), nav, priority=50, task_id=None) is False


def test_a_robot_inside_a_group_reports_it_held_even_without_a_grant() -> None:
    client, sent = make_client()
    nav = FakeNavigator()
    client.step(0.0, at(8.0), nav, priority=50, task_id=None)  # e.g. restarted standing in the door
    assert "door:a" in sent[-1]["held"]


def test_a_wait_is_sent_on_change_and_again_every_report_period() -> None:
    client, sent = make_client()
    nav = FakeNavigator()
    drive(client, nav, 3.0, 0.0)
    drive(client, nav, 3.1, 1.0)
    assert len(sent) == 1
    drive(client, nav, 3.2, REPORT_PERIOD_S + 1)
    assert len(sent) == 2 and sent[0]["seq"] == sent[1]["seq"]


def test_a_hold_alone_is_sent_once_and_again_when_the_fleets_table_does_not_show_it() -> None:
    client, sent = make_client()
    nav = FakeNavigator()
    for t in range(0, 100, 5):
        client.step(float(t), at(8.0), nav, priority=50, task_id=None)  # standing in the door
    assert len(sent) == 1
    client.on_table({"seq": 1, "owners": {}}, 100.0)  # a restarted fleet that does not know it yet
    client.step(100.0, at(8.0), nav, priority=50, task_id=None)
    assert len(sent) == 2 and sent[-1]["held"] == ["door:a"]


def test_a_wait_is_bounded_the_goal_is_cancelled_and_the_want_withdrawn() -> None:
    client, sent = make_client(max_wait_s=60.0)
    nav = FakeNavigator()
    drive(client, nav, 3.0, 0.0)
    client.on_table({"seq": 1, "owners": {"door:a": "r9"}}, 1.0)
    drive(client, nav, 5.0, 30.0)
    assert nav.cancelled == 0
    drive(client, nav, 5.0, 61.0)
    assert nav.cancelled == 1 and client.gave_up == 1
    assert sent[-1]["wanted"] is None and nav.holds[-1] is None


def test_a_robot_asked_to_give_way_stops_asking_for_a_while() -> None:
    client, sent = make_client()
    nav = FakeNavigator()
    drive(client, nav, 3.0, 0.0)
    client.on_table({"seq": 2, "owners": {"door:a": "r9"}, "give_way": ["r1"]}, 1.0)
    drive(client, nav, 4.0, 2.0)
    assert sent[-1]["wanted"] is None and nav.holds[-1] == "c1"
    drive(client, nav, 4.0, 40.0)
    assert sent[-1]["wanted"] is not None


def test_what_the_client_sends_matches_the_contract() -> None:
    client, sent = make_client()
    nav = FakeNavigator()
    drive(client, nav, 3.0, 0.0)
    client.on_table({"seq": 1, "owners": {"door:a": "r1", "lane:x": "r1"}}, 1.0)
    drive(client, nav, 8.5, 5.0)
    encoder = MessageEncoder("site-1", "r1")
    for body in sent:
        encoder.encode(Channel.TRAFFIC, body, 0.0)


def test_a_map_without_groups_makes_the_client_a_no_op() -> None:
    sent: list[dict[str, Any]] = []
    client = TrafficClient("r1", TrafficMap.build(NODES, {}, EDGES), lambda b, n: sent.append(b))
    nav = FakeNavigator()
    nav.ahead = ORDER
    assert client.step(0.0, at(0.0), nav, priority=50, task_id=None) is False
    assert sent == [] and nav.holds == []


def test_a_lift_group_is_occupied_on_every_floor_it_serves() -> None:
    nodes = {"lobby-L0": (50.0, 27.0, 0), "car-L0": (50.0, 30.0, 0), "lobby-L1": (50.0, 27.0, 1),
             "car-L1": (50.0, 30.0, 1), "corridor-L1": (45.0, 27.0, 1)}
    groups = {"lift:1": ["lobby-L0", "car-L0", "lobby-L1", "car-L1"]}
    edges = [("lobby-L0", "car-L0"), ("lobby-L1", "car-L1"), ("corridor-L1", "lobby-L1")]
    client = TrafficClient("r1", TrafficMap.build(nodes, groups, edges), lambda b, n: None)
    assert client.occupied(Pose2D(50.0, 30.0, 0.0, 1)) == {"lift:1"}  # in the car, upstairs
    assert client.occupied(Pose2D(50.0, 28.5, 0.0, 0)) == {"lift:1"}  # between lobby and car
    assert client.occupied(Pose2D(45.0, 27.0, 0.0, 1)) == set()
    assert client.occupied(Pose2D(50.0, 30.0, 0.0, 2)) == set()  # a floor the lift does not serve


def test_the_spot_past_the_groups_is_named_and_where_the_robot_rests_is_reported() -> None:
    client, sent = make_client()
    nav = FakeNavigator()
    nav.ahead = ["c1", "d1", "d2", "l1", "l2", "c2", "c3"]
    client.step(0.0, at(3.0), nav, priority=70, task_id=None)
    assert sent[-1]["wanted"]["exit"] == "c2"  # on its way: it must be able to stand there too
    nav.ahead = ["c1", "d1", "d2"]  # a route that ends inside the door: nothing past it
    client.step(1.0, at(3.0), nav, priority=70, task_id=None)
    assert sent[-1]["wanted"]["exit"] is None
    nav.ahead = []
    client.step(2.0, at(22.1), nav, priority=0, task_id=None)  # at rest at c3
    assert client.parked_at == "c3" and sent[-1]["parked_at"] == "c3"
    nav.ahead = ["c2"]  # leaving: still parked there until it is further than the clearance
    client.step(3.0, at(21.8), nav, priority=0, task_id=None)
    assert client.parked_at == "c3"
    client.step(4.0, at(21.0), nav, priority=0, task_id=None)
    assert client.parked_at is None and sent[-1]["parked_at"] is None


def test_an_idle_robot_does_not_claim_the_spot_it_stands_at() -> None:
    client, sent = make_client()
    nav = FakeNavigator()
    client.step(0.0, at(22.0), nav, priority=0, task_id=None, working=True)
    assert sent[-1]["parked_at"] == "c3"  # at work there
    client.step(1.0, at(22.0), nav, priority=0, task_id=None, working=False)
    assert client.parked_at == "c3" and sent[-1]["parked_at"] is None  # its mission ended: nobody waits for it


def test_a_mission_that_does_not_need_the_spot_says_it_goes_in_regardless() -> None:
    client, sent = make_client()
    nav = FakeNavigator()
    nav.ahead = ["c1", "d1", "d2", "l1", "l2", "c2"]
    client.step(0.0, at(3.0), nav, priority=40, task_id=None, claim_goal=False)  # a patrol looking in
    assert sent[-1]["wanted"]["exit"] == "c2" and sent[-1]["wanted"]["wait_for_exit"] is False


def two_doors(door_a_x: float, door_b_x: float) -> tuple[TrafficClient, list[dict[str, Any]], list[str]]:
    """A corridor a1 - door:a - junction j (x = 50) - door:b - b1 - b2; the client, what it sent,
    and the route's nodes in order."""
    nodes = {"a1": (door_a_x - 3.0, 0.0, 0), "da": (door_a_x, 0.0, 0), "j": (50.0, 0.0, 0),
             "db": (door_b_x, 0.0, 0), "b1": (door_b_x + 3.0, 0.0, 0), "b2": (door_b_x + 9.0, 0.0, 0)}
    order = list(nodes)
    sent: list[dict[str, Any]] = []
    client = TrafficClient("r1", TrafficMap.build(nodes, {"door:a": ["da"], "door:b": ["db"]},
                                                  list(itertools.pairwise(order))),
                           lambda body, now: sent.append(body))
    return client, sent, order


def test_two_doors_across_one_junction_are_asked_for_together() -> None:
    # ward A's door - junction - ward B's door (2 m apart): a robot leaving one to enter the other
    # asks for both at once, so it never waits at the junction still standing in the first door
    # (where a robot coming the other way would wait for it, and it for that one)
    client, sent, order = two_doors(49.0, 51.0)
    nav = FakeNavigator()
    nav.ahead = order
    assert client.step(0.0, at(45.0), nav, priority=50, task_id=None) is False
    assert sent[-1]["wanted"]["groups"] == ["door:a", "door:b"]
    assert sent[-1]["wanted"]["at"] == "a1" and sent[-1]["wanted"]["exit"] == "b1"
    assert nav.holds == ["a1"]


def test_doors_further_apart_than_the_join_gap_keep_separate_requests() -> None:
    client, sent, order = two_doors(45.0, 55.0)  # 10 m apart: two requests, one after the other
    nav = FakeNavigator()
    nav.ahead = order
    client.step(0.0, at(41.0), nav, priority=50, task_id=None)
    assert sent[-1]["wanted"]["groups"] == ["door:a"] and sent[-1]["wanted"]["exit"] == "j"


def test_a_route_ending_at_the_junction_asks_only_for_the_door_before_it() -> None:
    client, sent, order = two_doors(49.0, 51.0)  # close enough to join, but the robot stops at j
    nav = FakeNavigator()
    nav.ahead = order[: order.index("j") + 1]
    client.step(0.0, at(45.0), nav, priority=50, task_id=None)
    assert sent[-1]["wanted"]["groups"] == ["door:a"] and sent[-1]["wanted"]["exit"] == "j"
