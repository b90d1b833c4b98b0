"""Helpers shared by the simulated hospital's parts (lab, imaging, epi): times of day on the run's
day, and settings checked with the field named. Not a part itself (no `build`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from sim.hospital import HospitalError

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
DAY_S = 86400.0
M = TypeVar("M", bound=pydantic.BaseModel)


class Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


def parse_settings(model: type[M], part: str, settings: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(dict(settings))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise HospitalError(f"hospital.{part}{'.' + loc if loc else ''}: {first['msg']}") from None


def at_clock(start_s: float, hhmm: str) -> float:
    """The next `hhmm` at or after the run's start (a time before the start is the next morning)."""
    hours, minutes = hhmm.split(":")
    at_s = start_s - start_s % DAY_S + int(hours) * 3600 + int(minutes) * 60
    return at_s + DAY_S if at_s < start_s else at_s
