"""Thermal camera delivering radiometric frames: one temperature in °C per pixel.

A security robot points one at electrical panels (hot spots), fires and people (a person reads
about 30-34 °C at the skin and clothing surface). Readings are whole frames so that analyses can
compare a spot with the scene's own ambient (thermography judges ΔT over ambient, not absolutes).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hal.device import Device


@dataclass(frozen=True, slots=True, eq=False)
class ThermalFrame:
    temperature_c: npt.NDArray[np.float32]  # H x W, °C per pixel
    stamp_s: float
    frame_id: str = "thermal"
    #: horizontal field of view, for turning a blob's size in pixels into metres
    hfov_deg: float = 50.0

    @property
    def width_px(self) -> int:
        return int(self.temperature_c.shape[1])

    @property
    def height_px(self) -> int:
        return int(self.temperature_c.shape[0])

    @property
    def max_c(self) -> float:
        return float(self.temperature_c.max())

    @property
    def median_c(self) -> float:
        """The scene's ambient: most of any scene is walls, floor and air at room temperature."""
        return float(np.median(self.temperature_c))


class ThermalCamera(Device):
    kind = "thermal_camera"

    @abstractmethod
    def read(self) -> ThermalFrame:
        """Latest radiometric frame; raises DeviceError (bounded time) when none can be had."""
