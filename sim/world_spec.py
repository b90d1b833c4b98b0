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
    "lift_lobby", "lift_car",
]
# Kinds the loader generates for lifts; a file may not declare places of these kinds itself.
GENERATED_KINDS = ("lift_lobby", "lift_car")
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
    fire: bool = False  # held open normally, closes when the fire alarm rings
    level: int = 0


class LiftLandingSpec(_Spec):
    """Where a lift's lobby joins the floor's route graph; a bare node name is accepted as shorthand.

    `connect` is the node robots come from (and wait at, outside the lift's mutex group); `exit`,
    when given, is a different node robots leave to, so that a robot leaving the lift never drives
    at the one waiting for it (connect → lobby and lobby → exit are then one-way)."""

    connect: str = Field(min_length=1)
    exit: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"connect": data} if isinstance(data, str) else data


class LiftSpec(_Spec):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    x: float  # car centre, the same on every floor
    y: float
    car_size: tuple[float, float] = (2.0, 2.4)  # inside width (x) and depth (y), metres
    door_side: Literal["north", "south", "east", "west"] = "south"  # shaft wall with the landing doors
    door_width_m: float = Field(default=1.2, gt=0)
    lobby_m: float = Field(default=1.5, gt=0)  # lobby place's distance out from the landing door
    levels: dict[int, LiftLandingSpec] = Field(min_length=2)  # level → where its lobby joins the graph
    travel_s_per_level: float = Field(default=5.0, gt=0)
    door_s: float = Field(default=3.0, ge=0)
    dwell_s: float = Field(default=6.0, ge=0)

    @model_validator(mode="after")
    def _car_fits(self) -> LiftSpec:
        width_m, depth_m = self.car_size
        if width_m <= 0 or depth_m <= 0:
            raise ValueError(f"car_size must be positive [width, depth], got {list(self.car_size)}")
        along = width_m if self.door_side in ("north", "south") else depth_m
        if self.door_width_m > along:
            raise ValueError(f"door_width_m {self.door_width_m} is wider than the car's {self.door_side} side "
                             f"({along})")
        return self


class StairsSpec(_Spec):
    name: str = Field(min_length=1)
    rect: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax
    levels: list[int] = Field(min_length=1)

    @model_validator(mode="after")
    def _rect(self) -> StairsSpec:
        if not (self.rect[0] < self.rect[2] and self.rect[1] < self.rect[3]):
            raise ValueError(f"rect must be [xmin, ymin, xmax, ymax] with min < max, got {list(self.rect)}")
        return self


class LaneSpec(_Spec):
    """A single-lane corridor stretch: the chain of route nodes inside it, end to end."""

    name: str = Field(min_length=1)
    path: list[str] = Field(min_length=2)


class AnteroomGroupSpec(_Spec):
    name: str = Field(min_length=1)
    nodes: list[str] = Field(min_length=1)


class TrafficSpec(_Spec):
    lanes: list[LaneSpec] = Field(default_factory=list)
    anterooms: list[AnteroomGroupSpec] = Field(default_factory=list)
    door_groups: bool = True  # one mutex group per powered door, through generated passage nodes
    door_passage_m: float = Field(default=0.8, gt=0)  # passage nodes' distance either side of a door


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
    lifts: list[LiftSpec] = Field(default_factory=list)
    stairs: list[StairsSpec] = Field(default_factory=list)
    # absent: no traffic groups but the lifts' (`traffic: {}` gives the generated ones)
    traffic: TrafficSpec | None = None
