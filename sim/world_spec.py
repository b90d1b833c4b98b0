"""Pydantic schema of a world file, as written (see docs/world-format.md).

Only the file's shape lives here; names that refer to each other (edges, doors, wards) are
cross-checked by `sim.world`, which turns these specs into the runtime `World`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ZoneTag = Literal[
    "ward", "isolation", "radiology", "lab", "pharmacy", "supply", "kitchen", "car_park", "corridor",
    "outpatient", "charging",
]
PlaceKind = Literal[
    "bed", "nurse_station", "dock", "room", "station", "waypoint", "entrance", "reception", "waiting",
    "storage", "anteroom", "imaging", "lab_bench", "pharmacy_counter", "kitchen_pass", "parking",
]
XY = tuple[float, float]


class _Spec(BaseModel):
    # A misspelt key is an error, not a silently ignored default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class LevelSpec(_Spec):
    index: int
    name: str = ""


class WallSpec(_Spec):
    """A polyline of wall; a bare list of points is accepted as shorthand."""

    points: list[XY] = Field(min_length=2)
    thickness_m: float | None = Field(default=None, gt=0)
    level: int = 0
    closed: bool = False  # join the last point back to the first (a room outline)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"points": data} if isinstance(data, list) else data


class PlaceSpec(_Spec):
    name: str = Field(min_length=1)
    x: float
    y: float
    yaw_deg: float = 0.0
    kind: PlaceKind
    level: int = 0
    zone: str | None = None
    ward: str | None = None
    bed_id: str | None = None


class DoorSpec(_Spec):
    name: str = Field(min_length=1)
    between: tuple[str, str]  # the two route nodes on either side
    at: XY | None = None  # centre of the gap cut into the wall it sits in
    width_m: float = Field(default=1.2, gt=0)
    auto: bool = False
    level: int = 0


class ZoneSpec(_Spec):
    name: str = Field(min_length=1)
    tag: ZoneTag
    polygon: list[XY] | None = Field(default=None, min_length=3)
    rect: tuple[float, float, float, float] | None = None  # xmin, ymin, xmax, ymax
    speed_limit_mps: float = Field(gt=0)
    level: int = 0

    @model_validator(mode="after")
    def _one_shape(self) -> ZoneSpec:
        if (self.polygon is None) == (self.rect is None):
            raise ValueError("give exactly one of polygon or rect")
        if self.rect is not None and not (self.rect[0] < self.rect[2] and self.rect[1] < self.rect[3]):
            raise ValueError(f"rect must be [xmin, ymin, xmax, ymax] with min < max, got {list(self.rect)}")
        return self

    def polygon_points(self) -> list[tuple[float, float]]:
        if self.rect is not None:
            x0, y0, x1, y1 = self.rect
            return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        assert self.polygon is not None
        return [(float(x), float(y)) for x, y in self.polygon]


class WaypointSpec(_Spec):
    name: str = Field(min_length=1)
    x: float
    y: float
    level: int = 0


class EdgeSpec(_Spec):
    """A chain of nodes, each joined to the next; a bare list of names is accepted as shorthand."""

    path: list[str] = Field(min_length=2)
    bidirectional: bool = True

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, list) else data


class RoutesSpec(_Spec):
    waypoints: list[WaypointSpec] = Field(default_factory=list)
    edges: list[EdgeSpec] = Field(default_factory=list)


class WorldSpec(_Spec):
    name: str = Field(min_length=1)
    levels: list[LevelSpec] = Field(default_factory=lambda: [LevelSpec(index=0, name="ground")], min_length=1)
    grid_resolution_m: float = Field(default=0.1, gt=0)
    wall_thickness_m: float = Field(default=0.2, gt=0)
    walls: list[WallSpec] = Field(default_factory=list)
    places: list[PlaceSpec] = Field(default_factory=list)
    doors: list[DoorSpec] = Field(default_factory=list)
    zones: list[ZoneSpec] = Field(default_factory=list)
    routes: RoutesSpec = Field(default_factory=RoutesSpec)
