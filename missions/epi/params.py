"""The survey mission's parameters (validated before anything is journaled or queued)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool


class EpiSurveyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_ref: str = Field(pattern=r"^case-[0-9a-f]{6,32}$", description="pseudonymous case reference")
    patient_ref: str = Field(pattern=r"^pt-[0-9a-f]{6,32}$", description="pseudonymous, never a name")
    case_reported_s: float = Field(gt=0, description="when the case was reported (epoch s): the 24 h clock")
    approach: str = Field(min_length=1, description="place in the corridor in front of the outer door")
    anteroom: str = Field(min_length=1)
    room_place: str = Field(min_length=1, description="where the robot faces the subject")
    outer_door: str = Field(min_length=1)
    inner_door: str = Field(min_length=1)
    return_to_dock: StrictBool = True
    segment_s: float = Field(default=30.0, gt=0)
    buffer_segments: int = Field(default=60, ge=1)
    question_timeout_s: float = Field(default=60.0, gt=0)
    question_attempts: int = Field(default=2, ge=1, le=5)
    max_unanswered_in_row: int = Field(default=3, ge=1)
    uv_dose_j_per_m2: float = Field(default=100.0, gt=0)
    uv_timeout_s: float = Field(default=900.0, gt=0)
    uv_clear_wait_s: float = Field(default=120.0, ge=0)
    door_timeout_s: float = Field(default=30.0, gt=0)
    door_attempts: int = Field(default=2, ge=1, le=5)
    nav_timeout_s: float = Field(default=600.0, gt=0)
    nav_attempts: int = Field(default=3, ge=1, le=10)
    retry_wait_s: float = Field(default=5.0, ge=0)
    upload_timeout_s: float = Field(default=1800.0, gt=0)
