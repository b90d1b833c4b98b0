"""The fleet's copy of the HIS census: who lies in which bed, read off the MQTT contract.

The HIS link (`medbot his`) publishes the whole census, retained, on ``medbot/v1/<site>/his/census``
(telemetry/schemas/census.json) after every ADT change it committed. The fleet's transport (the
MQTT link of `medbot fleet run`, the simulator's loopback) hands each one to the service, which
gives it to `HisCensus.on_census`; the ward chart and the care rounds read it through the narrow
`WardCensus` protocol (`fleet/demand/ward_chart.py`): ``bed(bed_id)`` → the patient's ``pt-`` ref
and the care flags of a round. The fleet never imports `his/`: it sees what any subscriber sees.

* **Whole snapshots, newest revision wins.** Each message is the whole census; one older than the
  one held (a redelivery after a reconnect, a retained copy behind a live one) changes nothing. A
  *lower* revision from a restarted HIS link whose store was replaced is still older: it is
  ignored and logged, so that a census cannot go back in time silently.
* **Not ready before the first census.** Until a census arrived, `ready` is False and the ward
  chart holds its rounds (a round of nobody would be booked as done): the retained message
  arrives right after the fleet subscribes.
* **Care flags per patient, not per bed.** The HIS census says who; what a round needs beyond the
  ref (on oxygen, the SpO2 scale, glucose and weight) is the ward's care plan: the hospital's
  ``care_plan`` information (`CarePlan.care(patient_ref)`; the simulated hospital's nursing
  part offers one). A patient the care plan does not know gets the safe defaults below, and the
  robot measures and scores as if on air, scale 1 — the nurse's own chart is the authority.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fleet.demand.ward_chart import CareFlags

log = logging.getLogger(__name__)

#: the contract's name for the HIS link's census channel and robot-id segment (telemetry.topics)
CENSUS_CHANNEL = "census"


class CarePlan(Protocol):
    def care(self, patient_ref: str) -> CareFlags | None:
        """The patient's care flags, or None for a patient the care plan does not know."""
        ...


@dataclass(frozen=True, slots=True)
class CensusBed:
    """One occupied bed (satisfies `fleet.demand.ward_chart.BedCensus`)."""

    bed_id: str
    ward: str | None
    patient_ref: str
    on_oxygen: bool = False
    spo2_scale: int = 1
    measure_glucose: bool = False
    measure_weight: bool = False


class HisCensus:
    """`fleet.demand.ward_chart.WardCensus` over the HIS link's census topic."""

    def __init__(self, care_plan: CarePlan | None = None) -> None:
        self.care_plan = care_plan
        self.revision: int | None = None
        self.received = 0  # census messages taken (a newer revision)
        self.ignored = 0  # older or equal revisions
        self._beds: dict[str, tuple[str | None, str]] = {}  # bed -> (ward, patient_ref)

    @property
    def ready(self) -> bool:
        return self.revision is not None

    def on_census(self, body: Mapping[str, Any], stamp_s: float) -> bool:
        """Take one census body (already checked against the contract); True if it was newer."""
        revision = int(body["revision"])
        if self.revision is not None and revision <= self.revision:
            self.ignored += 1
            if revision < self.revision:
                log.warning("fleet census: revision %d after %d ignored (older)", revision, self.revision)
            return False
        self._beds = {str(b["bed_id"]): (None if b.get("ward") is None else str(b["ward"]), str(b["patient_ref"]))
                      for b in body["beds"]}
        self.revision = revision
        self.received += 1
        return True

    def bed(self, bed_id: str) -> CensusBed | None:
        entry = self._beds.get(bed_id)
        if entry is None:
            return None
        ward, ref = entry
        flags = self.care_plan.care(ref) if self.care_plan is not None else None
        if flags is None:
            return CensusBed(bed_id, ward, ref)
        return CensusBed(bed_id, ward, ref, bool(flags.on_oxygen), int(flags.spo2_scale), bool(flags.measure_glucose),
                         bool(flags.measure_weight))

    def beds(self) -> dict[str, str]:
        """bed id -> patient ref, every occupied bed (for figures and tests)."""
        return {b: ref for b, (_, ref) in sorted(self._beds.items())}

    def summary(self) -> dict[str, Any]:
        return {"revision": self.revision, "beds_occupied": len(self._beds), "received": self.received,
                "ignored": self.ignored}


def with_census(hospital: Mapping[str, Any], census: HisCensus) -> dict[str, Any]:
    """The hospital information the demand sources get: the deployment's own, plus the HIS census
    as ``ward_census`` unless the deployment brings its own (the simulator without its HIS feed);
    the census takes its care flags from the deployment's ``care_plan`` if there is one."""
    info = dict(hospital)
    if census.care_plan is None and info.get("care_plan") is not None:
        census.care_plan = info["care_plan"]
    info.setdefault("ward_census", census)
    return info
