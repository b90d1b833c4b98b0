"""What moves in the hospital besides walls: robot footprints and people, and the contacts log.

`ObstacleField` keeps every robot's footprint (a circle) in numpy arrays updated whenever a body's
pose is set, and the people's circles as arrays refreshed once per `SimEnvironment.step`, so that
the three questions asked every tick are one vectorised test each: what would this move hit (the
body), what is near my path (the navigator) and what do my beams hit (the lidar).

Robots that start on one spot (a world with fewer docks than robots: the scaled bench fleets,
two robots on one isolation dock) are *dock mates*: they neither see nor touch each other, since
no rule could let both park where only one fits. A world that gives every robot its own dock
has none.

Contacts are counted by episode: a robot pressing on the same obstacle tick after tick (the bumper
stops it, the navigator asks again) is one contact until it has been clear for `CONTACT_GAP_S`.
Records carry robot ids and anonymous person ids only ("visitor-0-3"), never a patient identifier.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

ROBOT = "robot"
PERSON = "person"
BED = "bed"  # a bed pushed by staff: counts as a person for contacts
WALL = "wall"
CONTACT_KINDS = ("robot-robot", "robot-person", "robot-wall")
#: a robot touching the same obstacle again within this long continues the same contact
CONTACT_GAP_S = 2.0
_EPS_M = 1e-9

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Obstacle:
    """A circle something's sensors (or bumper) see: a robot, a person, or part of a bed."""

    kind: str  # ROBOT, PERSON or BED
    ident: str  # robot id, or an anonymous person id
    x_m: float
    y_m: float
    radius_m: float
    level: int
    moving: bool  # moved in the last step
    waiting: bool  # stopped for something itself (a yielding person, a robot waiting for another)
    vx_mps: float = 0.0  # velocity over the floor (a robot's odometry, a person's walk as a tracker sees it)
    vy_mps: float = 0.0

    def describe(self) -> str:
        return f"{'robot' if self.kind == ROBOT else 'person' if self.kind == PERSON else 'bed'} {self.ident}"


@dataclass(frozen=True, slots=True)
class Contact:
    kind: str  # one of CONTACT_KINDS
    robot_id: str
    other_id: str | None  # the other robot or the person; None for a wall
    other_kind: str  # ROBOT, PERSON, BED or WALL
    at_s: float
    level: int
    x_m: float
    y_m: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def contact_kind(other_kind: str) -> str:
    return "robot-robot" if other_kind == ROBOT else "robot-wall" if other_kind == WALL else "robot-person"


@dataclass(slots=True)
class PeopleCircles:
    """The people's footprints after a step (a bed is two circles with the same ident)."""

    x_m: FloatArray
    y_m: FloatArray
    radius_m: FloatArray
    level: npt.NDArray[np.int64]
    owner: npt.NDArray[np.int64]  # index into `idents`
    idents: list[str]
    kinds: list[str]  # per owner
    moving: npt.NDArray[np.bool_]  # per owner
    waiting: npt.NDArray[np.bool_]  # per owner
    #: per owner, the velocity over the floor (0 while standing): what a robot's tracker estimates
    #: from successive scans, so that it can tell where a person walking across its path will be
    vx_mps: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    vy_mps: FloatArray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))

    @classmethod
    def empty(cls) -> PeopleCircles:
        f = np.zeros(0, dtype=np.float64)
        i = np.zeros(0, dtype=np.int64)
        b = np.zeros(0, dtype=bool)
        return cls(f, f, f, i, i, [], [], b, b, f, f)


class ObstacleField:
    """Robot footprints (live) and people circles (per step) on every level."""

    def __init__(self) -> None:
        self.robot_ids: list[str] = []
        self._index: dict[str, int] = {}
        self._rx = np.zeros(0, dtype=np.float64)
        self._ry = np.zeros(0, dtype=np.float64)
        self._rr = np.zeros(0, dtype=np.float64)
        self._rlevel = np.zeros(0, dtype=np.int64)
        self._group = np.zeros(0, dtype=np.int64)  # dock mates share a group
        self._moving: list[bool] = []
        self._velocity: list[tuple[float, float]] = []
        self._waiting_for: list[str | None] = []
        self._people = PeopleCircles.empty()
        self._mate_matrix = np.zeros((0, 0), dtype=bool)  # robot × robot: itself or a dock mate
        self._clearance = np.zeros(0, dtype=np.float64)
        self._clearance_dirty = True

    @property
    def people(self) -> PeopleCircles:
        return self._people

    @people.setter
    def people(self, circles: PeopleCircles) -> None:
        self._people = circles
        self._clearance_dirty = True

    # -- robots -----------------------------------------------------------------------------

    def add_robot(self, robot_id: str, x_m: float, y_m: float, level: int, radius_m: float, group: int) -> None:
        """`group`: robots of one group (dock mates) ignore each other."""
        self._index[robot_id] = len(self.robot_ids)
        self.robot_ids.append(robot_id)
        self._rx = np.append(self._rx, x_m)
        self._ry = np.append(self._ry, y_m)
        self._rr = np.append(self._rr, radius_m)
        self._rlevel = np.append(self._rlevel, level)
        self._group = np.append(self._group, group)
        self._moving.append(False)
        self._velocity.append((0.0, 0.0))
        self._waiting_for.append(None)
        self._mate_matrix = self._group[:, None] == self._group[None, :]
        self._clearance_dirty = True

    def move_robot(self, robot_id: str, x_m: float, y_m: float, level: int) -> None:
        i = self._index[robot_id]
        self._rx[i] = x_m
        self._ry[i] = y_m
        self._rlevel[i] = level
        self._clearance_dirty = True

    def set_moving(self, robot_id: str, moving: bool) -> None:
        self._moving[self._index[robot_id]] = moving

    def set_velocity(self, robot_id: str, vx_mps: float, vy_mps: float) -> None:
        self._velocity[self._index[robot_id]] = (vx_mps, vy_mps)

    def set_waiting(self, robot_id: str, blocker: str | None) -> None:
        """What this robot's navigator is stopped for (None: not waiting)."""
        self._waiting_for[self._index[robot_id]] = blocker

    def is_robot(self, ident: str) -> bool:
        return ident in self._index

    def waiting_for(self, robot_id: str) -> str | None:
        return self._waiting_for[self._index[robot_id]]

    def robot_xy_level(self) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
        return self._rx, self._ry, self._rlevel

    def robot_radius_m(self) -> FloatArray:
        return self._rr

    def robot_velocity_mps(self) -> tuple[FloatArray, FloatArray]:
        """Every robot's velocity (vx, vy), in `robot_ids` order."""
        v = np.array(self._velocity, dtype=np.float64).reshape(-1, 2)
        return v[:, 0], v[:, 1]

    # -- queries ----------------------------------------------------------------------------

    def clearances(self) -> FloatArray:
        """Per robot (in `robot_ids` order), the free distance from its footprint to the nearest
        other footprint or person on its level (inf: none). One pairwise computation for the
        whole fleet, redone only after something moved: most robots most of the time have
        nothing near, and this lets them skip every other query."""
        if self._clearance_dirty:
            self._clearance = self._compute_clearances()
            self._clearance_dirty = False
        return self._clearance

    def clearance(self, robot_id: str) -> float:
        return float(self.clearances()[self._index[robot_id]])

    def _compute_clearances(self) -> FloatArray:
        n = len(self.robot_ids)
        if n == 0:
            return np.zeros(0, dtype=np.float64)
        d = np.hypot(self._rx[:, None] - self._rx[None, :], self._ry[:, None] - self._ry[None, :])
        d -= self._rr[:, None] + self._rr[None, :]
        d[self._mate_matrix | (self._rlevel[:, None] != self._rlevel[None, :])] = np.inf
        clear = d.min(axis=1)
        people = self._people
        if len(people.x_m):
            dp = np.hypot(self._rx[:, None] - people.x_m[None, :], self._ry[:, None] - people.y_m[None, :])
            dp -= self._rr[:, None] + people.radius_m[None, :]
            dp[self._rlevel[:, None] != people.level[None, :]] = np.inf
            clear = np.minimum(clear, dp.min(axis=1))
        return clear

    def blocker(
        self, robot_id: str, level: int, x0_m: float, y0_m: float, x1_m: float, y1_m: float, radius_m: float
    ) -> tuple[str, str] | None:
        """(kind, ident) of what a footprint moving (x0, y0) → (x1, y1) would press into.

        A move is refused only when it ends overlapping a circle *and* closer to it than it
        started: two robots spawned on one dock may drive apart, never into each other."""
        me = self._index.get(robot_id, -1)
        hit = _first_pressed(self._rx, self._ry, self._rr, self._rlevel, self._mates(me), level,
                             x0_m, y0_m, x1_m, y1_m, radius_m)
        if hit is not None:
            return ROBOT, self.robot_ids[hit]
        people = self.people
        if len(people.x_m):
            hit = _first_pressed(people.x_m, people.y_m, people.radius_m, people.level, None, level,
                                 x0_m, y0_m, x1_m, y1_m, radius_m)
            if hit is not None:
                owner = int(people.owner[hit])
                return people.kinds[owner], people.idents[owner]
        return None

    def near(
        self, level: int, x_m: float, y_m: float, radius_m: float, *, exclude: str | None = None
    ) -> list[Obstacle]:
        """Circles on `level` whose edge is within `radius_m` of the point, nearest first."""
        found: list[tuple[float, Obstacle]] = []
        me = self._index.get(exclude, -1) if exclude is not None else -1
        d = np.hypot(self._rx - x_m, self._ry - y_m) - self._rr
        mask = (self._rlevel == level) & (d <= radius_m)
        mates = self._mates(me)
        if mates is not None:
            mask &= ~mates
        for i in np.flatnonzero(mask):
            found.append((float(d[i]), Obstacle(
                ROBOT, self.robot_ids[i], float(self._rx[i]), float(self._ry[i]), float(self._rr[i]), level,
                self._moving[i], self._waiting_for[i] is not None, *self._velocity[i])))
        people = self.people
        if len(people.x_m):
            d = np.hypot(people.x_m - x_m, people.y_m - y_m) - people.radius_m
            for i in np.flatnonzero((people.level == level) & (d <= radius_m)):
                owner = int(people.owner[i])
                velocity = ((float(people.vx_mps[owner]), float(people.vy_mps[owner]))
                            if len(people.vx_mps) else (0.0, 0.0))
                found.append((float(d[i]), Obstacle(
                    people.kinds[owner], people.idents[owner], float(people.x_m[i]), float(people.y_m[i]),
                    float(people.radius_m[i]), level, bool(people.moving[owner]), bool(people.waiting[owner]),
                    *velocity)))
        found.sort(key=lambda pair: (pair[0], pair[1].ident))
        return [obstacle for _, obstacle in found]

    def circles(
        self, level: int, x_m: float, y_m: float, within_m: float, *, exclude: str | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(x, y, radius) of every circle on `level` within `within_m` of the point (for the lidar)."""
        me = self._index.get(exclude, -1) if exclude is not None else -1
        mask = (self._rlevel == level) & (np.hypot(self._rx - x_m, self._ry - y_m) - self._rr <= within_m)
        mates = self._mates(me)
        if mates is not None:
            mask &= ~mates
        xs, ys, rs = self._rx[mask], self._ry[mask], self._rr[mask]
        people = self.people
        if len(people.x_m):
            pmask = (people.level == level) & (
                np.hypot(people.x_m - x_m, people.y_m - y_m) - people.radius_m <= within_m)
            xs = np.concatenate((xs, people.x_m[pmask]))
            ys = np.concatenate((ys, people.y_m[pmask]))
            rs = np.concatenate((rs, people.radius_m[pmask]))
        return xs, ys, rs


    def _mates(self, index: int) -> npt.NDArray[np.bool_] | None:
        """The robot itself and its dock mates, as a mask over robots (None for no robot)."""
        return None if index < 0 else self._group == self._group[index]


def _first_pressed(
    xs: FloatArray, ys: FloatArray, rs: FloatArray, levels: npt.NDArray[np.int64],
    skip: npt.NDArray[np.bool_] | None, level: int,
    x0: float, y0: float, x1: float, y1: float, radius: float,
) -> int | None:
    if not len(xs):
        return None
    d1 = np.hypot(xs - x1, ys - y1)
    pressed = (levels == level) & (d1 < rs + radius)
    if skip is not None:
        pressed &= ~skip
    if not pressed.any():
        return None
    d0 = np.hypot(xs - x0, ys - y0)
    pressed &= d1 < d0 - _EPS_M
    hits = np.flatnonzero(pressed)
    return int(hits[0]) if len(hits) else None


class ContactLog:
    """Every contact a robot made, by episode (see the module docstring)."""

    def __init__(self) -> None:
        self.records: list[Contact] = []
        self._last_s: dict[tuple[str, ...], float] = {}

    def record(self, robot_id: str, other_kind: str, other_id: str | None, at_s: float, level: int,
               x_m: float, y_m: float) -> Contact | None:
        """Log a contact; None when it continues one already logged."""
        # one physical contact between two robots is one record, whichever pressed
        other = other_id or ""
        key = tuple(sorted((robot_id, other))) if other_kind == ROBOT else (robot_id, other_kind, other)
        last = self._last_s.get(key)
        self._last_s[key] = at_s
        if last is not None and at_s - last <= CONTACT_GAP_S:
            return None
        contact = Contact(contact_kind(other_kind), robot_id, other_id, other_kind, at_s, level, x_m, y_m)
        self.records.append(contact)
        return contact

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(CONTACT_KINDS, 0)
        for contact in self.records:
            counts[contact.kind] += 1
        counts["total"] = len(self.records)
        return counts
