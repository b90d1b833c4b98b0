"""Camera analyses for the patrol, with OpenCV. Frames are BGR, taken while the robot stands still.

- Flames: flame-coloured pixels (orange to yellow, saturated, bright) around a near-white hot
  core, that *flicker* between frames. Colour alone would take painted yellow bay lines or a
  brown door for fire; paint has no glowing core, and people walking past painted lines make
  them "flicker" too, so both tests are needed.
- Haze: smoke veils the whole scene with grey light, so even its darkest details (skirting,
  door frames, shadows, tyres) turn light grey: the darkest percentile of the per-pixel minimum
  channel (the idea of He et al.'s dark channel prior) rises well above a clear scene's.
- Puddle: a blue-grey sky/ceiling reflection on the floor (lower part of the frame) of some size.
- Open doorway: a tall, near-black rectangle standing on the floor line (the unlit room beyond).
- Motion: `cv2.createBackgroundSubtractorMOG2` over the burst; only valid while the camera is still.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]  # x, y, w, h

FLAME_HUE = (8, 35)  # OpenCV hue 0..180: orange..yellow; pure red (signs, cars) stays below 8
FLAME_MIN_SAT, FLAME_MIN_VAL = 110, 190
FLAME_MIN_FRACTION = 0.002  # of the frame, on average over the burst
FLAME_MIN_FLICKER = 0.15  # changed flame pixels between frames / flame pixels
FLAME_CORE_MIN_VAL = 245  # the glowing core: brighter than any paint under hospital lighting
FLAME_MIN_CORE_SHARE = 0.1  # of the flame pixels
HAZE_PERCENTILE = 1.0
HAZE_MIN_DARK_LEVEL = 85.0  # clear scenes' darkest details read ~20-60, veiled by smoke ~100
PUDDLE_HUE = (95, 125)
PUDDLE_MIN_SAT, PUDDLE_VAL = 60, (110, 230)
PUDDLE_MIN_FRACTION = 0.01
DOORWAY_MAX_VAL = 50
MOTION_WARMUP_FRAMES = 3
MOTION_MIN_AREA_FRACTION = 0.006


@dataclass(frozen=True, slots=True)
class FlameResult:
    found: bool
    area_fraction: float
    flicker: float
    box: Box | None
    core_share: float = 0.0
    #: every pixel that looked like flame in some frame (left out of the motion analysis)
    mask: npt.NDArray[np.uint8] | None = None


def _largest_box(mask: npt.NDArray[np.uint8], min_area_px: float) -> tuple[Box | None, float]:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    best: Box | None = None
    best_area = 0.0
    for contour in contours:
        area = float(cv2.contourArea(contour))
        if area >= min_area_px and area > best_area:
            x, y, w, h = cv2.boundingRect(contour)
            best, best_area = (int(x), int(y), int(w), int(h)), area
    return best, best_area


def flame_mask(frame: Image) -> npt.NDArray[np.uint8]:
    hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
    lower = np.array([FLAME_HUE[0], FLAME_MIN_SAT, FLAME_MIN_VAL], dtype=np.uint8)
    upper = np.array([FLAME_HUE[1], 255, 255], dtype=np.uint8)
    return np.asarray(cv2.bitwise_or(cv2.inRange(hsv, lower, upper), flame_core_mask(frame)), dtype=np.uint8)


def flame_core_mask(frame: Image) -> npt.NDArray[np.uint8]:
    hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
    lower = np.array([15, 40, FLAME_CORE_MIN_VAL], np.uint8)
    return np.asarray(cv2.inRange(hsv, lower, np.array([40, 255, 255], np.uint8)), dtype=np.uint8)


def flames(frames: Sequence[Image]) -> FlameResult:
    if not frames:
        return FlameResult(False, 0.0, 0.0, None)
    masks = [flame_mask(f) for f in frames]
    total_px = masks[0].size
    fractions = [float(np.count_nonzero(m)) / total_px for m in masks]
    area = float(np.mean(fractions))
    changed = [np.count_nonzero(cv2.bitwise_xor(a, b)) for a, b in itertools.pairwise(masks)]
    lit = max(1.0, float(np.mean([np.count_nonzero(m) for m in masks])))
    flicker = float(np.mean(changed)) / lit if changed else 0.0
    union = np.zeros_like(masks[0])
    for m in masks:
        union = np.asarray(cv2.bitwise_or(union, m), dtype=np.uint8)
    box, _ = _largest_box(union, FLAME_MIN_FRACTION * total_px / 4)
    core = float(np.mean([np.count_nonzero(flame_core_mask(f)) for f in frames])) / lit
    found = (area >= FLAME_MIN_FRACTION and flicker >= FLAME_MIN_FLICKER and core >= FLAME_MIN_CORE_SHARE
             and box is not None)
    return FlameResult(found, round(area, 5), round(flicker, 3), box, round(core, 3), union)


def haze_level(frame: Image) -> float:
    """How light the darkest details are (0..255): high when smoke veils the scene."""
    dark = cv2.blur(frame.min(axis=2), (3, 3))
    return float(np.percentile(dark, HAZE_PERCENTILE))


def puddle(frame: Image) -> tuple[Box | None, float]:
    """The largest puddle-coloured region on the floor and its share of the frame."""
    h = frame.shape[0]
    top = int(0.62 * h)
    hsv = cv2.cvtColor(frame[top:], cv2.COLOR_BGR2HSV)
    lower = np.array([PUDDLE_HUE[0], PUDDLE_MIN_SAT, PUDDLE_VAL[0]], dtype=np.uint8)
    upper = np.array([PUDDLE_HUE[1], 255, PUDDLE_VAL[1]], dtype=np.uint8)
    mask = np.asarray(cv2.morphologyEx(cv2.inRange(hsv, lower, upper), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)),
                      dtype=np.uint8)
    box, area = _largest_box(mask, PUDDLE_MIN_FRACTION * frame.shape[0] * frame.shape[1])
    if box is None:
        return None, 0.0
    x, y, w, bh = box
    return (x, y + top, w, bh), round(area / (frame.shape[0] * frame.shape[1]), 4)


def open_doorway(frame: Image) -> Box | None:
    """A tall near-black rectangle: a door standing open onto an unlit room."""
    h = frame.shape[0]
    value = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)[..., 2]
    mask = cv2.inRange(cv2.GaussianBlur(value, (5, 5), 0), 0, DOORWAY_MAX_VAL)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    for contour in contours:
        x, y, w, bh = cv2.boundingRect(contour)
        fill = cv2.contourArea(contour) / max(1.0, float(w * bh))
        if bh >= 0.3 * h and bh >= 1.4 * w and fill >= 0.75:
            return int(x), int(y), int(w), int(bh)
    return None


def motion(frames: Sequence[Image], ignore: npt.NDArray[np.uint8] | None = None) -> tuple[Box | None, float]:
    """The largest moving region over a still burst (MOG2), and its share of the frame; pixels
    in `ignore` (flames flicker: that is not a person moving) are left out."""
    if len(frames) <= MOTION_WARMUP_FRAMES:
        return None, 0.0
    subtractor = cv2.createBackgroundSubtractorMOG2(history=len(frames), varThreshold=25, detectShadows=False)
    kernel = np.ones((5, 5), np.uint8)
    best: Box | None = None
    best_fraction = 0.0
    total_px = frames[0].shape[0] * frames[0].shape[1]
    for i, frame in enumerate(frames):
        raw = subtractor.apply(cv2.GaussianBlur(frame, (5, 5), 0))
        if i < MOTION_WARMUP_FRAMES:
            continue
        if ignore is not None:
            raw = cv2.bitwise_and(raw, cv2.bitwise_not(cv2.dilate(ignore, kernel, iterations=3)))
        opened = np.asarray(cv2.morphologyEx(raw, cv2.MORPH_OPEN, kernel), dtype=np.uint8)
        box, area = _largest_box(opened, MOTION_MIN_AREA_FRACTION * total_px)
        if box is not None and area / total_px > best_fraction:
            best, best_fraction = box, area / total_px
    return best, round(best_fraction, 4)


def annotate(frame: Image, boxes: Sequence[tuple[Box, str]]) -> Image:
    """A copy of the frame with labelled boxes, for the evidence JPEG."""
    out = frame.copy()
    for (x, y, w, h), label in boxes:
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 0, 255), 2)
        cv2.putText(out, label, (x, max(10, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 255), 1, cv2.LINE_AA)
    return out


def jpeg(frame: Image, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any 8-bit BGR image
        raise ValueError("JPEG encoding failed")
    return bytes(buf.tobytes())
