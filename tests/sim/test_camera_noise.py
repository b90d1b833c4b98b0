"""Simulated camera noise: the requested sigma, reproducible per seed, different frame to frame."""

from __future__ import annotations

import numpy as np
import pytest

from sim.camera_noise import add_sensor_noise, camera_effects


def _grey(value: int, shape: tuple[int, ...] = (480, 640, 3)) -> np.ndarray:
    return np.full(shape, value, dtype=np.uint8)


@pytest.mark.parametrize("sigma", [3.0, 4.0])
def test_noise_has_the_requested_sigma_and_no_bias(sigma: float) -> None:
    noisy = add_sensor_noise(_grey(128), np.random.default_rng(1), sigma).astype(np.float64)
    assert noisy.std() == pytest.approx(sigma, rel=0.05)
    assert noisy.mean() == pytest.approx(128.0, abs=0.1)


def test_the_same_seed_gives_the_same_frame_and_successive_frames_differ() -> None:
    first = add_sensor_noise(_grey(128), np.random.default_rng(7), 4.0)
    again = add_sensor_noise(_grey(128), np.random.default_rng(7), 4.0)
    assert np.array_equal(first, again)
    rng = np.random.default_rng(7)
    frames = [add_sensor_noise(_grey(128), rng, 4.0) for _ in range(5)]
    assert len({f.tobytes() for f in frames}) == 5


def test_noise_saturates_at_black_and_white_instead_of_wrapping() -> None:
    rng = np.random.default_rng(3)
    dark, bright = add_sensor_noise(_grey(1), rng, 4.0), add_sensor_noise(_grey(254), rng, 4.0)
    assert dark.max() < 40 and dark.min() == 0  # no 255s from wrapping below zero
    assert bright.min() > 215 and bright.max() == 255


def test_grey_frames_and_zero_sigma() -> None:
    rng = np.random.default_rng(5)
    grey = add_sensor_noise(_grey(100, (120, 160)), rng, 2.0)
    assert grey.shape == (120, 160) and grey.std() > 1.0
    clean = _grey(100)
    assert add_sensor_noise(clean, rng, 0.0) is clean


def test_camera_effects_blur_a_sharp_edge() -> None:
    frame = _grey(0, (40, 40))
    frame[:, 20:] = 255
    out = camera_effects(frame, np.random.default_rng(2), blur_sigma_px=1.5, noise_sigma=0.0)
    assert 60 < int(out[20, 20]) < 255 and 0 < int(out[20, 19]) < 200  # the edge is smeared over pixels
