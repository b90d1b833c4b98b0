"""The imaging exam's parameters (validated before anything is journaled or queued): the worklist
item (accession, pseudonymous patient, procedure, modality) and the exam's tuning."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from missions.imaging import policy


class ImagingExamParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accession_number: str = Field(pattern=r"^[A-Za-z0-9-]{1,16}$")
    patient_ref: str = Field(pattern=r"^pt-[0-9a-f]{6,32}$", description="pseudonymous, never a name")
    procedure_code: str
    modality: str = Field(pattern=r"^(DX|US)$")
    max_retakes: int = Field(default=policy.DEFAULT_MAX_RETAKES, ge=0, le=5)
    dose_limit_dap_mgy_cm2: float | None = Field(default=None, gt=0)
    positioning_camera: str = "positioning_cam"
    positioning_mm_per_px: float = Field(default=2.0, gt=0)
    positioning_tolerance_mm: float = Field(default=10.0, gt=0)
    positioning_attempts: int = Field(default=6, ge=1, le=20)
    settle_s: float = Field(default=3.0, ge=0)
    wristband_reads: int = Field(default=3, ge=1, le=10)
    reposition_wait_s: float = Field(default=3.0, ge=0)
    interlock_wait_s: float = Field(default=30.0, ge=0)
    exposure_timeout_s: float = Field(default=10.0, gt=0)
    self_test_timeout_s: float = Field(default=120.0, gt=0)
    nav_timeout_s: float = Field(default=600.0, gt=0)
    nav_attempts: int = Field(default=3, ge=1, le=10)

    @model_validator(mode="after")
    def _known_procedure(self) -> ImagingExamParams:
        proc = policy.procedure(self.procedure_code)  # KeyError names the known ones
        if proc.modality != self.modality:
            raise ValueError(f"procedure {self.procedure_code} is {proc.modality}, not {self.modality}")
        return self
