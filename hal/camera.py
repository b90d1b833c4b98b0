"""Camera delivering BGR frames (OpenCV's convention)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hal.device import Device


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    image_bgr: npt.NDArray[np.uint8]  # H x W x 3
    stamp_s: float
    frame_id: str = "camera"

    @property
    def width_px(self) -> int:
        return int(self.image_bgr.shape[1])

    @property
    def height_px(self) -> int:
        return int(self.image_bgr.shape[0])


class Camera(Device):
    kind = "camera"

    @abstractmethod
    def read(self) -> Frame:
        """Latest frame; raises DeviceError (bounded time) when none can be had."""
