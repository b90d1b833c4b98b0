"""The fleet service's clock: wall time, optionally scaled so a test or a demo runs a delivery fast.

`fleet/` may not import `hal/` (where the robots' `WallClock` lives), so the service has this small
clock of its own. With ``scale`` 1 it is the wall clock. With ``scale`` F, time runs F times as fast
from ``origin_s``: ``now = origin + (wall - origin) * F``. Every process that shares a scaled
clock (the fleet and the `medbot robot run` processes of a test) must be given the same origin and
scale, or their times drift apart; `sim.robot_cli` implements the same formula for robots.
"""

from __future__ import annotations

import math
import time


class ScaledClock:
    """``now_s()`` in epoch seconds; monotonic underneath, so a system-time jump fires no deadline."""

    def __init__(self, scale: float = 1.0, origin_s: float | None = None) -> None:
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"time scale must be a positive number, got {scale!r}")
        self.scale = float(scale)
        self._offset_s = time.time() - time.monotonic()
        self.origin_s = self._wall_s() if origin_s is None else float(origin_s)

    def _wall_s(self) -> float:
        return time.monotonic() + self._offset_s

    def now_s(self) -> float:
        return self.origin_s + (self._wall_s() - self.origin_s) * self.scale

    def wall_seconds(self, clock_seconds: float) -> float:
        """How long ``clock_seconds`` of this clock last in wall time (what to wait)."""
        return clock_seconds / self.scale
