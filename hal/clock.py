"""The one injected clock. Robot logic reads time only from a `Clock`; nothing sleeps.

`now_s()` is seconds since the Unix epoch (UTC) so that readings can be stamped and shown as
real dates; `SimClock` starts at a fixed epoch so that a seeded simulation is reproducible.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime

#: 2026-01-05 07:00:00 UTC, a Monday morning: the default start of a simulated hospital day.
DEFAULT_SIM_EPOCH_S = 1767596400.0


class Clock(ABC):
    """Source of time for everything in the robot."""

    @abstractmethod
    def now_s(self) -> float:
        """Seconds since the Unix epoch, UTC."""

    def iso(self) -> str:
        return iso_utc(self.now_s())


class WallClock(Clock):
    """Real time, for hardware. Monotonic underneath so a system-time jump cannot fire deadlines."""

    def __init__(self) -> None:
        self._offset_s = time.time() - time.monotonic()

    def now_s(self) -> float:
        return time.monotonic() + self._offset_s


class SimClock(Clock):
    """Simulated time: advances only when told, as fast as the machine allows."""

    def __init__(self, start_s: float = DEFAULT_SIM_EPOCH_S) -> None:
        self._now_s = float(start_s)

    def now_s(self) -> float:
        return self._now_s

    def advance(self, dt_s: float) -> float:
        if dt_s < 0:
            raise ValueError(f"SimClock cannot go backwards (dt_s={dt_s})")
        self._now_s += dt_s
        return self._now_s

    def set(self, now_s: float) -> None:
        if now_s < self._now_s:
            raise ValueError(f"SimClock cannot go backwards ({now_s} < {self._now_s})")
        self._now_s = float(now_s)


def iso_utc(epoch_s: float) -> str:
    """ISO 8601 UTC with milliseconds, e.g. 2026-01-05T07:00:00.000Z."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )
