"""X-ray modality: generator + detector with technique factors and a hold-to-expose exposure.

The exposure is a deadman-type control (DOMAIN.md §6): `start_exposure()` begins holding, each
`poll()` of the returned handle is the hold being kept, and the exposure ends at once when the
holder calls `release()`/`cancel()`, when the `permit` it was given refuses (an interlock broke),
or when no poll came within the generator's deadman period (the holder died). A released exposure
FAILS with the reason; its dose so far stays in `feedback`.
"""

from __future__ import annotations

import enum
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hal.device import Device
from hal.handle import Handle

#: None when exposure may go on, else the reason it must end (checked on every poll)
Permit = Callable[[], str | None]


@dataclass(frozen=True, slots=True)
class TechniqueFactors:
    tube_voltage_kv: float
    current_time_product_mas: float
    exposure_time_ms: float
    source_image_distance_cm: float = 110.0

    def __post_init__(self) -> None:
        if not 40 <= self.tube_voltage_kv <= 150:
            raise ValueError(f"tube_voltage_kv {self.tube_voltage_kv} outside 40-150 kV")
        if not 0.1 <= self.current_time_product_mas <= 500:
            raise ValueError(f"current_time_product_mas {self.current_time_product_mas} outside 0.1-500 mAs")
        if not 1 <= self.exposure_time_ms <= 5000:
            raise ValueError(f"exposure_time_ms {self.exposure_time_ms} outside 1-5000 ms")

    def as_dict(self) -> dict[str, Any]:
        return {"tube_voltage_kv": self.tube_voltage_kv, "current_time_product_mas": self.current_time_product_mas,
                "exposure_time_ms": self.exposure_time_ms, "source_image_distance_cm": self.source_image_distance_cm}


class ExposurePhase(enum.StrEnum):
    PREP = "prep"  # anode spinning up, no X-rays yet
    EXPOSING = "exposing"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class ExposureFeedback:
    phase: ExposurePhase
    dap_mgy_cm2: float  # dose-area product delivered so far
    exposed_ms: float


@dataclass(frozen=True, slots=True, eq=False)
class Radiograph:
    image_gray: npt.NDArray[np.uint8]
    accession_number: str
    stamp_s: float


@dataclass(frozen=True, slots=True, eq=False)
class ExposureResult:
    dap_mgy_cm2: float
    exposed_ms: float
    image: Radiograph


@dataclass(frozen=True, slots=True)
class GeneratorStatus:
    exposing: bool  # X-rays on right now
    holding: bool  # a hold-to-expose sequence is in progress (prep or exposing)
    locked_out: str | None  # why exposure is refused until maintenance clears it (failed self-test)
    total_dap_mgy_cm2: float
    exposures: int
    stamp_s: float


@dataclass(frozen=True, slots=True)
class SelfTestResult:
    passed: bool
    checks: tuple[tuple[str, bool], ...]  # (check name, passed)
    reason: str  # empty when passed
    stamp_s: float


class ExposureHandle(Handle[ExposureResult, ExposureFeedback]):
    @abstractmethod
    def release(self, reason: str) -> None:
        """Let go of the hold-to-expose control: X-rays off now, the handle FAILS with `reason`."""

    def cancel(self) -> None:
        self.release("hold-to-expose released")


class XRayGenerator(Device):
    kind = "xray"

    @property
    @abstractmethod
    def room(self) -> str:
        """The place name of the X-ray room."""

    @abstractmethod
    def start_exposure(self, technique: TechniqueFactors, *, accession_number: str, permit: Permit) -> ExposureHandle:
        """Begin a hold-to-expose sequence; raises `DeviceError` when locked out or faulted."""

    @abstractmethod
    def status(self) -> GeneratorStatus: ...

    @abstractmethod
    def start_self_test(self) -> Handle[SelfTestResult, str]:
        """Tube, detector and interlock-chain checks; a failed test locks exposure out."""

    @abstractmethod
    def clear_lockout(self, by: str) -> None:
        """Maintenance only: exposure allowed again after a repair."""
