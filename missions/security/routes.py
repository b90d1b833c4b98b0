"""Patrol checkpoints of the default hospital and the day and night routes through them.

A checkpoint is a named place where the robot stops and looks. `closed_hours` (local time, may
wrap midnight) is when the area is shut: motion seen there then is an intrusion; by day people
walking through are just the hospital at work. `check_door` marks a door that must stay shut
(store rooms, pharmacy: security and fire compartments).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Checkpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    place: str = Field(min_length=1, max_length=128)
    #: [from_h, until_h) local hours when the area is closed; None: never closed
    closed_hours: tuple[float, float] | None = None
    check_door: bool = False

    def closed_at(self, hour_of_day: float) -> bool:
        if self.closed_hours is None:
            return False
        start, end = self.closed_hours
        if start <= end:
            return start <= hour_of_day < end
        return hour_of_day >= start or hour_of_day < end  # wraps midnight


def _cp(place: str, closed: tuple[float, float] | None = None, door: bool = False) -> Checkpoint:
    return Checkpoint(name=place, place=place, closed_hours=closed, check_door=door)


CHECKPOINTS: dict[str, Checkpoint] = {
    cp.name: cp
    for cp in (
        _cp("car-park-bay-1"),
        _cp("car-park-bay-2"),
        _cp("car-park-bay-3"),
        _cp("main-entrance"),  # the emergency entrance never closes
        _cp("outpatient-reception", (20.0, 7.0)),
        _cp("outpatient-waiting", (20.0, 7.0)),
        _cp("radiology-reception"),  # imaging runs day and night
        _cp("central-supply", (20.0, 7.0), door=True),
        _cp("clinical-lab"),
        _cp("kitchen", (21.0, 6.0)),
        _cp("pharmacy", (21.0, 7.0), door=True),
    )
}

ROUTES: dict[str, tuple[str, ...]] = {
    # by day the hospital is busy: the car park, the public areas, the plant and stores
    "day": ("car-park-bay-1", "car-park-bay-2", "main-entrance", "outpatient-reception", "radiology-reception",
            "central-supply", "clinical-lab", "kitchen", "pharmacy"),
    # by night every closed area, and all of the car park
    "night": ("car-park-bay-1", "car-park-bay-3", "car-park-bay-2", "main-entrance", "outpatient-reception",
              "outpatient-waiting", "radiology-reception", "central-supply", "clinical-lab", "kitchen",
              "pharmacy"),
}


def route(name: str) -> list[Checkpoint]:
    if name not in ROUTES:
        raise ValueError(f"unknown patrol route {name!r}; known: {', '.join(sorted(ROUTES))}")
    return [CHECKPOINTS[n] for n in ROUTES[name]]
