"""2D range scanner (lidar), shaped like sensor_msgs/LaserScan."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hal.device import Device


@dataclass(frozen=True, slots=True, eq=False)
class LaserScan:
    angle_min_rad: float
    angle_increment_rad: float
    range_min_m: float
    range_max_m: float
    ranges_m: npt.NDArray[np.float32]  # inf where nothing was hit within range_max_m
    stamp_s: float

    def min_range_m(self) -> float:
        finite = self.ranges_m[np.isfinite(self.ranges_m)]
        return float(finite.min()) if finite.size else float("inf")


class RangeScanner(Device):
    kind = "range_scanner"

    @abstractmethod
    def scan(self) -> LaserScan: ...
