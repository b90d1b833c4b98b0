"""The medication round's parameters (validated before anything is journaled or queued)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from missions.nursing.bedside import BedsideTuning
from missions.nursing.mar import PatientDoses


class MedicationRoundParams(BedsideTuning):
    patients: list[PatientDoses] = Field(min_length=1, max_length=50)
    pharmacy_place: str = Field(default="pharmacy", min_length=1)
    #: who authorises each unlock at the bedside: a nurse's badge, or the patient on the terminal
    unlock_by: Literal["nurse_badge", "patient_terminal"] = "nurse_badge"
    badge_timeout_s: float = Field(default=600.0, gt=0)
    badge_attempts: int = Field(default=2, ge=1, le=5)
    confirm_timeout_s: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _beds_unique(self) -> MedicationRoundParams:
        beds = [p.bed_id for p in self.patients]
        if len(set(beds)) != len(beds):
            raise ValueError("patients: a bed_id appears twice")
        orders = [d.order_id for p in self.patients for d in p.doses]
        if len(set(orders)) != len(orders):
            raise ValueError("patients: an order_id appears twice")
        return self
