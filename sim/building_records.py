"""What the building model records: every ride (call, boarding, arrival, outcome) and every call
that waited for a car another robot held, with the summary's statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class RideRecord:
    """One session's use of a car: called at `from_level`, ridden to `to_level`."""

    robot: str
    lift: str
    from_level: int
    requested_s: float
    to_level: int | None = None
    answered_s: float | None = None  # the car stood open at from_level for the robot
    boarded_s: float | None = None  # the car call (the robot is aboard)
    arrived_s: float | None = None  # at to_level (done) or where it stopped (failed)
    outcome: str = "running"  # "running" | "done" | "failed" | "cancelled" (released before boarding)
    reason: str | None = None
    stopped_level: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class WaitRecord:
    """A call that waited for a car another robot held (capacity one), until the car took it."""

    robot: str
    lift: str
    level: int
    from_s: float
    until_s: float

    @property
    def wait_s(self) -> float:
        return self.until_s - self.from_s


def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0, "mean": 0.0, "max": 0.0}
    return {"n": len(values), "mean": round(sum(values) / len(values), 3), "max": round(max(values), 3)}
