"""The typed parts of a loaded world (places, doors, lifts, mutex groups, stairs, zones).

They live apart from `sim.world` (which re-exports them) so that the loader's helpers for lifts and
traffic groups (`sim.world_floors`) can build them without importing the loader.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.geometry import Pose2D


class WorldError(ValueError):
    """A problem in a world file, located: which file, which field, what is accepted."""

    def __init__(self, source: str, field_path: str, problem: str) -> None:
        super().__init__(f"{source}: {field_path}: {problem}" if field_path else f"{source}: {problem}")
        self.source = source
        self.field_path = field_path
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    x_m: float
    y_m: float
    yaw_rad: float
    level: int
    kind: str
    zone: str | None = None  # smallest zone containing the place, unless the file names one
    ward: str | None = None  # beds only: the ward zone's name, e.g. "ward-a"
    bed_id: str | None = None  # beds only: the hospital's bed label, e.g. "A-01"

    @property
    def pose(self) -> Pose2D:
        return Pose2D(self.x_m, self.y_m, self.yaw_rad, self.level)


@dataclass(frozen=True, slots=True)
class Door:
    name: str
    node_a: str
    node_b: str
    auto: bool
    x_m: float | None = None  # where the door sits in a wall (None: a logical door, no gap cut)
    y_m: float | None = None
    width_m: float = 1.2
    level: int = 0
    # A fire door: held open on magnets in normal service, released (closed) when the fire alarm
    # rings; robots then cannot pass until the alarm is reset.
    fire: bool = False


@dataclass(frozen=True, slots=True)
class Lift:
    """A lift shaft and its car; the car's centre is the same on every floor it serves."""

    name: str
    x_m: float
    y_m: float  # car centre, the same on every floor
    levels: tuple[int, ...]  # floors served, ascending
    lobbies: dict[int, str]  # level → place name (kind "lift_lobby")
    cars: dict[int, str]  # level → place name (kind "lift_car")
    doors: dict[int, str]  # level → the lift's landing door name on that floor
    travel_s_per_level: float = 5.0
    door_s: float = 3.0
    dwell_s: float = 6.0


@dataclass(frozen=True, slots=True)
class MutexGroup:
    """A shared resource one robot at a time: the fleet reserves it before a robot enters."""

    name: str
    kind: str  # "door" | "lane" | "lift" | "charger" | "anteroom"
    nodes: frozenset[str]  # route nodes inside the group; a robot at or between them holds it
    level: int


@dataclass(frozen=True, slots=True)
class Stairs:
    """A staircase, drawn on the map only: robots cannot use stairs."""

    name: str
    x_m: float
    y_m: float
    width_m: float
    depth_m: float
    levels: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Zone:
    name: str
    tag: str
    polygon_m: list[tuple[float, float]]
    speed_limit_mps: float
    level: int = 0

    @property
    def bbox_m(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.polygon_m]
        ys = [p[1] for p in self.polygon_m]
        return (min(xs), min(ys), max(xs), max(ys))

    @property
    def area_m2(self) -> float:
        pts = self.polygon_m
        return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(pts, pts[1:] + pts[:1], strict=True))) / 2

    def contains(self, x_m: float, y_m: float) -> bool:
        """Even-odd rule; points exactly on an edge may fall either way."""
        inside = False
        pts = self.polygon_m
        for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True):
            if (y1 > y_m) != (y2 > y_m) and x_m < x1 + (y_m - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside
