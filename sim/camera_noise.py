"""Camera sensor effects for simulated frames, cheap enough to render every frame a robot asks for.

Drawing fresh Gaussian noise for each pixel of a 640×480 colour frame costs ~13 ms in NumPy, more
than everything else in a frame; the simulator renders thousands of frames a day. So the noise is
drawn once per process into a bank a little larger than a frame (from a fixed seed, so it is the
same in every run) and each frame takes a window of it at offsets drawn from the caller's seeded
generator: frames still differ from each other, a seed still reproduces every frame, and a decoder
still sees per-pixel sensor noise of the requested sigma. The noise is applied with saturating
uint8 arithmetic (add the positive part, subtract the negative part), which is what clipping to
0..255 would do, without any float or int16 copies of the frame.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]

# Offsets range over this many pixels in each direction: 64 × 64 distinct noise fields per size.
_OFFSET_RANGE_PX = 64
_BANK_SEED = 20261129
_BANK_ROWS_PER_DRAW = 32


@lru_cache(maxsize=16)
def _noise_bank(height_px: int, width_px: int, channels: int, sigma_tenths: int) -> tuple[Image, Image]:
    """(positive part, negative part) of rounded Gaussian noise, each as uint8."""
    rng = np.random.default_rng(_BANK_SEED + sigma_tenths)
    shape = (height_px + _OFFSET_RANGE_PX, width_px + _OFFSET_RANGE_PX, channels)
    positive, negative = np.empty(shape, dtype=np.uint8), np.empty(shape, dtype=np.uint8)
    # a few rows at a time: float temporaries of the whole bank would stay in the process's heap
    # (~20 MB for a colour bank) long after the bank is built
    for top in range(0, shape[0], _BANK_ROWS_PER_DRAW):
        rows = min(_BANK_ROWS_PER_DRAW, shape[0] - top)
        noise = np.rint(rng.standard_normal(size=(rows, *shape[1:]), dtype=np.float32) * (sigma_tenths / 10.0))
        np.clip(noise, 0, 255, out=positive[top:top + rows], casting="unsafe")
        np.clip(-noise, 0, 255, out=negative[top:top + rows], casting="unsafe")
    return positive, negative


def add_sensor_noise(image: Image, rng: np.random.Generator, sigma: float) -> Image:
    """`image` (uint8, 2-D or H×W×C) with Gaussian noise of `sigma` grey levels, clipped to 0..255."""
    if sigma <= 0:
        return image
    height_px, width_px = image.shape[:2]
    channels = image.shape[2] if image.ndim == 3 else 1
    positive, negative = _noise_bank(height_px, width_px, channels, max(1, round(sigma * 10)))
    dy, dx = (int(v) for v in rng.integers(0, _OFFSET_RANGE_PX, size=2))
    window = np.s_[dy:dy + height_px, dx:dx + width_px]
    pos, neg = positive[window], negative[window]
    if image.ndim == 2:
        pos, neg = pos[..., 0], neg[..., 0]
    # the windows are views with the bank's row step, which OpenCV takes as they are (no copies)
    noisy = cv2.add(image, pos)
    return np.asarray(cv2.subtract(noisy, neg), dtype=np.uint8)


def camera_effects(image: Image, rng: np.random.Generator, blur_sigma_px: float, noise_sigma: float) -> Image:
    """Lens blur, then sensor noise: what a real camera does to the scene in front of it."""
    if blur_sigma_px > 0:
        image = np.asarray(cv2.GaussianBlur(image, (0, 0), blur_sigma_px), dtype=np.uint8)
    return add_sensor_noise(image, rng, noise_sigma)
