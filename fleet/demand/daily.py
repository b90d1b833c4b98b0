"""Times of day for demand sources: "08:00 every day" on the fleet's clock, task-id stamps, and
settings errors that name the field.

Local time is UTC plus the site's offset (`utc_offset_h`; the simulator's day is UTC). Only epoch
arithmetic here — no clock is read: the caller passes the times it got from the fleet's clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from fleet.demand import DemandError

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
DAY_S = 86400.0

M = TypeVar("M", bound=pydantic.BaseModel)


def minute_of_day(hhmm: str) -> int:
    """``"13:05"`` → 785 (the settings models check the format first)."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def local_midnight_s(epoch_s: float, utc_offset_h: float = 0.0) -> float:
    offset_s = utc_offset_h * 3600.0
    return math.floor((epoch_s + offset_s) / DAY_S) * DAY_S - offset_s


def next_daily_s(after_s: float, minute: int, utc_offset_h: float = 0.0) -> float:
    """The first time at or after `after_s` when the local clock shows `minute` of the day (a time
    already past today is tomorrow's)."""
    at = local_midnight_s(after_s, utc_offset_h) + minute * 60.0
    return at + DAY_S if at < after_s else at


def local_minute(epoch_s: float, utc_offset_h: float = 0.0) -> float:
    """Minutes since local midnight (fractional)."""
    return (epoch_s - local_midnight_s(epoch_s, utc_offset_h)) / 60.0


def stamp(epoch_s: float, utc_offset_h: float = 0.0, *, seconds: bool = False) -> str:
    """``20260105-0800`` (or ``20260105-080000``): the local date and time a task id is made from, so
    that ids are the same every run and never collide across days."""
    fmt = "%Y%m%d-%H%M%S" if seconds else "%Y%m%d-%H%M"
    return time.strftime(fmt, time.gmtime(math.floor(epoch_s + utc_offset_h * 3600.0)))


def parse_settings(model: type[M], settings: Mapping[str, Any], source: str) -> M:
    """Validate a source's settings; the error names the first wrong field as the config spells it
    (``demand.supply.ward_deliveries.1: ...``)."""
    try:
        return model.model_validate(dict(settings))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DemandError(f"demand.{source}{'.' + where if where else ''}: {first['msg']}") from None
