"""Procedures, their technique factors, and the retake/dose policy (ALARA).

The chart gives each X-ray procedure a kV and backup mAs/time for automatic exposure control
(AEC ends the exposure once the detector has enough signal, so the patient's size sets the dose
actually given); `expected_dap_mgy_cm2` is the typical delivered dose-area product, used to decide
whether one more exposure still fits under the exam's dose limit. Published reject rates are
7-10 %, so two retakes and a limit of 2.5 × the expected dose cover honest repeats, not habits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hal.imaging import TechniqueFactors

Modality = Literal["DX", "US"]  # DICOM modality codes: digital radiography, ultrasound


@dataclass(frozen=True, slots=True)
class Procedure:
    code: str
    description: str
    modality: Modality
    room: str  # the place of the room that performs it
    region: str
    technique: TechniqueFactors | None = None  # X-ray only
    expected_dap_mgy_cm2: float = 0.0
    scan_duration_s: float = 0.0  # ultrasound only
    max_contact_force_n: float = 15.0


def _xr(code: str, description: str, region: str, kv: float, mas: float, ms: float, dap: float) -> Procedure:
    return Procedure(code, description, "DX", "radiology-xray", region, TechniqueFactors(kv, mas, ms), dap)


def _us(code: str, description: str, region: str, scan_s: float, force_n: float) -> Procedure:
    return Procedure(code, description, "US", "radiology-ultrasound", region, scan_duration_s=scan_s,
                     max_contact_force_n=force_n)


PROCEDURES: dict[str, Procedure] = {
    p.code: p
    for p in (
        _xr("XR-CHEST-PA", "Chest PA", "chest", 120, 5.0, 25, 135),
        _xr("XR-ABDOMEN-AP", "Abdomen AP", "abdomen", 80, 12.0, 200, 150),
        _xr("XR-LSPINE-LAT", "Lumbar spine lateral", "lumbar spine", 90, 10.0, 1000, 135),
        _xr("XR-PELVIS-AP", "Pelvis AP", "pelvis", 80, 12.0, 160, 150),
        _xr("XR-KNEE-AP", "Knee AP", "knee", 65, 10.0, 100, 140),
        _us("US-ABDOMEN", "Abdominal ultrasound", "abdomen", 240, 20.0),
        _us("US-THYROID", "Thyroid ultrasound", "thyroid", 120, 10.0),
    )
}

DEFAULT_MAX_RETAKES = 2
DOSE_LIMIT_FACTOR = 2.5


def procedure(code: str) -> Procedure:
    if code not in PROCEDURES:
        raise KeyError(f"unknown procedure {code!r} (known: {', '.join(sorted(PROCEDURES))})")
    return PROCEDURES[code]


def default_dose_limit_mgy_cm2(proc: Procedure) -> float:
    return round(proc.expected_dap_mgy_cm2 * DOSE_LIMIT_FACTOR, 1)


@dataclass(frozen=True, slots=True)
class RetakeDecision:
    allowed: bool
    reason: str


def retake_decision(
    *, retakes_done: int, max_retakes: int, dose_so_far_mgy_cm2: float, expected_mgy_cm2: float,
    dose_limit_mgy_cm2: float,
) -> RetakeDecision:
    """Whether one more exposure is allowed; every refusal names the limit it would break."""
    if retakes_done >= max_retakes:
        return RetakeDecision(False, f"retake limit reached ({retakes_done} of {max_retakes})")
    if dose_so_far_mgy_cm2 + expected_mgy_cm2 > dose_limit_mgy_cm2:
        return RetakeDecision(
            False,
            f"dose limit reached: {dose_so_far_mgy_cm2:.0f} mGy·cm² given, one more exposure (~{expected_mgy_cm2:.0f})"
            f" would exceed the exam's limit of {dose_limit_mgy_cm2:.0f} mGy·cm²",
        )
    return RetakeDecision(True, "")
