"""The robot's side of traffic: ask the fleet before entering a shared resource, wait outside.

Each tick the client looks along the navigator's remaining route: the first node ahead (within
`lookahead_m`) that belongs to a mutex group the robot does not hold starts a *chain* — that node
and every following node that belongs to some group, up to the next free node. The robot asks for
the chain's groups in one request (`fleet/traffic.py` grants all or none, in priority order) and
tells the navigator to hold at the last free node before the chain. When the fleet's grant table
names it the owner of every group of the chain, the hold is lifted. Groups are released once the
robot has left them (further than `clearance_m` from their nodes and edges; a single-lane corridor
`LANE_RELEASE_M`, while the robot drives on) and they are not ahead.

A workplace right behind a shared resource (the pharmacy counter behind its door) is a spot one
robot stands at: a robot asking for a chain names the first free node past it (`wanted.exit`, the
spot it must be able to stand at, its goal or on its way), every robot says where
it is parked at work (`parked_at`: the node it came to rest at and has not left yet, while a
mission runs), and the fleet grants the chain only once nobody else is parked at that spot — so a
robot never stops in the doorway, holding the door that the robot at the counter needs to leave
by. An idle robot does not claim the spot it happens to stand at: the robot coming in finds it in
the room and waits beside it, as for any robot in the way.

What the robot is inside is always reported as held, granted or not — after a restart, or at a
dock at the start of the day — so the fleet adopts it (or counts a conflict). Waiting is bounded:
after `max_wait_s` for one request the navigation goal is cancelled (the mission's bounded retries
decide what next) and the wait is logged with who holds the resource.

Robots without a navigator that follows a route graph (`RouteFollower`) do not take part; a site
map without groups makes the client a no-op.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from hal.geometry import Pose2D
from telemetry.topics import Channel
from telemetry.validate import PayloadError, validate

log = logging.getLogger(__name__)

#: while waiting, the robot re-sends its state at least this often; otherwise it sends on change,
#: and again whenever the fleet's table does not show what it holds (a restarted fleet)
REPORT_PERIOD_S = 30.0
_BUCKET_M = 6.0
#: two groups whose nodes are this close across one free node are asked for together (see `_chain`)
JOIN_GAP_M = 6.0
#: a lift's mutex group is named after it (sim/world_floors.py: `lift:<name>`)
LIFT_GROUP_PREFIX = "lift:"
#: ... and a single-lane corridor's `lane:<name>`
LANE_GROUP_PREFIX = "lane:"
#: a robot on its way out of a single-lane corridor keeps it until this far past it. Released at
#: its very end, the robot waiting at the far end was let in while the one leaving still stood in
#: the lane's mouth, where walls on both sides left neither room to go round the other: they
#: stood nose to nose for minutes
LANE_RELEASE_M = 2.0

Point = tuple[float, float]


@runtime_checkable
class RouteFollower(Protocol):
    """What the client needs of a navigator: the route ahead and a hold point."""

    def route_nodes(self) -> list[str]: ...

    def hold_at(self, node: str | None) -> None: ...

    def cancel(self) -> None: ...


@dataclass(frozen=True)
class TrafficMap:
    """The site map's mutex groups as the robot needs them."""

    #: node → (x_m, y_m, level) for every route node
    nodes: Mapping[str, tuple[float, float, int]]
    #: node → the groups it belongs to
    groups_of_node: Mapping[str, tuple[str, ...]]
    #: group → its segments as (level, a, b) (a node alone is a zero-length segment), for "is the
    #: robot inside"; a lift's group has segments on every floor it serves
    segments: Mapping[str, tuple[tuple[int, Point, Point], ...]]

    @classmethod
    def build(cls, nodes: Mapping[str, tuple[float, float, int]], groups: Mapping[str, Iterable[str]],
              edges: Iterable[tuple[str, str]]) -> TrafficMap:
        """`groups`: group → its nodes; `edges`: the route graph's edges (either direction)."""
        members = {g: frozenset(ns) for g, ns in groups.items()}
        of_node: dict[str, list[str]] = {}
        for group, ns in sorted(members.items()):
            for node in ns:
                of_node.setdefault(node, []).append(group)
        segments: dict[str, list[tuple[int, Point, Point]]] = {g: [] for g in members}
        for group, ns in members.items():
            for node in sorted(ns):
                x, y, level = nodes[node]
                segments[group].append((level, (x, y), (x, y)))
        seen: set[tuple[str, str]] = set()
        for a, b in edges:
            key = (a, b) if a < b else (b, a)
            if key in seen or nodes[a][2] != nodes[b][2]:
                continue
            seen.add(key)
            for group in sorted(set(of_node.get(a, ())) & set(of_node.get(b, ()))):
                segments[group].append((nodes[a][2], nodes[a][:2], nodes[b][:2]))
        return cls(dict(nodes), {n: tuple(gs) for n, gs in of_node.items()},
                   {g: tuple(s) for g, s in segments.items()})

    @property
    def empty(self) -> bool:
        return not self.segments


def _segment_distance_m(px: float, py: float, a: Point, b: Point) -> float:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    seg2 = dx * dx + dy * dy
    t = 0.0 if seg2 == 0 else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / seg2))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


class TrafficClient:
    def __init__(self, robot_id: str, traffic_map: TrafficMap, publish: Callable[[dict[str, Any], float], None], *,
                 lookahead_m: float = 8.0, clearance_m: float = 0.4, max_wait_s: float = 600.0) -> None:
        self.robot_id = robot_id
        self.map = traffic_map
        self._publish = publish
        self.lookahead_m = lookahead_m
        self.clearance_m = clearance_m
        self.max_wait_s = max_wait_s
        self.owners: dict[str, str] = {}
        self.convoy_of: frozenset[str] = frozenset()  # lanes the fleet let a follower into behind this robot
        self._posted: Mapping[str, Any] | None = None
        self.held: frozenset[str] = frozenset()
        self.wanted: frozenset[str] = frozenset()
        self._want_at: str | None = None
        self._want_since_s: float | None = None
        self._give_way_until_s = -math.inf
        self._seq = 0
        self._sent: tuple[frozenset[str], frozenset[str], int, str | None, str | None, bool, bool,
                          str | None] | None = None
        self._blocked_by: str | None = None
        self._sent_s = -math.inf
        self._holding: str | None = None
        self.parked_at: str | None = None
        self._working = True
        self._waits_for_exit = True
        self._stops_at_exit = False
        self._exit: str | None = None  # the first free node past the wanted chain, if any
        self._parked_checked: tuple[float, float, int] | None = None
        self._rest_key: tuple[float, float, int, bool, bool, int] | None = None
        self.waits = 0
        self.gave_up = 0
        # spatial buckets: (level, bx, by) → groups whose segments come within clearance of the bucket
        self._buckets: dict[tuple[int, int, int], list[str]] = {}
        pad = clearance_m
        for group, segments in traffic_map.segments.items():
            cells: set[tuple[int, int, int]] = set()
            for level, (ax, ay), (bx, by) in segments:
                xs = range(math.floor((min(ax, bx) - pad) / _BUCKET_M), math.floor((max(ax, bx) + pad) / _BUCKET_M) + 1)
                ys = range(math.floor((min(ay, by) - pad) / _BUCKET_M), math.floor((max(ay, by) + pad) / _BUCKET_M) + 1)
                cells.update((level, cx, cy) for cx in xs for cy in ys)
            for cell in cells:
                self._buckets.setdefault(cell, []).append(group)

    def lifts_reserved_by_others(self) -> frozenset[str]:
        """Lifts whose group (`lift:<name>`, as the world loader names them) another robot holds in
        the fleet's table now: what the lift caller's `route` counts as busy."""
        return frozenset(group.removeprefix(LIFT_GROUP_PREFIX) for group, owner in self.owners.items()
                         if group.startswith(LIFT_GROUP_PREFIX) and owner != self.robot_id)

    def lifts_reserved_for_self(self) -> frozenset[str]:
        """Lifts whose group the fleet's table gives this robot now."""
        return frozenset(group.removeprefix(LIFT_GROUP_PREFIX) for group, owner in self.owners.items()
                         if group.startswith(LIFT_GROUP_PREFIX) and owner == self.robot_id)

    # ---- fleet -> robot -----------------------------------------------------------------------

    def on_table(self, body: Mapping[str, Any], now_s: float) -> None:
        """The fleet's grant table (already validated against the traffic schema), on the robot's
        own thread."""
        self.owners = dict(body.get("owners", {}))
        # a lane handed to a robot following this one in: this one may still drive on through it
        self.convoy_of = frozenset(g for g, robots in body.get("convoys", {}).items() if self.robot_id in robots)
        if any(self.owners.get(g) != self.robot_id and g not in self.convoy_of for g in self.held):
            self._sent = None  # the fleet does not know what we stand in (it restarted): tell it now
            self._rest_key = None  # so the next step sends, even standing where it stood
        if self.robot_id in body.get("give_way", ()):
            self._give_way_until_s = now_s + 30.0

    def post_table(self, body: Mapping[str, Any]) -> None:
        """The table from another thread (paho's): taken at the next `step` (a reference swap,
        so the robot never sees half a table)."""
        self._posted = body

    # ---- each tick ----------------------------------------------------------------------------

    def occupied(self, pose: Pose2D) -> frozenset[str]:
        """The groups the robot is inside (within clearance of one of their nodes or edges)."""
        cell = (pose.level, math.floor(pose.x_m / _BUCKET_M), math.floor(pose.y_m / _BUCKET_M))
        return frozenset(g for g in self._buckets.get(cell, ()) if self._within(pose, g, self.clearance_m))

    def step(self, now_s: float, pose: Pose2D, navigator: RouteFollower | None, *, priority: int,
             task_id: str | None, working: bool = True, claim_goal: bool = True,
             blocked_by: str | None = None) -> bool:
        """Update the wait and the holds; True when the robot must stop where it stands (the
        resource starts at its very next node and is not granted). `working`: a mission runs (a
        robot parked at work claims its spot; an idle one does not); `claim_goal`: the mission
        waits for the spot past a group to be free (a patrol that only looks in does not);
        `blocked_by`: what the navigator is stopped for, if it knows (the fleet breaks a standoff
        with a robot that waits for what this one holds)."""
        self._working = working
        self._blocked_by = blocked_by
        if self.map.empty:
            return False
        upcoming = navigator.route_nodes() if navigator is not None else []
        rest_key = (pose.x_m, pose.y_m, pose.level, working, claim_goal, priority)
        if not upcoming and self._posted is None and rest_key == self._rest_key:
            # standing where it stood last tick with no route and no new table: a step with no
            # route ahead is a fixed point (nothing wanted, held = where it is, nothing to send)
            return False
        posted, self._posted = self._posted, None
        if posted is not None:
            self.on_table(posted, now_s)
        occupied = self.occupied(pose)
        self._update_parked(pose, at_rest=not upcoming)
        chain, hold_node, exit_node = self._chain(pose, upcoming, occupied)
        self._waits_for_exit = claim_goal
        self._stops_at_exit = bool(upcoming) and exit_node == upcoming[-1]
        mine = frozenset(g for g, owner in self.owners.items() if owner == self.robot_id) | self.convoy_of
        giving_way = now_s < self._give_way_until_s
        if giving_way:
            # asked to give way, it lets go of what it holds but has not entered, and waits outside
            mine &= occupied
        stop_now = False
        need = chain - mine - occupied
        if need and giving_way:
            # giving way (the fleet found a wait-for cycle): keep holding outside, ask again later
            self.wanted, self._want_at, self._want_since_s = frozenset(), None, None
            stop_now = hold_node is None
            self._hold(navigator, hold_node)
        elif need:
            if self.wanted != chain:
                self.wanted, self._want_at, self._want_since_s = chain, hold_node, now_s
                self.waits += 1
            self._exit = exit_node
            self._hold(navigator, hold_node)
            stop_now = hold_node is None
            if self._want_since_s is not None and now_s - self._want_since_s > self.max_wait_s and navigator:
                holders = sorted({self.owners.get(g, "?") for g in need})
                log.warning("%s: waited %.0f s for %s (held by %s): giving up this goal", self.robot_id,
                            now_s - self._want_since_s, ", ".join(sorted(need)), ", ".join(holders))
                self.gave_up += 1
                navigator.cancel()
                self._clear_want(navigator)
        else:
            self._clear_want(navigator)
        ahead = chain if not need else frozenset()
        leaving = frozenset(g for g in self.held & mine if g.startswith(LANE_GROUP_PREFIX) and g not in occupied
                            and g not in ahead and upcoming and self._within(pose, g, LANE_RELEASE_M))
        self.held = frozenset(occupied | (self.held & (ahead | occupied)) | (mine & ahead) | leaving)
        self._report(now_s, priority, task_id)
        self._rest_key = rest_key if not upcoming else None
        return stop_now

    def _within(self, pose: Pose2D, group: str, distance_m: float) -> bool:
        """Whether the robot is within `distance_m` of one of the group's nodes or edges."""
        return any(level == pose.level and _segment_distance_m(pose.x_m, pose.y_m, a, b) <= distance_m
                   for level, a, b in self.map.segments.get(group, ()))

    def _update_parked(self, pose: Pose2D, *, at_rest: bool) -> None:
        """`parked_at`: the route node the robot came to rest at (within clearance), kept until it
        has moved further than clearance from it."""
        if self.parked_at is not None:
            x, y, level = self.map.nodes[self.parked_at]
            if level != pose.level or math.hypot(pose.x_m - x, pose.y_m - y) > self.clearance_m:
                self.parked_at = None
        if self.parked_at is not None or not at_rest:
            return
        here = (round(pose.x_m, 2), round(pose.y_m, 2), pose.level)
        if here == self._parked_checked:
            return  # standing where it was last looked up: nothing new nearby
        self._parked_checked = here
        r = self.clearance_m
        near = [(math.hypot(pose.x_m - x, pose.y_m - y), node) for node, (x, y, level) in self.map.nodes.items()
                if level == pose.level and abs(pose.x_m - x) <= r and abs(pose.y_m - y) <= r]
        best = min(near, default=None)
        if best is not None and best[0] <= r:
            self.parked_at = best[1]

    def _chain(self, pose: Pose2D, upcoming: list[str],
               occupied: frozenset[str]) -> tuple[frozenset[str], str | None, str | None]:
        """The groups of the first run of grouped nodes ahead that are not all occupied already,
        the free node to hold at before it (None: the run starts at the very next node), and the
        first free node past the run (None: the route ends inside it)."""
        groups_of = self.map.groups_of_node
        travelled = 0.0
        x, y = pose.x_m, pose.y_m
        previous: str | None = None
        for i, node in enumerate(upcoming):
            nx_, ny_, _ = self.map.nodes[node]
            travelled += math.hypot(nx_ - x, ny_ - y)
            x, y = nx_, ny_
            if travelled > self.lookahead_m and not groups_of.get(node):
                break
            groups = frozenset(groups_of.get(node, ()))
            if groups and not groups <= occupied:
                run: set[str] = set(groups)
                exit_node: str | None = None
                k = i + 1
                while k < len(upcoming):
                    more = groups_of.get(upcoming[k])
                    if more:
                        run.update(more)
                        k += 1
                        continue
                    if not self._joins_groups(upcoming, k):
                        exit_node = upcoming[k]
                        break
                    # one free node between two groups (a junction between two doors), passed on
                    # the way: both in one request. Held one at a time, a robot leaving the one
                    # waits there for the other still inside the first (it holds short of the
                    # junction) — and one coming the other way does the same: a deadlock
                    k += 1
                return frozenset(run), previous, exit_node
            if travelled > self.lookahead_m:
                break
            previous = node if not groups else previous
        return frozenset(), None, None

    def _joins_groups(self, upcoming: list[str], k: int) -> bool:
        """Whether the free node `upcoming[k]` is only passed (not the route's end) between two
        grouped nodes no further than `JOIN_GAP_M` apart."""
        if k + 1 >= len(upcoming) or not self.map.groups_of_node.get(upcoming[k + 1]):
            return False
        ax, ay, _ = self.map.nodes[upcoming[k - 1]]
        bx, by, _ = self.map.nodes[upcoming[k + 1]]
        return math.hypot(bx - ax, by - ay) <= JOIN_GAP_M

    def _hold(self, navigator: RouteFollower | None, node: str | None) -> None:
        if navigator is not None and node != self._holding:
            navigator.hold_at(node)
            self._holding = node

    def _clear_want(self, navigator: RouteFollower | None) -> None:
        self.wanted, self._want_at, self._want_since_s, self._exit = frozenset(), None, None, None
        self._hold(navigator, None)

    def _report(self, now_s: float, priority: int, task_id: str | None) -> None:
        parked = self.parked_at if self._working else None
        state = (self.held, self.wanted, priority, parked, self._exit, self._waits_for_exit, self._stops_at_exit,
                 self._blocked_by)
        if state == self._sent and (not self.wanted or now_s - self._sent_s < REPORT_PERIOD_S):
            return
        if state != self._sent:
            self._seq += 1
        self._sent, self._sent_s = state, now_s
        wanted = None
        if self.wanted:
            wanted = {"groups": sorted(self.wanted), "priority": max(0, min(100, priority)), "task_id": task_id,
                      "at": self._want_at, "exit": self._exit, "wait_for_exit": self._waits_for_exit,
                      "stops_at_exit": self._stops_at_exit}
        body: dict[str, Any] = {"seq": self._seq, "held": sorted(self.held), "parked_at": parked, "wanted": wanted}
        if self._blocked_by is not None:
            body["blocked_by"] = self._blocked_by
        self._publish(body, now_s)


class FleetTopicPublisher(Protocol):
    """What `attach_over_mqtt` needs of `telemetry.TelemetryPublisher`."""

    robot_id: str

    def publish(self, channel: Channel, body: dict[str, Any], stamp_s: float) -> None: ...

    def subscribe_fleet(self, channel: Channel, callback: Callable[[str, bytes], None]) -> None: ...


def attach_over_mqtt(publisher: FleetTopicPublisher, traffic_map: TrafficMap) -> TrafficClient:
    """A traffic client for a robot on a real broker: states out on its own `traffic` topic, the
    fleet's table in from `fleet/traffic` (validated; a bad one is logged and dropped — the
    previous table stays, and the fleet re-publishes within its period)."""
    client = TrafficClient(publisher.robot_id, traffic_map,
                           lambda body, now_s: publisher.publish(Channel.TRAFFIC, body, now_s))

    def on_message(topic: str, payload: bytes) -> None:
        try:
            envelope = json.loads(payload)
            validate(Channel.TRAFFIC, envelope, topic=topic)
        except (ValueError, PayloadError) as exc:
            log.warning("%s: traffic table on %s dropped: %s", publisher.robot_id, topic, exc)
            return
        if "owners" in envelope["body"]:
            client.post_table(envelope["body"])

    publisher.subscribe_fleet(Channel.TRAFFIC, on_message)
    return client
