"""Times of day for demand sources (and the simulated hospital): "08:00 every day" on the fleet's
clock, and the local date and time task ids are stamped with.

Local time is UTC plus the site's offset (`utc_offset_h`; the simulator's day is UTC). Only epoch
arithmetic here — no clock is read: the caller passes the times it got from the fleet's clock.
"""

from __future__ import annotations

import math
import time

#: a time of day, ``HH:MM`` (the settings models' pattern)
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
DAY_S = 86400.0


def minute_of_day(hhmm: str) -> int:
    """``"13:05"`` → 785 (the settings models check the format first)."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def local_day(epoch_s: float, utc_offset_h: float = 0.0) -> int:
    """The local day's number (days since 1970-01-01, local time)."""
    return int((epoch_s + utc_offset_h * 3600.0) // DAY_S)


def day_start_s(day: int, utc_offset_h: float = 0.0) -> float:
    """The epoch time of local midnight starting day number `day` (see `local_day`)."""
    return day * DAY_S - utc_offset_h * 3600.0


def local_midnight_s(epoch_s: float, utc_offset_h: float = 0.0) -> float:
    return day_start_s(local_day(epoch_s, utc_offset_h), utc_offset_h)


def next_daily_s(after_s: float, minute: int, utc_offset_h: float = 0.0) -> float:
    """The first time at or after `after_s` when the local clock shows `minute` of the day (a time
    already past today is tomorrow's)."""
    at = local_midnight_s(after_s, utc_offset_h) + minute * 60.0
    return at + DAY_S if at < after_s else at


def local_minute(epoch_s: float, utc_offset_h: float = 0.0) -> float:
    """Minutes since local midnight (fractional)."""
    return (epoch_s - local_midnight_s(epoch_s, utc_offset_h)) / 60.0


def stamp(epoch_s: float, utc_offset_h: float = 0.0, *, seconds: bool = False) -> str:
    """``20260105-0800`` (or ``20260105-080000``): the local date and time a task id is made from,
    with the year, so that ids are the same every run and never collide across days (the store
    keeps the first task under an id, and a service runs for more than a year)."""
    fmt = "%Y%m%d-%H%M%S" if seconds else "%Y%m%d-%H%M"
    return time.strftime(fmt, time.gmtime(math.floor(epoch_s + utc_offset_h * 3600.0)))
