"""Radiometric analyses: a hot spot over the scene's ambient, and how far away a person stands.

Electrical thermography judges a component by its rise over ambient (NETA's maintenance tables:
ΔT over 40 °C is a major deficiency, 20-40 °C wants repair soon). A spot must also be hot in
absolute terms, so that a car bonnet on a cold night or a person is never taken for a fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from hal.thermal_camera import ThermalFrame

HOT_SPOT_MIN_RISE_C = 20.0
HOT_SPOT_MIN_C = 45.0
HOT_SPOT_MAJOR_RISE_C = 40.0
HOT_SPOT_MIN_PIXELS = 4
FIRE_MIN_C = 150.0
PERSON_BAND_C = (27.0, 38.0)
PERSON_HEIGHT_M = 1.7


@dataclass(frozen=True, slots=True)
class HotSpot:
    peak_c: float
    ambient_c: float
    box: tuple[int, int, int, int]  # x, y, w, h in thermal pixels

    @property
    def rise_c(self) -> float:
        return self.peak_c - self.ambient_c


def hot_spot(frame: ThermalFrame) -> HotSpot | None:
    temps = frame.temperature_c
    ambient = frame.median_c
    threshold = max(ambient + HOT_SPOT_MIN_RISE_C, HOT_SPOT_MIN_C)
    mask = (temps >= threshold).astype(np.uint8)
    if int(mask.sum()) < HOT_SPOT_MIN_PIXELS:
        return None
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contour = max(contours, key=cv2.contourArea)
    x, y, w, h = cv2.boundingRect(contour)
    peak = float(temps[y : y + h, x : x + w].max())
    return HotSpot(round(peak, 1), round(ambient, 1), (int(x), int(y), int(w), int(h)))


def person_distance_m(frame: ThermalFrame) -> float | None:
    """Distance to the tallest person-warm figure, from its height in pixels (pinhole camera)."""
    lo, hi = PERSON_BAND_C
    mask = ((frame.temperature_c >= lo) & (frame.temperature_c <= hi)).astype(np.uint8)
    mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)), dtype=np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    tallest = 0
    for contour in contours:
        _, _, w, h = cv2.boundingRect(contour)
        if h >= 3 and h >= w:  # upright
            tallest = max(tallest, int(h))
    if tallest == 0:
        return None
    focal_px = (frame.width_px / 2) / math.tan(math.radians(frame.hfov_deg) / 2)
    return round(focal_px * PERSON_HEIGHT_M / tallest, 2)


def false_colour(frame: ThermalFrame, size: tuple[int, int] = (320, 240)) -> npt.NDArray[np.uint8]:
    """An inferno-coloured image of the frame (ambient-5 °C .. ambient+60 °C), for evidence."""
    lo = frame.median_c - 5.0
    scaled = np.clip((frame.temperature_c - lo) * (255.0 / 65.0), 0, 255).astype(np.uint8)
    coloured = cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO)
    return np.asarray(cv2.resize(coloured, size, interpolation=cv2.INTER_NEAREST), dtype=np.uint8)
