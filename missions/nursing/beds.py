"""The bed a nursing mission visits, as its params name it: one model for every bedside mission
(nursing round, nursing inquiry, meals), each adding its own per-bed fields by subclassing."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

BED_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"
PATIENT_REF_PATTERN = r"^pt-[0-9a-f]{6,32}$"


class BedVisit(BaseModel):
    """Which bed, where it is, and who should be in it (a pseudonymous reference, never a name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bed_id: str = Field(min_length=1, max_length=64, pattern=BED_ID_PATTERN)
    place: str = Field(min_length=1, max_length=128)
    patient_ref: str = Field(pattern=PATIENT_REF_PATTERN, description="pseudonymous, never a name")
