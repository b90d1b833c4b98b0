"""Synthetic camera frames: a patient's wristband on bed linen, and a plain corridor.

The wristband carries a QR code rendered by OpenCV's own encoder; the frame is then warped,
blurred and made noisy the way a real bedside camera would see it, so the real decoder in
`hal.drivers.opencv_tags` is what the simulator exercises. An occluded frame hides most of the
code (a fold of the sheet over the wrist), which no decoder can recover.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

from sim.camera_noise import camera_effects

Image = npt.NDArray[np.uint8]

_LINEN_BGR = (226, 222, 214)  # hospital sheet, slightly blue-white
_BAND_BGR = (250, 250, 250)


@lru_cache(maxsize=4096)  # a wristband or label carries the same code every time it is seen
def encode_qr(payload: str) -> Image:
    encoder = cv2.QRCodeEncoder.create() if hasattr(cv2.QRCodeEncoder, "create") else cv2.QRCodeEncoder()
    code = np.asarray(encoder.encode(payload), dtype=np.uint8)  # includes a 4-module quiet zone
    code.flags.writeable = False  # shared by every frame that shows this code
    return code


def _linen(rng: np.random.Generator, width_px: int, height_px: int) -> Image:
    """Bed linen: flat colour with soft folds (low-frequency shading)."""
    # Shading is smooth, so compute it (and the colour) at 1/8 resolution and scale it up.
    small_h, small_w = max(2, height_px // 8), max(2, width_px // 8)
    yy, xx = np.mgrid[0:small_h, 0:small_w].astype(np.float32) * 8.0
    shading = np.zeros((small_h, small_w), dtype=np.float32)
    for _ in range(3):
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(80, 260)
        phase = rng.uniform(0, 2 * np.pi)
        shading += 9.0 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period + phase)
    small = np.clip(shading[..., None] + np.array(_LINEN_BGR, dtype=np.float32), 0, 255).astype(np.uint8)
    return np.asarray(cv2.resize(small, (width_px, height_px), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


def _band_image(payload: str, rng: np.random.Generator, occluded: bool) -> Image:
    """A flat wristband strip: printed 'text' on the left, the QR code on the right."""
    code = encode_qr(payload)
    module_px = int(rng.integers(5, 7))
    qr = cv2.resize(code, None, fx=module_px, fy=module_px, interpolation=cv2.INTER_NEAREST)
    side = qr.shape[0]
    band_h = side + 16
    band_w = side + int(rng.integers(170, 230))
    band = np.empty((band_h, band_w, 3), dtype=np.uint8)
    band[:] = _BAND_BGR
    # Printed name/ward lines: dark blocks standing in for text.
    for line in range(4):
        y = 18 + line * (band_h - 30) // 4
        x = 14
        while x < band_w - side - 30:
            w = int(rng.integers(6, 22))
            cv2.rectangle(band, (x, y), (x + w, y + 9), (40, 40, 40), -1)
            x += w + int(rng.integers(4, 9))
    qx, qy = band_w - side - 8, 8
    band[qy : qy + side, qx : qx + side] = cv2.cvtColor(qr, cv2.COLOR_GRAY2BGR)
    if occluded:
        # A fold of sheet over the wrist: covers the top 60 % of the code (two finder patterns).
        cover_h = int(side * 0.6) + 4
        band[: cover_h + qy, qx - 10 :] = _LINEN_BGR
    return band


def render_wristband_frame(
    payload: str,
    rng: np.random.Generator,
    *,
    width_px: int = 640,
    height_px: int = 480,
    blur_sigma_px: float = 1.0,
    noise_sigma: float = 4.0,
    occluded: bool = False,
) -> Image:
    """A BGR camera view of a wristband carrying `payload` as a QR code."""
    frame = _linen(rng, width_px, height_px)
    band = _band_image(payload, rng, occluded)
    bh, bw = band.shape[:2]
    # Place the band with a slight rotation and perspective, near the frame centre.
    angle = rng.uniform(-0.2, 0.2)
    cx = width_px / 2 + rng.uniform(-0.12, 0.12) * width_px
    cy = height_px / 2 + rng.uniform(-0.12, 0.12) * height_px
    scale = min(1.0, 0.9 * width_px / bw, 0.9 * height_px / bh)
    half = np.array([[-bw / 2, -bh / 2], [bw / 2, -bh / 2], [bw / 2, bh / 2], [-bw / 2, bh / 2]])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = (half * scale) @ rot.T + [cx, cy]
    dst += rng.uniform(-0.03, 0.03, size=(4, 2)) * [bw * scale, bh * scale]  # perspective
    src = np.array([[0, 0], [bw, 0], [bw, bh], [0, bh]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    # the band is drawn over the linen (pixels outside it keep the linen: a transparent border)
    cv2.warpPerspective(band, matrix, (width_px, height_px), dst=frame, flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_TRANSPARENT)
    return camera_effects(frame, rng, blur_sigma_px, noise_sigma)


def render_corridor_frame(
    rng: np.random.Generator,
    *,
    width_px: int = 640,
    height_px: int = 480,
    blur_sigma_px: float = 1.0,
    noise_sigma: float = 4.0,
) -> Image:
    """A plain view with no code in it: floor, wall and a door frame."""
    frame = np.empty((height_px, width_px, 3), dtype=np.uint8)
    horizon = int(height_px * rng.uniform(0.45, 0.6))
    frame[:horizon] = (200, 205, 210)  # wall
    frame[horizon:] = (150, 160, 165)  # floor
    door_x = int(rng.integers(0, max(1, width_px - 120)))
    frame[int(horizon * 0.2) : horizon, door_x : door_x + 110] = (120, 150, 170)
    return camera_effects(frame, rng, blur_sigma_px, noise_sigma)
