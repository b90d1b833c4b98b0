"""People walking the hospital's corridors: visitors and staff pushing beds, seeded, stepped by sim time.

Visitors walk between the entrance, reception and waiting areas, the outpatient hall and the
wards' corridors and bays; staff push beds (a bigger footprint: two circles along the heading)
along corridors. Both follow the world's route graph on their own level (no lifts: a person who
changes floor leaves this model's concern) at 1.0–1.3 m/s, and pause where they arrive.

People yield: a person stops when a robot stands right in front (or is about to roll across in
front: they do not step off into one a metre away), and after `patience_s` of that
walks round it when there is room, or turns back and walks elsewhere — unless a robot stands
behind them too: then they step to the wall and wait there a moment, letting both pass (turning
back and forth between two robots that each wait for them, a knot of visitors and two nurses'
robots stood in a ward door for eight hours). So a contact with a person is always a robot's
doing, which is what the contact count is meant to measure.

Cheap by construction: the state of every person is a row of numpy arrays, a step is a handful of
vectorised operations, and only people reaching the end of a route segment (every few seconds)
take a Python branch. Every person draws from their own seeded generator, so a seed reproduces
every trajectory, whatever the robots do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import numpy.typing as npt

from sim.local_planner import segment_distance_m
from sim.obstacles import BED, PERSON, PeopleCircles
from sim.occupancy import OccupancyGrid
from sim.patients import stable_int
from sim.people_lanes import LANE_MOUTH_M, PeopleLanes
from sim.people_ways import kept_right_free, level_ways, lift_halls
from sim.world import World

#: how far right of a route edge people walk, the widest the walls allow first
KEEP_RIGHT_M = (0.75, 0.6, 0.45, 0.3, 0.15)
#: a person this close to a node stands at it (they stand kept right of it, up to KEEP_RIGHT_M off)
NEAR_NODE_M = 1.0
#: free space a bed swung onto a new heading keeps between its ends and any robot
SWING_GAP_M = 0.25
#: how far sideways a person caught between two robots steps to the wall, the furthest first
STAND_ASIDE_M = (1.5, 1.2, 0.9, 0.6, 0.3)
#: ... so that this much room is left between them and the line the two robots stand on
STAND_ASIDE_CLEAR_M = 0.25
#: and how long they stand there, letting the robots pass, before walking on
STAND_ASIDE_S = (8.0, 15.0)
#: people yield to where a moving robot will be this far ahead, as well as to where it is
ROBOT_LOOKAHEAD_S = 1.0


@dataclass(frozen=True, slots=True)
class PeopleConfig:
    """How many people walk each level at once (0 and 0 disables), and how they walk."""

    visitors_per_level: int = 3
    beds_per_level: int = 1
    levels: tuple[int, ...] | None = None  # None: every level with somewhere to walk
    speed_mps: tuple[float, float] = (1.0, 1.3)
    bed_speed_mps: tuple[float, float] = (0.9, 1.1)
    pause_s: tuple[float, float] = (5.0, 40.0)
    person_radius_m: float = 0.3
    bed_radius_m: float = 0.55  # a bed with its porter: two circles ±bed_half_length_m along the heading
    bed_half_length_m: float = 0.65
    yield_gap_m: float = 0.5  # free space a person keeps to a robot in front
    patience_s: float = 12.0  # blocked this long by a robot: turn back and walk elsewhere

    @property
    def enabled(self) -> bool:
        return self.visitors_per_level > 0 or self.beds_per_level > 0


@dataclass(slots=True)
class _Walker:
    """The Python side of one person: the route ahead and where to go next."""

    ident: str
    kind: str
    level: int
    rng: np.random.Generator
    destinations: list[str]
    node: str  # the node last reached (or the segment's start)
    ahead: list[str]  # nodes still to walk to, in order
    via: list[tuple[float, float]] = field(default_factory=list)  # a sidestep's points, before `ahead`
    stepping_aside: bool = False  # walking a sidestep: the segment after it heads for ahead[0] again
    standing_aside: bool = False  # walking to the wall between two robots: waits there, then walks on


class PeopleModel:
    def __init__(self, world: World, config: PeopleConfig, seed: int) -> None:
        self.config = config
        self._graphs: dict[tuple[int, str], nx.Graph] = {}
        self._paths: dict[tuple[int, str, str], dict[str, list[str]]] = {}
        # the walls do not move: where a way a → b kept right ends is looked up once per way
        self._kept_right_ends: dict[tuple[int, str, tuple[float, float], tuple[float, float]], tuple[float, float]] = {}
        self._pos: dict[str, tuple[float, float]] = {}
        walkers: list[_Walker] = []
        levels = sorted(world.levels) if config.levels is None else list(config.levels)
        halls = lift_halls(world)
        #: per (level, kind), where a person's (or a bed's) centre line may run
        self._free: dict[tuple[int, str], OccupancyGrid] = {}
        for level in levels:
            if level not in world.grids:
                continue
            self._free[(level, PERSON)] = world.grids[level].inflated(config.person_radius_m + 0.05)
            self._free[(level, BED)] = world.grids[level].inflated(config.bed_radius_m + 0.05)
            ways = level_ways(world, level, self._free[(level, BED)], self._pos, halls)
            self._graphs[(level, PERSON)], self._graphs[(level, BED)] = ways.graph, ways.bed_graph
            visitor_nodes, bed_nodes = ways.visitor_destinations, ways.bed_destinations
            for kind, dests, count in ((PERSON, visitor_nodes, config.visitors_per_level),
                                       (BED, bed_nodes, config.beds_per_level)):
                if len(dests) < 2:
                    continue
                for _ in range(count):
                    n = sum(1 for w in walkers if w.kind == kind)
                    ident = f"{'visitor' if kind == PERSON else 'bed'}-{n}"
                    seq = np.random.SeedSequence([seed & 0xFFFFFFFF, stable_int("people"), stable_int(ident)])
                    rng = np.random.Generator(np.random.PCG64(seq))
                    start = dests[int(rng.integers(len(dests)))]
                    walkers.append(_Walker(ident, kind, level, rng, dests, start, []))
        self._walkers = walkers
        n = len(walkers)
        self.idents = [w.ident for w in walkers]
        self.kinds = [w.kind for w in walkers]
        is_bed = np.array([w.kind == BED for w in walkers], dtype=bool)
        self.level = np.array([w.level for w in walkers], dtype=np.int64)
        self.x_m = np.array([self._pos[w.node][0] for w in walkers], dtype=np.float64)
        self.y_m = np.array([self._pos[w.node][1] for w in walkers], dtype=np.float64)
        self._ax, self._ay = self.x_m.copy(), self.y_m.copy()
        self._ux, self._uy = np.ones(n), np.zeros(n)
        # the way a bed's footprint lies: its heading until the porter swings it onto a new one
        self._hx, self._hy = self._ux.copy(), self._uy.copy()
        self._len = np.zeros(n)
        self._s = np.zeros(n)
        lo, hi = config.speed_mps
        blo, bhi = config.bed_speed_mps
        self._speed = np.array([w.rng.uniform(blo, bhi) if w.kind == BED else w.rng.uniform(lo, hi) for w in walkers])
        # staggered starts: everyone begins paused where they stand, for part of a pause
        self._pause = np.array([w.rng.uniform(0.0, config.pause_s[1]) for w in walkers])
        self._blocked_s = np.zeros(n)
        # the single-lane corridor each person is walking into (-1: none), and where it starts
        self._lanes = PeopleLanes(world)
        self._lane_entry = np.full(n, -1, dtype=np.int64)
        self._lane_mouth_x, self._lane_mouth_y = np.zeros(n), np.zeros(n)
        self.moving = np.zeros(n, dtype=bool)
        self.waiting = np.zeros(n, dtype=bool)
        self._reach = np.where(is_bed, config.bed_radius_m + config.bed_half_length_m, config.person_radius_m)
        # circles: a person is one at the centre, a bed two along its heading
        people_idx = np.flatnonzero(~is_bed)
        bed_idx = np.flatnonzero(is_bed)
        self._owner = np.concatenate((people_idx, bed_idx, bed_idx)).astype(np.int64)
        self._sign = np.concatenate((np.zeros(len(people_idx)), np.ones(len(bed_idx)), -np.ones(len(bed_idx))))
        self._circle_r = np.concatenate((np.full(len(people_idx), config.person_radius_m),
                                         np.full(2 * len(bed_idx), config.bed_radius_m)))
        self._half = config.bed_half_length_m
        empty = np.zeros(0)
        self._robots: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64],
                            npt.NDArray[np.float64]] = (empty, empty, np.zeros(0, dtype=np.int64), empty)

    def __len__(self) -> int:
        return len(self._walkers)

    # -- the graph people walk ----------------------------------------------------------------

    def _path(self, level: int, kind: str, a: str, b: str) -> list[str]:
        key = (level, kind, a)
        if key not in self._paths:
            self._paths[key] = nx.single_source_dijkstra_path(self._graphs[(level, kind)], a, weight="length_m")
        return self._paths[key].get(b, [a])

    # -- the step ---------------------------------------------------------------------------

    def step(
        self,
        dt_s: float,
        robots_x_m: npt.NDArray[np.float64],
        robots_y_m: npt.NDArray[np.float64],
        robots_level: npt.NDArray[np.int64],
        robots_radius_m: npt.NDArray[np.float64],
        robots_vx_mps: npt.NDArray[np.float64] | None = None,
        robots_vy_mps: npt.NDArray[np.float64] | None = None,
    ) -> None:
        """Walk everyone on by `dt_s`, each yielding to a robot in front — where it stands, and
        where it will be `ROBOT_LOOKAHEAD_S` from now (`robots_v*_mps`; None: standing still)."""
        if not len(self._walkers) or dt_s <= 0:
            return
        cfg = self.config
        self._pause = np.maximum(0.0, self._pause - dt_s)
        walking = (self._pause <= 0.0) & (self._len > 0.0)
        # a bed not yet swung onto its new heading (a robot stood where its ends would go) waits
        blocked = walking & ((self._hx != self._ux) | (self._hy != self._uy))
        if len(robots_x_m) and walking.any():
            reach = self._reach[:, None] + robots_radius_m[None, :]
            width = np.where(self._owner_is_bed()[:, None], cfg.bed_radius_m, cfg.person_radius_m) \
                + robots_radius_m[None, :] + 0.1
            same_level = robots_level[None, :] == self.level[:, None]
            ahead = self._in_front(robots_x_m, robots_y_m, reach, width, dt_s)
            if robots_vx_mps is not None and robots_vy_mps is not None:
                # and one about to cross in front: nobody steps off into a robot coming along at
                # walking pace a metre away, which could not stop short of them (a visitor set off
                # from a pause across a patrol robot's way, and it touched them braking)
                rolling = np.hypot(robots_vx_mps, robots_vy_mps) > 0.05
                if rolling.any():
                    ahead |= rolling[None, :] & self._in_front(robots_x_m + robots_vx_mps * ROBOT_LOOKAHEAD_S,
                                                               robots_y_m + robots_vy_mps * ROBOT_LOOKAHEAD_S,
                                                               reach, width, dt_s)
            blocked |= walking & (ahead & same_level).any(axis=1)
            entering = walking & (self._lane_entry >= 0)
            if entering.any():
                # nobody walks into a single-lane corridor with a robot in it or at its ends, ahead
                # of them (one behind them follows them in)
                near = self._lanes.near(robots_x_m, robots_y_m, robots_level)[np.maximum(self._lane_entry, 0)]
                ahead_of = ((robots_x_m[None, :] - self.x_m[:, None]) * self._ux[:, None]
                            + (robots_y_m[None, :] - self.y_m[:, None]) * self._uy[:, None]) > 0.0
                at_mouth = np.hypot(self.x_m - self._lane_mouth_x, self.y_m - self._lane_mouth_y) < LANE_MOUTH_M
                blocked |= entering & at_mouth & (near & ahead_of).any(axis=1)
        self._blocked_s = np.where(blocked, self._blocked_s + dt_s, 0.0)
        self._robots = (robots_x_m, robots_y_m, robots_level, robots_radius_m)
        going = walking & ~blocked
        self._s = np.where(going, self._s + self._speed * dt_s, self._s)
        self.moving = going
        self.waiting = blocked
        for i in np.flatnonzero((walking & (self._s >= self._len)) | (self._blocked_s >= cfg.patience_s)):
            self._advance(int(i))
        ended = self._len <= 0.0
        for i in np.flatnonzero(ended & (self._pause <= 0.0)):
            self._new_walk(int(i))
        s = np.minimum(self._s, self._len)
        self.x_m = self._ax + self._ux * s
        self.y_m = self._ay + self._uy * s
        self._swing_beds()

    def _in_front(self, x_m: npt.NDArray[np.float64], y_m: npt.NDArray[np.float64], reach_m: npt.NDArray[np.float64],
                  width_m: npt.NDArray[np.float64], dt_s: float) -> npt.NDArray[np.bool_]:
        """Per (person, robot at x_m, y_m): whether it stands in front of the person along their
        heading, within their width plus its own and the distance they keep."""
        dx = x_m[None, :] - self.x_m[:, None]
        dy = y_m[None, :] - self.y_m[:, None]
        along = dx * self._ux[:, None] + dy * self._uy[:, None]
        lateral = np.abs(dx * self._uy[:, None] - dy * self._ux[:, None])
        return ((along > 0.0) & (along < reach_m + self.config.yield_gap_m + self._speed[:, None] * dt_s)
                & (lateral < width_m))

    def _swing_beds(self) -> None:
        """Turn each bed whose walk turned onto its new heading, unless that would swing an end
        into a robot: a porter does not sweep a bed's 1.3 m into a robot standing at the junction
        (in one step its end would jump sideways faster than anyone walks, which no robot could
        avoid); the bed waits, as for a robot in front, and its patience applies."""
        turning = np.flatnonzero((self._hx != self._ux) | (self._hy != self._uy))
        if not len(turning):
            return
        rx, ry, rlevel, rr = self._robots
        half = self._half
        need = self.config.bed_radius_m + rr + SWING_GAP_M
        for i in turning:
            ux, uy, hx, hy = self._ux[i], self._uy[i], self._hx[i], self._hy[i]
            if self._reach[i] > self.config.person_radius_m and len(rx):
                x, y = self.x_m[i], self.y_m[i]
                new = np.minimum(np.hypot(rx - x - ux * half, ry - y - uy * half),
                                 np.hypot(rx - x + ux * half, ry - y + uy * half))
                now = np.minimum(np.hypot(rx - x - hx * half, ry - y - hy * half),
                                 np.hypot(rx - x + hx * half, ry - y + hy * half))
                # clear: every robot on the floor stays far enough off, or no nearer than now
                if not np.all((rlevel != self.level[i]) | (new >= need) | (new >= now - 1e-9)):
                    continue
            self._hx[i], self._hy[i] = ux, uy

    def _owner_is_bed(self) -> npt.NDArray[np.bool_]:
        return self._reach > self.config.person_radius_m

    def _advance(self, i: int) -> None:
        w = self._walkers[i]
        if self._blocked_s[i] >= self.config.patience_s:
            self._blocked_s[i] = 0.0
            w.standing_aside = False
            if (self._hx[i] != self._ux[i] or self._hy[i] != self._uy[i]) and self._walk_without_turning(i):
                return
            if self._sidestep(i):
                return
            if self._stand_aside(i):
                return
            # no way round: turn back to the node this segment started from, then walk elsewhere
            s = min(self._s[i], self._len[i])
            here = (float(self._ax[i] + self._ux[i] * s), float(self._ay[i] + self._uy[i] * s))
            back = self._pos[w.node]
            # and on from there by a way that does not lead back into the robot (walking
            # elsewhere at random, people went that way again, and robot and person waited for
            # each other all day)
            away = self._way_avoiding(i, float(self._ux[i]), float(self._uy[i]))
            self._ux[i], self._uy[i] = -self._ux[i], -self._uy[i]  # facing away from the robot
            # within a step of the node (people stand kept right of it): no way back to walk,
            # and keeping right on so short a way would lead anywhere, the robot included
            if float(np.hypot(here[0] - back[0], here[1] - back[1])) < NEAR_NODE_M:
                if away:
                    w.ahead = away
                    self._walk_on(i)
                    return
                # blocked where the segment starts: stand aside a moment, then choose again
                self._ax[i], self._ay[i] = here
                self._s[i] = self._len[i] = 0.0
                self._pause[i] = w.rng.uniform(1.0, 3.0)
                return
            w.ahead = [w.node, *away]
            self._start_segment(i, here, self._kept_right(w, here, back))
            return
        if w.standing_aside:
            w.standing_aside = False
            self._ax[i], self._ay[i] = self._here(i)  # at the wall: wait there, then a new walk
            self._s[i] = self._len[i] = 0.0
            self._pause[i] = w.rng.uniform(*STAND_ASIDE_S)
            return
        if w.via:
            self._start_segment(i, self._here(i), w.via.pop(0))
            return
        if w.stepping_aside:
            w.stepping_aside = False
            if w.ahead:
                self._walk_on(i)
                return
        w.node = w.ahead.pop(0) if w.ahead else w.node
        if w.ahead:
            self._walk_on(i)
            return
        self._arrive(i)

    def _way_avoiding(self, i: int, ux: float, uy: float) -> list[str]:
        """The nodes after `node` of a walk to another destination whose way from the node does
        not head along (ux, uy), where the robot stood; [] when every way does."""
        w = self._walkers[i]
        node_x, node_y = self._pos[w.node]
        ways = []
        for dest in w.destinations:
            path = self._path(w.level, w.kind, w.node, dest) if dest != w.node else []
            if len(path) < 2:
                continue
            dx, dy = self._pos[path[1]][0] - node_x, self._pos[path[1]][1] - node_y
            length = float(np.hypot(dx, dy))
            if length > 1e-6 and (dx * ux + dy * uy) / length < 0.5:
                ways.append(path[1:])
        return ways[int(w.rng.integers(len(ways)))] if ways else []

    def _walk_without_turning(self, i: int) -> bool:
        """A bed that could not swing round (a robot stood in the way for its patience) is pushed on
        straight, or back the way it came: a walk to another destination whose way leaves along
        the bed's length. False when there is none."""
        w = self._walkers[i]
        hx, hy = float(self._hx[i]), float(self._hy[i])
        here = self._here(i)
        ways = []
        for dest in w.destinations:
            path = self._path(w.level, w.kind, w.node, dest) if dest != w.node else []
            if len(path) < 2:
                continue
            dx, dy = self._pos[path[1]][0] - here[0], self._pos[path[1]][1] - here[1]
            length = float(np.hypot(dx, dy))
            if length > 1e-6 and abs(dx * hy - dy * hx) / length < 0.3:  # along its length, either way
                ways.append(path)
        if not ways:
            return False
        path = ways[int(w.rng.integers(len(ways)))]
        w.ahead, w.via, w.stepping_aside = path[1:], [], False
        self._walk_on(i)
        # straight on or back: the footprint lies as it was (reversed, or turned by the few
        # degrees of keeping right), so no swing to wait for
        self._hx[i], self._hy[i] = self._ux[i], self._uy[i]
        return True

    def _sidestep(self, i: int) -> bool:
        """Walk round the robot in the way when there is room beside it (as people do: a parked
        robot does not stop a corridor's traffic for good); False when there is none."""
        w = self._walkers[i]
        rx, ry, rlevel, rr = self._robots
        here = self._here(i)
        ux, uy = float(self._ux[i]), float(self._uy[i])
        nx, ny = uy, -ux  # right
        dx, dy = rx - here[0], ry - here[1]
        along = dx * ux + dy * uy
        right = dx * nx + dy * ny
        width = (self.config.bed_radius_m if w.kind == BED else self.config.person_radius_m) + rr + 0.1
        front = np.flatnonzero((rlevel == w.level) & (along > 0.0) & (along < self._reach[i] + rr + 1.5)
                               & (np.abs(right) < width))
        if not len(front):
            return False
        k = int(front[np.argmin(along[front])])
        others = (rlevel == w.level) & (np.hypot(dx, dy) < 3.0)
        others[k] = False
        if others.any():
            return False  # not with other robots about: stepping out in front of one is how people get hit
        beyond = float(along[k]) + self._reach[i] + float(rr[k]) + 0.3
        grid = self._free[(w.level, w.kind)]
        for offset in (float(right[k]) + float(width[k]) + 0.1, float(right[k]) - float(width[k]) - 0.1):
            p1 = (here[0] + nx * offset, here[1] + ny * offset)
            p2 = (p1[0] + ux * beyond, p1[1] + uy * beyond)
            if not (grid.segment_is_free(here, p1) and grid.segment_is_free(p1, p2)):
                continue
            clear = np.hypot(rx - p2[0], ry - p2[1]) >= width + 0.1
            mid = np.hypot(rx - (p1[0] + p2[0]) / 2, ry - (p1[1] + p2[1]) / 2) >= width
            if not bool(np.all((clear & mid & (np.hypot(rx - p1[0], ry - p1[1]) >= width)) | (rlevel != w.level))):
                continue
            w.via = [p2]
            w.stepping_aside = True
            self._start_segment(i, here, p1)
            return True
        return False

    def _stand_aside(self, i: int) -> bool:
        """Caught between a robot in front and one behind (each waiting for them): step sideways to
        the wall, out of the line the two stand on, and wait there (`standing_aside`). False when
        no robot stands behind, or there is no such room (a door's frame)."""
        w = self._walkers[i]
        rx, ry, rlevel, rr = self._robots
        if not len(rx):
            return False
        here = self._here(i)
        ux, uy = float(self._ux[i]), float(self._uy[i])
        nx, ny = uy, -ux  # right
        dx, dy = rx - here[0], ry - here[1]
        along = dx * ux + dy * uy
        lateral = np.abs(dx * nx + dy * ny)
        radius = self.config.bed_radius_m if w.kind == BED else self.config.person_radius_m
        width = radius + rr + 0.1
        near = (rlevel == w.level) & (lateral < width)
        reach = self._reach[i] + rr + 2.0
        front = np.flatnonzero(near & (along > 0.0) & (along < reach))
        behind = np.flatnonzero(near & (along < 0.0) & (-along < reach))
        if not len(front) or not len(behind):
            return False
        kf = int(front[np.argmin(along[front])])
        kb = int(behind[np.argmax(along[behind])])
        a = (float(rx[kf]), float(ry[kf]))
        b = (float(rx[kb]), float(ry[kb]))
        need = radius + max(float(rr[kf]), float(rr[kb])) + STAND_ASIDE_CLEAR_M
        grid = self._free[(w.level, w.kind)]
        others = rlevel == w.level
        for side in (1.0, -1.0):  # the right-hand wall first, as people keep right
            for offset in STAND_ASIDE_M:
                spot = (here[0] + side * nx * offset, here[1] + side * ny * offset)
                if segment_distance_m(a, b, spot) < need or not grid.segment_is_free(here, spot):
                    continue
                gap = np.hypot(rx - spot[0], ry - spot[1])
                if not bool(np.all(~others | (gap >= width))):
                    continue
                w.standing_aside, w.via, w.stepping_aside = True, [], False
                self._start_segment(i, here, spot)
                return True
        return False

    def _arrive(self, i: int) -> None:
        w = self._walkers[i]
        self._ax[i], self._ay[i] = self._here(i)  # where they stand: the right-hand side of the way
        self._s[i] = self._len[i] = 0.0
        lo, hi = self.config.pause_s
        self._pause[i] = w.rng.uniform(lo, hi)

    def _new_walk(self, i: int) -> None:
        w = self._walkers[i]
        others = [d for d in w.destinations if d != w.node]
        dest = others[int(w.rng.integers(len(others)))]
        path = self._path(w.level, w.kind, w.node, dest)
        w.ahead = path[1:]
        if not w.ahead:
            self._arrive(i)
            return
        self._walk_on(i)

    def _here(self, i: int) -> tuple[float, float]:
        s = min(self._s[i], self._len[i])
        return float(self._ax[i] + self._ux[i] * s), float(self._ay[i] + self._uy[i] * s)

    def _walk_on(self, i: int) -> None:
        """From where they stand along the next edge, on its right-hand side."""
        w = self._walkers[i]
        a, b = self._pos[w.node], self._pos[w.ahead[0]]
        self._start_segment(i, self._here(i), self._kept_right(w, a, b))
        lane = self._lanes.lane_of.get(w.ahead[0])
        if lane is not None and self._lanes.lane_of.get(w.node) != lane:
            self._lane_entry[i] = lane
            self._lane_mouth_x[i], self._lane_mouth_y[i] = b

    def _kept_right(self, w: _Walker, a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
        """The end `b` of the way a → b, moved to its right as far as the walls allow (up to
        KEEP_RIGHT_M): people keep right, which leaves a corridor's middle to robots."""
        key = (w.level, w.kind, a, b)
        end = self._kept_right_ends.get(key)
        if end is None:
            end = self._kept_right_ends[key] = self._find_kept_right(w, a, b)
        return end

    def _find_kept_right(self, w: _Walker, a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
        dx, dy = b[0] - a[0], b[1] - a[1]
        length = float(np.hypot(dx, dy))
        if length < 1e-6:
            return b
        nx, ny = dy / length, -dx / length
        grid = self._free[(w.level, w.kind)]
        for offset in KEEP_RIGHT_M:
            if kept_right_free(grid, a, b, offset):
                return (b[0] + nx * offset, b[1] + ny * offset)
        return b


    def _start_segment(self, i: int, a: tuple[float, float], b: tuple[float, float]) -> None:
        dx, dy = b[0] - a[0], b[1] - a[1]
        length = float(np.hypot(dx, dy))
        self._ax[i], self._ay[i] = a
        if length > 0:
            self._ux[i], self._uy[i] = dx / length, dy / length
        self._len[i] = max(length, 1e-6)  # a zero-length hop ends on the next step
        self._s[i] = 0.0
        self._lane_entry[i] = -1

    # -- what the sensors see ---------------------------------------------------------------

    def circles(self) -> PeopleCircles:
        owner = self._owner
        offset = self._sign * self._half
        return PeopleCircles(
            self.x_m[owner] + self._hx[owner] * offset,
            self.y_m[owner] + self._hy[owner] * offset,
            self._circle_r,
            self.level[owner],
            owner,
            self.idents,
            self.kinds,
            self.moving,
            self.waiting,
            np.where(self.moving, self._ux * self._speed, 0.0),
            np.where(self.moving, self._uy * self._speed, 0.0),
        )

    def positions(self) -> list[tuple[str, int, float, float]]:
        """(ident, level, x, y) of every person, for tests and the map."""
        return [(ident, int(lv), float(x), float(y))
                for ident, lv, x, y in zip(self.idents, self.level, self.x_m, self.y_m, strict=True)]

