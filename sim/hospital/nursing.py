"""The wards' information systems in the simulated hospital: the census, the drug chart, the diets.

What the fleet's ward sources read (`fleet/demand/ward_chart.py`, `fleet/demand/care_rounds.py`)
and a real site's `his/` offers from ADT, the eMAR and the catering system. This part decides
nothing — which bed is visited when, and by whom, is the fleet's — it only says what the ward's
systems say, from the seeded `PatientCensus` and `NursingOrders`:

- ``ward_census``: per bed, who the census says lies there (a pseudonymous ref: after a wristband
  swap it is *not* who is there, which the robot must find out) and the care flags a round needs.
  The oxygen, SpO2-scale and measurement flags are those of the patient actually in the bed (what
  the bedside shows, as the old workload gave them), so a swap changes the identity check only.
- ``mar``: the doses due at a ward drug time (`NursingOrders.doses_due`).
- ``diets``: each bed's diet.
- ``care_plan``: each patient's care flags by ``pt-`` ref (`fleet.census.CarePlan`): with the HIS
  feed on, the fleet's census is the HIS link's and takes the flags from here.

The patients' vitals, answers at the terminal and hand-overs are simulated elsewhere (the census
and `sim.nursing_orders`); nothing here happens on its own, so `step` and `on_event` do nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic

from fleet.demand._common import Strict
from missions.events import MissionEvent
from sim.hospital import HospitalContext, parse_settings
from sim.nursing_orders import NursingOrders
from sim.patients import PatientCensus, PatientModel


class NursingInfoSettings(Strict):
    #: share of patients kept nil by mouth (no meal ordered or served)
    nil_by_mouth_fraction: float = pydantic.Field(0.08, ge=0, le=1)


def build(ctx: HospitalContext, settings: Mapping[str, Any]) -> NursingInformation:
    config = parse_settings(NursingInfoSettings, "nursing", settings)
    return NursingInformation(ctx.census, NursingOrders(ctx.census, ctx.seed,
                                                        nil_by_mouth_fraction=config.nil_by_mouth_fraction))


@dataclass(frozen=True, slots=True)
class BedRecord:
    """One bed as the census shows it (satisfies `fleet.demand.ward_chart.BedCensus`)."""

    patient_ref: str
    on_oxygen: bool
    spo2_scale: int
    measure_glucose: bool
    measure_weight: bool


class SimWardCensus:
    """`fleet.demand.ward_chart.WardCensus` over the simulated census."""

    def __init__(self, census: PatientCensus) -> None:
        self._census = census
        self._beds = set(census.bed_ids())

    def bed(self, bed_id: str) -> BedRecord | None:
        if bed_id not in self._beds or self._census.assigned(bed_id) is None:
            return None  # no such bed, or empty (a discharge)
        patient = self._census.occupant(bed_id) or self._census.patient_at_bed(bed_id)
        return BedRecord(self._census.expected_ref(bed_id), patient.on_oxygen, patient.spo2_scale,
                         patient.needs_glucose, patient.needs_weight)


class SimCarePlan:
    """`fleet.census.CarePlan`: each patient's care flags, by their ``pt-`` ref (the ward's care plan,
    which the fleet combines with the HIS link's census when the simulator's HIS feed is on)."""

    def __init__(self, census: PatientCensus) -> None:
        self._census = census
        self._by_ref: dict[str, PatientModel] | None = None

    def care(self, patient_ref: str) -> BedRecord | None:
        if self._by_ref is None:  # built on first use: the HIS feed renames the patients before the run
            self._by_ref = {p.patient_ref: p for p in self._census.patients()}
        patient = self._by_ref.get(patient_ref)
        if patient is None:
            return None
        return BedRecord(patient.patient_ref, patient.on_oxygen, patient.spo2_scale, patient.needs_glucose,
                         patient.needs_weight)


class SimMar:
    """`fleet.demand.care_rounds.Mar` and `Diets` over the seeded orders (unknown beds: nothing)."""

    def __init__(self, census: PatientCensus, orders: NursingOrders) -> None:
        self._beds = set(census.bed_ids())
        self._census = census
        self._orders = orders

    def doses_due(self, bed_id: str, hhmm: str, due_s: float) -> list[dict[str, Any]]:
        return self._orders.doses_due(bed_id, hhmm, due_s) if self._occupied(bed_id) else []

    def diet(self, bed_id: str) -> str | None:
        return self._orders.diet(bed_id) if self._occupied(bed_id) else None

    def _occupied(self, bed_id: str) -> bool:
        return bed_id in self._beds and self._census.assigned(bed_id) is not None


class NursingInformation:
    def __init__(self, census: PatientCensus, orders: NursingOrders) -> None:
        self._census = census
        self._orders = orders
        self._ward_census = SimWardCensus(census)
        self._mar = SimMar(census, orders)
        self._care_plan = SimCarePlan(census)

    def step(self, now_s: float) -> None:
        return

    def on_event(self, event: MissionEvent) -> None:
        return

    def information(self) -> dict[str, Any]:
        return {"ward_census": self._ward_census, "mar": self._mar, "diets": self._mar, "care_plan": self._care_plan}

    def summary(self) -> dict[str, Any]:
        beds = sorted(self._census.bed_ids())
        charted = [b for b in beds if self._census.assigned(b) is not None]  # at the end: a discharged bed is empty
        diets = Counter(self._orders.diet(b) for b in charted)
        return {
            "beds": len(beds),
            "medication_lines": sum(len(self._orders.orders(b).medication) for b in charted),
            "diets": dict(sorted(diets.items())),
        }
