"""The medication administration record (MAR) as the robot receives it, and the five rights.

A medication round carries, per patient, the MAR lines due now. The pharmacy's dispensing record
(what it actually put in the drawer) is compared with the order at the bedside: right patient
(wristband, checked before this), right drug, right dose, right route, right time (inside the
order's window). One drawer holds one patient's doses, so a problem with any of them withholds
the drawer: a nurse sorts it out, the robot never hands out part of a drawer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hal.clock import iso_utc

Route = Literal["oral", "inhaled", "sublingual", "topical"]  # what a robot may hand over; no injections
_REF = r"^pt-[0-9a-f]{6,32}$"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"


class Dispensed(BaseModel):
    """What the pharmacy put in the drawer for one order (its label)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    drug: str = Field(min_length=1, max_length=64)
    dose_mg: float = Field(gt=0)
    route: Route


class DoseOrder(BaseModel):
    """One MAR line due on this round."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    order_id: str = Field(min_length=1, max_length=96, pattern=_ID)
    patient_ref: str = Field(pattern=_REF)
    drug: str = Field(min_length=1, max_length=64)
    dose_mg: float = Field(gt=0)
    route: Route
    due_s: float = Field(gt=0, description="when the dose is due, on the robot's clock (epoch s)")
    window_early_min: float = Field(default=60.0, ge=0, le=240)
    window_late_min: float = Field(default=60.0, ge=0, le=240)
    #: the pharmacy's label; None means dispensed exactly as ordered
    dispensed: Dispensed | None = None

    def describe(self) -> str:
        return f"{self.drug} {self.dose_mg:g} mg {self.route}"


class PatientDoses(BaseModel):
    """Everything one patient gets on this round: one drawer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    bed_id: str = Field(min_length=1, max_length=64, pattern=_ID)
    place: str = Field(min_length=1, max_length=128)
    patient_ref: str = Field(pattern=_REF)
    doses: list[DoseOrder] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _doses_for_this_patient(self) -> PatientDoses:
        for dose in self.doses:
            if dose.patient_ref != self.patient_ref:
                raise ValueError(f"dose {dose.order_id} is for another patient than bed {self.bed_id}'s")
        ids = [d.order_id for d in self.doses]
        if len(set(ids)) != len(ids):
            raise ValueError(f"bed {self.bed_id}: an order_id appears twice")
        return self


def time_problem(dose: DoseOrder, now_s: float) -> str | None:
    """Right time: inside [due - early, due + late]; else why not."""
    if now_s < dose.due_s - dose.window_early_min * 60.0:
        return f"too early for {dose.describe()} (due {iso_utc(dose.due_s)[11:16]} UTC)"
    if now_s > dose.due_s + dose.window_late_min * 60.0:
        return f"outside time window for {dose.describe()} (due {iso_utc(dose.due_s)[11:16]} UTC)"
    return None


def five_rights_problems(patient: PatientDoses, scanned_ref: str | None, now_s: float) -> list[str]:
    """Every reason this drawer must not be opened for this patient now (empty: all five hold)."""
    if scanned_ref != patient.patient_ref:
        return ["wrong patient"]
    problems: list[str] = []
    for dose in patient.doses:
        label = dose.dispensed
        if label is not None:
            if label.drug != dose.drug:
                problems.append(f"wrong drug for {dose.order_id}: {label.drug} dispensed, {dose.drug} ordered")
            if abs(label.dose_mg - dose.dose_mg) > 1e-9:
                problems.append(f"wrong dose for {dose.order_id}: {label.dose_mg:g} mg dispensed,"
                                f" {dose.dose_mg:g} mg ordered")
            if label.route != dose.route:
                problems.append(f"wrong route for {dose.order_id}: {label.route} dispensed, {dose.route} ordered")
        window = time_problem(dose, now_s)
        if window is not None:
            problems.append(window)
    return problems


def describe_doses(doses: Sequence[DoseOrder]) -> str:
    return ", ".join(d.describe() for d in doses)
