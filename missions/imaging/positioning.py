"""Patient positioning from the room's ceiling camera: find the gown marker, measure its offset
from the detector centre (the frame centre, by calibration), and phrase the correction."""

from __future__ import annotations

import cv2
import numpy as np

from hal.camera import Frame

#: the orange disc printed on the gown, in OpenCV HSV (hue 0-180)
_MARKER_LOW = np.array([5, 150, 150], dtype=np.uint8)
_MARKER_HIGH = np.array([25, 255, 255], dtype=np.uint8)
MIN_MARKER_PX = 20


def measure_offset_mm(frame: Frame, mm_per_px: float) -> tuple[float, float] | None:
    """(x towards the patient's left, y towards the head) in mm, or None when no marker is seen."""
    hsv = cv2.cvtColor(frame.image_bgr, cv2.COLOR_BGR2HSV)
    mask = cv2.inRange(hsv, _MARKER_LOW, _MARKER_HIGH)
    moments = cv2.moments(mask, binaryImage=True)
    if moments["m00"] < MIN_MARKER_PX:
        return None
    cx, cy = moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]
    return ((cx - frame.width_px / 2) * mm_per_px, -(cy - frame.height_px / 2) * mm_per_px)


def instruction_for(offset_mm: tuple[float, float], tolerance_mm: float) -> str | None:
    """The spoken correction for the larger out-of-tolerance axis, or None when within tolerance."""
    dx, dy = offset_mm
    if abs(dx) <= tolerance_mm and abs(dy) <= tolerance_mm:
        return None
    if abs(dx) >= abs(dy):
        cm = max(1, round(abs(dx) / 10))
        return f"Please move {cm} centimetres to your {'right' if dx > 0 else 'left'}."
    cm = max(1, round(abs(dy) / 10))
    return f"Please move {cm} centimetres towards your {'feet' if dy > 0 else 'head'}."
