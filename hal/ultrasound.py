"""Ultrasound probe on a robot arm: a scan is a long operation with a contact-force limit.

No ionising dose, so no X-ray interlocks; the arm retracts the probe at once when the contact
force passes the scan's limit, and the handle fails with the force in its reason.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hal.device import Device
from hal.handle import Handle


@dataclass(frozen=True, slots=True)
class ScanRequest:
    region: str  # "abdomen", "thyroid", ...
    duration_s: float
    max_contact_force_n: float

    def __post_init__(self) -> None:
        if self.duration_s <= 0 or not 0 < self.max_contact_force_n <= 30:
            raise ValueError("a scan needs duration_s > 0 and 0 < max_contact_force_n <= 30")


@dataclass(frozen=True, slots=True)
class ScanFeedback:
    contact_force_n: float
    elapsed_s: float


@dataclass(frozen=True, slots=True, eq=False)
class ScanResult:
    region: str
    frames_captured: int
    peak_contact_force_n: float
    image_gray: npt.NDArray[np.uint8]  # the last (representative) frame
    stamp_s: float


class UltrasoundProbeArm(Device):
    kind = "ultrasound"

    @property
    @abstractmethod
    def room(self) -> str:
        """The place name of the ultrasound room the arm is installed in."""

    @abstractmethod
    def start_scan(self, request: ScanRequest) -> Handle[ScanResult, ScanFeedback]:
        """Bring the probe into contact and scan; cancel() retracts it."""

    @abstractmethod
    def retract(self) -> None:
        """Lift the probe off the patient now (idempotent)."""

    @property
    @abstractmethod
    def in_contact(self) -> bool:
        """Whether the probe is touching the patient."""
