"""Traffic: who may be in a shared resource of the building, one robot at a time.

Shared resources — single-lane corridor stretches, doorways, lift lobbies and cars, charger bays,
the anteroom — are the site map's *mutex groups* (as Open-RMF's `mutex_group_request`). A robot
asks before it enters; it waits at the last free node of its path outside; the arbiter grants in
priority order (a critical NEWS2 re-check passes a linen delivery), and FIFO within one priority.

Why the scheme is free of deadlock by construction: a robot asks, in one request, for every group
on its path up to the next node that belongs to no group, and gets all of them or none (so a robot
waiting outside holds nothing it is waiting for). The world is checked at load so that no workplace
lies inside a group: a robot never ends a goal inside one and waits there for the next, except at a
charger or in a lift car, whose way out is part of the same group or leads to a free node. The
arbiter still builds the wait-for graph every round; a cycle (which a hand-edited map could make) is
counted, alerted, and broken by asking the lowest-priority robot of the cycle to give way.

A robot names the first free node past its chain (`wanted.exit`: the pharmacy counter behind its
door, its goal or on its way), and every robot at work reports where it is parked (`parked_at`).
Such a chain is not granted while another robot is parked at that spot: otherwise the second robot
stops in the doorway, holding the door the first needs to leave by, and both wait for good. The waiting robot
holds nothing and holds nobody up (its groups do not stop others from passing it in the queue), and
its wait for the spot is counted apart, as kind `workplace`. Two robots swapping spots through one
chain (each parked at the other's exit spot) are let through as before: each spot is taken on arrival.

State on both sides is whole, not incremental (see telemetry/schemas/traffic.json): a robot reports
what it holds and wants; the arbiter publishes its grant table. A restarted arbiter therefore learns
the holds from the robots' next reports, and grants nothing until every robot has had time to answer its first table
(`SETTLE_S`: a robot whose holds the table does not show reports at once), so it cannot hand a group
to one robot while another is still inside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from fleet.site import SiteMap

#: after a (re)start the arbiter grants nothing for this long: its first table shows robots that
#: it does not know what they stand in, and they report it at once
SETTLE_S = 5.0
#: the grant table is re-published at least this often, so a robot that missed one learns it
TABLE_PERIOD_S = 10.0
#: a robot asked to give way withdraws its wait for this long
GIVE_WAY_S = 30.0
#: the figures' kind for waits because another robot was parked at the spot past the groups (a queue for a
#: workplace, not for the groups in front of it)
WORKPLACE_KIND = "workplace"
#: a robot granted a chain to the spot where its route ends claims that spot this long, or until it
#: is parked there and has left it: a robot still on its way to the counter is not yet parked at it
CLAIM_S = 60.0
#: the group kind of a single-lane corridor: robots going the same way follow each other into one
LANE_KIND = "lane"
#: a wait withdrawn and asked again (for the same kind of resource) within this long is one wait:
#: a robot changing its goal (turning to the free lift) reports no wait for a tick or two between
REWANT_GRACE_S = 5.0


@dataclass
class _Want:
    groups: frozenset[str]
    priority: int
    task_id: str | None
    at: str | None
    since_s: float
    exit: str | None = None  # the first free node past the groups: where the robot must be able to stand
    spot_s: float = 0.0  # time waited so far because another robot was parked at the exit spot
    spot_from_s: float | None = None  # waiting for the exit spot since
    waits_for_exit: bool = True  # False: it goes in even when the spot is taken (a patrol looking in)
    stops_at_exit: bool = False  # the exit spot is where its route ends: it claims it on the grant


@dataclass
class _RobotTraffic:
    seq: int = -1
    held: frozenset[str] = frozenset()
    parked_at: str | None = None
    claim: tuple[str, float] | None = None  # the exit spot of its last grant, and when granted
    want: _Want | None = None
    withdrawn: tuple[_Want, float] | None = None  # an open want just withdrawn, and when
    blocked_by: str | None = None  # what its navigator is stopped for (another robot, a person), if anything


@dataclass
class TrafficFigures:
    """What the arbiter measured: waits per group kind (request to grant), cycles, conflicts."""

    #: per kind, every wait: granted ones, and ones the robot gave up (it waited all the same)
    waits_s: dict[str, list[float]] = field(default_factory=dict)
    withdrawn: dict[str, int] = field(default_factory=dict)  # per kind: waits given up before a grant
    grants: int = 0
    deadlocks: int = 0
    #: a robot stopped by another that waits for what it holds (see `_find_cycles`), broken
    standoffs: int = 0
    #: a robot reported being inside a group another robot owned (two robots in one resource)
    conflicts: int = 0
    longest_wait: dict[str, tuple[float, str, str]] = field(default_factory=dict)  # kind → (s, group, robot)

    def summary(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float:
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)], 1)

        per_kind = {
            kind: {"grants": len(v) - self.withdrawn.get(kind, 0), "withdrawn": self.withdrawn.get(kind, 0),
                   "p50": pct(v, 0.5), "p99": pct(v, 0.99), "max": round(max(v), 1),
                   "longest": {"group": self.longest_wait[kind][1], "robot": self.longest_wait[kind][2]}}
            for kind, v in sorted(self.waits_s.items()) if v
        }
        return {"grants": self.grants, "deadlocks": self.deadlocks, "standoffs": self.standoffs,
                "conflicts": self.conflicts, "wait_s": per_kind}


def group_kinds(site: SiteMap) -> dict[str, str]:
    """Group name → kind from the site map; a map without groups reserves nothing."""
    return {name: group.kind for name, group in site.mutex_groups.items()}


class TrafficArbiter:
    """The fleet's side of traffic. `on_report` takes a robot's traffic body, `step` grants and
    returns the table body to publish (None when nothing changed and it is not yet due)."""

    def __init__(self, group_kinds: Mapping[str, str], *,
                 alert: Callable[[str, str, str, float], None] | None = None) -> None:
        self.group_kinds = dict(group_kinds)
        self.owners: dict[str, str] = {}
        self.robots: dict[str, _RobotTraffic] = {}
        self.figures = TrafficFigures()
        self._settle_until_s: float | None = None  # set on the first step: start + SETTLE_S
        self._give_way_until: dict[str, float] = {}
        self._first_until: dict[str, float] = {}  # robots let through first (a standoff broken for them)
        #: lane → (holding node, exit node) of the robot last let in: the way it goes through
        self._lane_way: dict[str, tuple[str | None, str | None]] = {}
        #: lane → robots in it ahead of its owner (a convoy going one way: see `_follows`)
        self._convoy: dict[str, set[str]] = {}
        self._seq = 0
        self._changed = True
        self._published_s = -math.inf
        self._alert = alert
        self._cycles_seen: set[frozenset[str]] = set()
        self._conflicts: set[tuple[str, str]] = set()  # (robot, group) reported inside another's group

    # ---- robots -> arbiter ------------------------------------------------------------------

    def on_report(self, robot_id: str, body: Mapping[str, Any], now_s: float) -> None:
        """A robot's whole traffic state. Unknown group names are ignored with the rest kept (a
        robot on a newer map must not stall the site)."""
        robot = self.robots.setdefault(robot_id, _RobotTraffic())
        seq = int(body.get("seq", 0))
        if seq < robot.seq and robot.seq - seq < 1_000_000:
            return  # an older report overtaken by a newer one (restarted robots count from 0 again)
        robot.seq = seq
        previous = robot.want  # still waiting for it (not all granted) before this report?
        open_before = previous is not None and not all(self.owners.get(g) == robot_id for g in previous.groups)
        held = frozenset(g for g in body.get("held", ()) if g in self.group_kinds)
        # release what the robot no longer holds nor waits for
        wanted = body.get("wanted")
        want_groups = frozenset(g for g in (wanted or {}).get("groups", ()) if g in self.group_kinds)
        for group, members in list(self._convoy.items()):
            if robot_id in members and group not in held:  # out of the lane it followed another into
                members.discard(robot_id)
                self._changed = True
                if not members:
                    del self._convoy[group]
        for group, owner in list(self.owners.items()):
            if owner == robot_id and group not in held and group not in want_groups:
                self._release(group)
        # adopt what it reports holding (a restart on either side): a group owned by another robot
        # is a conflict — two robots in one resource — counted and alerted, ownership unchanged
        for group in sorted(held):
            holder = self.owners.get(group)
            if holder is None:
                self.owners[group] = robot_id
                self._changed = True
            elif (holder != robot_id and robot_id not in self._convoy.get(group, ())
                  and (robot_id, group) not in self._conflicts):
                self._conflicts.add((robot_id, group))  # counted and alerted once per episode
                self.figures.conflicts += 1
                if self._alert is not None:
                    self._alert(f"traffic-conflict-{group}", "medium",
                                f"{robot_id} reports being in {group}, which is reserved for {holder}", now_s)
        self._conflicts -= {(robot_id, g) for g in robot.held - held}
        robot.held = held
        blocker = body.get("blocked_by")
        robot.blocked_by = blocker if isinstance(blocker, str) else None
        parked = body.get("parked_at")
        was_parked, robot.parked_at = robot.parked_at, (parked if isinstance(parked, str) else None)
        if robot.claim is not None and (robot.parked_at not in (None, robot.claim[0])
                                        or (was_parked == robot.claim[0] and robot.parked_at is None)):
            robot.claim = None  # parked elsewhere, or it has left the spot it claimed
        exit_node = (wanted or {}).get("exit")
        exit_node = exit_node if isinstance(exit_node, str) else None
        if previous is not None and previous.groups == want_groups:
            previous.priority = int(wanted.get("priority", previous.priority))  # type: ignore[union-attr]
            previous.exit = exit_node
            previous.waits_for_exit = bool(wanted.get("wait_for_exit", True))  # type: ignore[union-attr]
            previous.stops_at_exit = bool(wanted.get("stops_at_exit", False))  # type: ignore[union-attr]
            return
        since_s, spot_s = now_s, 0.0
        if previous is not None and open_before:
            robot.withdrawn = (previous, now_s)
        if robot.withdrawn is not None and want_groups:
            before, _ = robot.withdrawn
            if self._kinds(before.groups) & self._kinds(want_groups):
                # the same wait for another resource of the kind (a robot that turned from a busy
                # lift to the free one): counted from its start, and its place in the queue kept
                since_s, robot.withdrawn = before.since_s, None
                spot_s = before.spot_s + (now_s - before.spot_from_s if before.spot_from_s is not None else 0.0)
            else:
                self._flush_withdrawn(robot_id, robot)
        if not want_groups:
            robot.want = None
            return
        robot.want = _Want(want_groups, int(wanted.get("priority", 50)), wanted.get("task_id"),  # type: ignore[union-attr]
                           wanted.get("at"), since_s, exit_node, spot_s,  # type: ignore[union-attr]
                           waits_for_exit=bool(wanted.get("wait_for_exit", True)),  # type: ignore[union-attr]
                           stops_at_exit=bool(wanted.get("stops_at_exit", False)))  # type: ignore[union-attr]

    def robot_lost(self, robot_id: str, now_s: float) -> None:
        """Its Last Will: it waits for nothing any more. What it holds stays held — the robot is
        still standing in it — until it reports again or an operator clears it."""
        robot = self.robots.get(robot_id)
        if robot is not None:
            robot.want = None
        held = sorted(g for g, owner in self.owners.items() if owner == robot_id)
        if held and self._alert is not None:
            self._alert(f"traffic-lost-{robot_id}", "medium",
                        f"{robot_id} went offline holding {', '.join(held)}: those stay reserved", now_s)

    def clear(self, robot_id: str) -> list[str]:
        """An operator confirms the robot was moved out: release everything it holds."""
        released = sorted(g for g, owner in self.owners.items() if owner == robot_id)
        for members in self._convoy.values():
            members.discard(robot_id)
        for group in released:
            self._release(group)
        self.robots.pop(robot_id, None)
        self._changed = self._changed or bool(released)
        return released

    # ---- the round ----------------------------------------------------------------------------

    def step(self, now_s: float) -> dict[str, Any] | None:
        if self._settle_until_s is None:
            self._settle_until_s = now_s + SETTLE_S
        for robot_id, robot in self.robots.items():
            if robot.withdrawn is not None:
                self._flush_withdrawn(robot_id, robot, now_s)
        if now_s >= self._settle_until_s:
            self._grant(now_s)
            self._find_cycles(now_s)
        if not self._changed and now_s - self._published_s < TABLE_PERIOD_S:
            return None
        self._changed = False
        self._published_s = now_s
        self._seq += 1
        body: dict[str, Any] = {"seq": self._seq, "owners": dict(sorted(self.owners.items()))}
        convoys = {g: sorted(m) for g, m in sorted(self._convoy.items()) if m and g in self.owners}
        if convoys:
            body["convoys"] = convoys
        give_way = sorted(r for r, until in self._give_way_until.items() if until > now_s)
        if give_way:
            body["give_way"] = give_way
        return body

    def _waiting(self, now_s: float) -> list[tuple[str, _Want]]:
        """Open wants, highest priority first, then the longest waiting, then by robot id."""
        open_wants = [(rid, r.want) for rid, r in self.robots.items() if r.want is not None
                      and self._give_way_until.get(rid, -math.inf) <= now_s
                      and not all(self.owners.get(g) == rid for g in r.want.groups)]
        return sorted(open_wants, key=lambda rw: (self._first_until.get(rw[0], -math.inf) <= now_s,
                                                  -rw[1].priority, rw[1].since_s, rw[0]))

    def _parked_at_exit(self, robot_id: str, want: _Want, now_s: float) -> str | None:
        """Another robot parked at `want`'s exit spot or on its way there (its claim), None when
        the spot is free, when the robot goes in regardless (`waits_for_exit` false), or when the
        two swap spots (each parked at the other's exit spot: each takes its spot on arrival)."""
        if want.exit is None or not want.waits_for_exit:
            return None
        mine = self.robots[robot_id].parked_at
        for other_id, other in sorted(self.robots.items()):
            if other_id == robot_id:
                continue
            if other.parked_at == want.exit:
                swapping = mine is not None and other.want is not None and other.want.exit == mine
                return None if swapping else other_id
            if other.claim is not None and other.claim[0] == want.exit and now_s - other.claim[1] < CLAIM_S:
                return other_id
        return None

    def _grant(self, now_s: float) -> None:
        blocked: set[str] = set()  # groups a higher-placed waiter is waiting for: nobody jumps it
        for robot_id, want in self._waiting(now_s):
            if self._parked_at_exit(robot_id, want, now_s) is not None:
                # its spot is taken: it waits outside holding nothing, and nobody waits behind it
                if want.spot_from_s is None:
                    want.spot_from_s = now_s
                continue
            if want.spot_from_s is not None:
                want.spot_s += now_s - want.spot_from_s
                want.spot_from_s = None
            followed = {g: self.owners[g] for g in want.groups if self._follows(robot_id, want, g)}
            free = all(self.owners.get(g) in (None, robot_id) or g in followed for g in want.groups)
            if free and not (want.groups & blocked):
                for group in sorted(want.groups):
                    if group in followed:
                        self._convoy.setdefault(group, set()).add(followed[group])
                    self.owners[group] = robot_id
                    if self.group_kinds[group] == LANE_KIND:
                        self._lane_way[group] = (want.at, want.exit)
                if want.exit is not None and want.stops_at_exit:
                    self.robots[robot_id].claim = (want.exit, now_s)
                self._record_wait(robot_id, want, now_s)
                self._changed = True
            else:
                blocked |= want.groups

    def _follows(self, robot_id: str, want: _Want, group: str) -> bool:
        """Whether `want` may take the lane `group` from its owner while that one is still in it:
        it goes the same way through (from the same holding node to the same exit), and the
        owner drives on (waits for nothing, stopped by no robot). Robots going one way through a
        single lane cannot meet head-on; each waiting for the whole traversal of the one before
        made the day's lane waits (p99 40 s, all same-way followers). The owner is the last robot
        in: one coming the other way waits until every robot of the convoy has left."""
        owner = self.owners.get(group)
        if owner is None or owner == robot_id or self.group_kinds.get(group) != LANE_KIND:
            return False
        if want.at is None or want.exit is None or self._lane_way.get(group) != (want.at, want.exit):
            return False
        leader = self.robots.get(owner)
        return leader is not None and leader.want is None and leader.blocked_by is None

    def _release(self, group: str) -> None:
        """The owner has left `group`: free it, or hand it to a robot of its convoy still inside."""
        inside = self._convoy.get(group)
        if inside:
            self.owners[group] = min(inside)
            inside.discard(self.owners[group])
            if not inside:
                del self._convoy[group]
        else:
            del self.owners[group]
            self._lane_way.pop(group, None)
        self._changed = True

    def _flush_withdrawn(self, robot_id: str, robot: _RobotTraffic, now_s: float | None = None) -> None:
        """A wait given up before a grant (and not asked again at once): in the figures all the
        same, up to when it was withdrawn."""
        if robot.withdrawn is None:
            return
        want, at_s = robot.withdrawn
        if now_s is None or now_s - at_s >= REWANT_GRACE_S:
            robot.withdrawn = None
            self._record_wait(robot_id, want, at_s, granted=False)

    def flush_figures(self) -> TrafficFigures:
        """The figures with every withdrawn wait counted (at the end of a run)."""
        for robot_id, robot in sorted(self.robots.items()):
            self._flush_withdrawn(robot_id, robot)
        return self.figures

    def _kinds(self, groups: frozenset[str]) -> set[str]:
        return {self.group_kinds[g] for g in groups}

    def _record_wait(self, robot_id: str, want: _Want, now_s: float, *, granted: bool = True) -> None:
        spot_s = want.spot_s + (now_s - want.spot_from_s if want.spot_from_s is not None else 0.0)
        wait_s = max(0.0, now_s - want.since_s - spot_s)  # for the groups themselves
        if granted:
            self.figures.grants += 1
        waits = [(kind, wait_s, min(g for g in want.groups if self.group_kinds[g] == kind))
                 for kind in sorted(self._kinds(want.groups))]
        if spot_s > 0 and want.exit is not None:
            waits.append((WORKPLACE_KIND, spot_s, want.exit))
        for kind, seconds, where in waits:
            self.figures.waits_s.setdefault(kind, []).append(seconds)
            if not granted:
                self.figures.withdrawn[kind] = self.figures.withdrawn.get(kind, 0) + 1
            longest = self.figures.longest_wait.get(kind)
            if longest is None or seconds > longest[0]:
                self.figures.longest_wait[kind] = (seconds, where, robot_id)

    def _priority(self, robot_id: str) -> int:
        robot = self.robots.get(robot_id)
        return robot.want.priority if robot is not None and robot.want is not None else 0

    def _find_cycles(self, now_s: float) -> None:
        """Wait-for cycles. Between reservations alone (which the scheme rules out, but a
        hand-edited map could make) the lowest-priority robot gives way. With a robot stopped by
        another (`blocked_by`) that waits for a group the first holds but has not entered — a
        robot granted a door, nose to nose outside it with the robot coming out — it is that
        holder who gives way (lets go of the door, waits), and the one it stood in front of is let
        through first: the other way round neither can move. Before, such a standoff lasted until
        the holder's drive timed out, minutes later."""
        edges: list[tuple[str, str]] = []
        for robot_id, want in self._waiting(now_s):
            for group in want.groups:
                owner = self.owners.get(group)
                if owner is not None and owner != robot_id:
                    edges.append((robot_id, owner))
            parked = self._parked_at_exit(robot_id, want, now_s)
            if parked is not None:
                edges.append((robot_id, parked))
        stopped = [(robot_id, robot.blocked_by) for robot_id, robot in self.robots.items()
                   if robot.blocked_by is not None and robot.blocked_by != robot_id and robot.blocked_by in self.robots]
        edges += stopped
        if len(edges) < 2:
            self._cycles_seen.clear()
            return  # a wait-for cycle needs two robots waiting (nobody waits for itself)
        graph = nx.DiGraph(edges)
        seen, self._cycles_seen = self._cycles_seen, set()  # an episode lasts while its cycle does
        for cycle in nx.simple_cycles(graph):
            members = frozenset(cycle)
            self._cycles_seen.add(members)
            if members in seen:
                continue
            pairs = list(zip(cycle, cycle[1:] + cycle[:1], strict=True))
            holder = next(((a, b) for a, b in pairs if (a, b) in stopped and self._holds_wanted_by(a, b)), None)
            if holder is not None:
                self.figures.standoffs += 1
                yielder, through = holder
                self._first_until[through] = now_s + GIVE_WAY_S
                why = f"{yielder} holds what {through}, in its way, waits for"
            elif any(pair in stopped for pair in pairs):
                continue  # robots stopped by each other, nothing reserved between them: the navigators' business
            else:
                self.figures.deadlocks += 1
                yielder = min(cycle, key=lambda r: (self._priority(r), r))
                why = "they wait for each other"
            self._give_way_until[yielder] = now_s + GIVE_WAY_S
            self._changed = True
            if self._alert is not None:
                self._alert(f"traffic-deadlock-{'-'.join(sorted(cycle))}", "medium",
                            f"traffic: {' -> '.join(cycle)}: {why}; {yielder} gives way", now_s)

    def _holds_wanted_by(self, holder: str, waiter: str) -> bool:
        """Whether `waiter` waits for a group `holder` owns."""
        want = self.robots[waiter].want
        return want is not None and any(self.owners.get(g) == holder for g in want.groups)
