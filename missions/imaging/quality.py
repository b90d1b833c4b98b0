"""Radiograph quality with OpenCV: blur (variance of the Laplacian) and exposure (histogram).

Variance of the Laplacian is measured on a lightly smoothed image so that quantum noise, which is
high-frequency too, does not pass for sharpness. Exposure: the mean grey level must sit in the
detector's useful range and few pixels may be clipped at either end (burnt out or starved).
Thresholds suit the simulated detector's fixed processing gain; a real one is calibrated on its
phantom images the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class QualityThresholds:
    min_sharpness: float = 12.0
    min_mean: float = 70.0
    max_mean: float = 200.0
    max_clipped_fraction: float = 0.05


@dataclass(frozen=True, slots=True)
class QualityReport:
    sharpness: float  # variance of the Laplacian after a σ=1.5 px smoothing
    mean_grey: float
    clipped_low_fraction: float
    clipped_high_fraction: float
    problems: tuple[str, ...]

    @property
    def acceptable(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, float | str]:
        return {"sharpness": round(self.sharpness, 2), "mean_grey": round(self.mean_grey, 1),
                "clipped_low_fraction": round(self.clipped_low_fraction, 4),
                "clipped_high_fraction": round(self.clipped_high_fraction, 4), "problems": "; ".join(self.problems)}


def sharpness(gray: npt.NDArray[np.uint8]) -> float:
    smooth = cv2.GaussianBlur(gray, (0, 0), 1.5)
    return float(cv2.Laplacian(smooth, cv2.CV_64F).var())


def assess(gray: npt.NDArray[np.uint8], thresholds: QualityThresholds = QualityThresholds()) -> QualityReport:
    t = thresholds
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    total = float(hist.sum()) or 1.0
    low = float(hist[:3].sum()) / total
    high = float(hist[253:].sum()) / total
    mean = float(gray.mean())
    sharp = sharpness(gray)
    problems = []
    if sharp < t.min_sharpness:
        problems.append(f"motion blur (sharpness {sharp:.1f} < {t.min_sharpness:g})")
    if mean < t.min_mean or low > t.max_clipped_fraction:
        problems.append(f"underexposed (mean {mean:.0f}, {low:.1%} clipped dark)")
    if mean > t.max_mean or high > t.max_clipped_fraction:
        problems.append(f"overexposed (mean {mean:.0f}, {high:.1%} clipped bright)")
    return QualityReport(sharp, mean, low, high, tuple(problems))
