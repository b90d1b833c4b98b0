"""The wards' bedside collections, the LIS, and the lab's incidents — what happens, not who fetches.

At each collection round (`collection_interval_h` from `first_collection_min`), the nurses at each
station draw a few samples for patients of their ward (serum chemistry panels, EDTA blood counts)
and place their orders in the LIS; the tubes wait at the station until a lab robot is handed them
(the simulated tube handler takes them from `LabSite.pending`). Seeded incidents: one critical value
(K 6.8 mmol/L by default) on the first potassium order, a calibration drift that makes a batch's QC
fail, a smudged label and a tube with no order on the first round, an optional fridge excursion.
Lab staff, at each round while no run is on the robot's bench, clear what the manual racks hold
(rejected and held tubes, anything a failed run left on the centrifuge or the analyzers) and put the
control materials back. A critical value phoned through is treated: the patient's later samples are
back in range.

Who fetches the tubes and when a batch runs is the fleet's (`fleet/demand/lab_pickups.py`); it reads
the LIS through `information()["lab_orders"]` (`waiting_at`, `order`, `controls`).

The random stream and the order of draws are those of the old `sim/workloads/lab.py`, so a seed
draws the same tubes for the same patients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic

from fleet.demand._common import Strict
from fleet.demand.daily import HHMM, minute_of_day, next_daily_s
from missions.events import MissionEvent
from missions.lab.reference import Specimen
from sim.hospital import HospitalContext, HospitalError, parse_settings
from sim.lab_samples import (
    CHEMISTRY_PANELS,
    HAEMATOLOGY_PANEL,
    CalibrationShift,
    FridgeExcursion,
    Handover,
    LabSite,
    control_params,
    lab_site,
)

PART = "lab"
_OPENS = ("mission.queued", "mission.started", "mission.resumed")
_ENDS = ("mission.succeeded", "mission.failed", "mission.cancelled")


class CriticalSetting(Strict):
    test: str = "K"
    value: float = 6.8


class QcFailureSetting(Strict):
    at: str = pydantic.Field("11:00", pattern=HHMM)
    duration_min: float = pydantic.Field(60.0, gt=0)
    analyzer: str = "chem"
    test: str = "K"
    relative_bias: float = 0.15  # +15 %: K control 1 at about +6 SD, a clear 1-3s and 2-2s


class FridgeSetting(Strict):
    at: str = pydantic.Field(pattern=HHMM)
    duration_min: float = pydantic.Field(30.0, gt=0)
    temperature_c: float = 11.0


class LabHospitalSettings(Strict):
    #: where nurses draw (default: every nurse station of the world)
    stations: list[str] | None = None
    collection_interval_h: float = pydantic.Field(2.0, gt=0)
    first_collection_min: float = pydantic.Field(10.0, ge=0)
    samples_per_station: int = pydantic.Field(3, ge=1, le=12)
    haematology_fraction: float = pydantic.Field(0.3, ge=0, le=1)
    critical: CriticalSetting | None = CriticalSetting()
    qc_failure: QcFailureSetting | None = QcFailureSetting()
    fridge_excursion: FridgeSetting | None = None
    damaged_labels: int = pydantic.Field(1, ge=0)
    orphan_tubes: int = pydantic.Field(1, ge=0)
    #: the lab robot whose analyzers and fridge the incidents hit (default: the first in the scenario)
    robot: str | None = None


@dataclass(frozen=True, slots=True)
class LisOrder:
    """A test order as the LIS holds it (`fleet.demand.lab_pickups.LabOrder`)."""

    sample_id: str
    patient_ref: str
    specimen: str
    tests: tuple[str, ...]
    priority: str
    collected_s: float


class Lis:
    """The LIS as the fleet's lab source reads it."""

    def __init__(self, part: LabHospital) -> None:
        self._part = part

    def waiting_at(self, station: str) -> Sequence[LisOrder]:
        orders = self._part.orders
        return [orders[str(t.sample_id)] for h in self._part.site.pending.get(station, []) for t in h.tubes
                if t.sample_id is not None and str(t.sample_id) in orders]

    def order(self, sample_id: str) -> LisOrder | None:
        return self._part.orders.get(sample_id)

    def controls(self) -> Sequence[Mapping[str, Any]]:
        return control_params()


def build(ctx: HospitalContext, settings: Mapping[str, Any]) -> LabHospital:
    config = parse_settings(LabHospitalSettings, PART, settings)
    stations = config.stations or sorted(p.name for p in ctx.world.places.values() if p.kind == "nurse_station")
    for i, station in enumerate(stations):
        if station not in ctx.world.places:
            raise HospitalError(f"hospital.{PART}.stations[{i}]: no place {station!r} in the world")
    robots = [r.id for r in ctx.robots if r.kind == "lab"]
    if not robots:
        raise HospitalError(f"hospital.{PART}: no lab robot in the scenario (the lab's racks are a robot's)")
    if config.robot is not None and config.robot not in robots:
        raise HospitalError(f"hospital.{PART}.robot: {config.robot!r} is not a lab robot of the scenario "
                            f"({', '.join(robots)})")
    return LabHospital(ctx, config, stations, robots)


@dataclass
class LabStats:
    rounds: int = 0
    samples_drawn: int = 0
    orders_placed: int = 0
    orphan_tubes: int = 0
    damaged_labels: int = 0
    critical_alerts: list[str] = field(default_factory=list)
    treated: int = 0


class LabHospital:
    def __init__(self, ctx: HospitalContext, config: LabHospitalSettings, stations: list[str],
                 robots: list[str]) -> None:
        self.ctx = ctx
        self.config = config
        self.stations = stations
        self.robots = robots
        self.incident_robot = config.robot or robots[0]
        self.site: LabSite = lab_site(ctx.env)
        self._rng = ctx.rng("lab")  # the old workload's stream: the same seed draws the same tubes
        self._next_round_s = ctx.start_s + config.first_collection_min * 60.0
        #: every order placed today, by sample id (the LIS never forgets one)
        self.orders: dict[str, LisOrder] = {}
        #: robot -> its lab_run missions queued or running (lab staff leave that bench alone)
        self._runs_on: dict[str, set[str]] = {r: set() for r in robots}
        self._critical_left = config.critical is not None
        self._damaged_left = config.damaged_labels
        self._orphans_left = config.orphan_tubes
        self.stats = LabStats()
        self._seed_incidents()

    def _seed_incidents(self) -> None:
        qc = self.config.qc_failure
        if qc is not None:
            from_s = next_daily_s(self.ctx.start_s, minute_of_day(qc.at))
            self.site.shifts.append(CalibrationShift(self.incident_robot, qc.analyzer, qc.test, qc.relative_bias,
                                                     from_s, from_s + qc.duration_min * 60.0))
        fridge = self.config.fridge_excursion
        if fridge is not None:
            from_s = next_daily_s(self.ctx.start_s, minute_of_day(fridge.at))
            self.site.excursions.append(FridgeExcursion(self.incident_robot, fridge.temperature_c, from_s,
                                                        from_s + fridge.duration_min * 60.0))

    # ---- the day -------------------------------------------------------------------------------

    def step(self, now_s: float) -> None:
        if now_s >= self._next_round_s and now_s < self.ctx.end_s:
            self._next_round_s += self.config.collection_interval_h * 3600.0
            self.stats.rounds += 1
            for robot_id in self.robots:
                self._clear_manual_racks(robot_id)
            for station in self.stations:
                self._collect(station, now_s)

    def _collect(self, station: str, now_s: float) -> None:
        """The nurses' bedside collection at this station since the last round."""
        world = self.ctx.world
        ward = world.place(station).zone
        beds = list(world.beds(ward)) if ward in world.wards() else world.beds()
        # an empty bed (a discharge: the HIS feed) has nobody to draw from; all full, the draws are as before
        beds = [b for b in beds if self.ctx.census.occupant(str(b.bed_id)) is not None]
        picks = self._rng.choice(len(beds), size=min(self.config.samples_per_station, len(beds)), replace=False)
        tubes, orders = [], []
        for index in sorted(int(i) for i in picks):
            patient = self.ctx.census.patient_at_bed(str(beds[index].bed_id)).patient_ref
            haem = bool(self._rng.random() < self.config.haematology_fraction)
            tests = HAEMATOLOGY_PANEL if haem else CHEMISTRY_PANELS[int(self._rng.integers(len(CHEMISTRY_PANELS)))]
            specimen = Specimen.WHOLE_BLOOD if haem else Specimen.SERUM
            damaged = self._damaged_left > 0
            self._damaged_left -= int(damaged)
            self.stats.damaged_labels += int(damaged)
            critical = self.config.critical
            if self._critical_left and critical is not None and not damaged:
                # the day's seeded critical value: the first readable tube gets a panel with that test
                panels = [p for p in (*CHEMISTRY_PANELS, HAEMATOLOGY_PANEL) if critical.test in p]
                if panels:
                    tests = panels[0]
                    specimen = Specimen.WHOLE_BLOOD if tests is HAEMATOLOGY_PANEL else Specimen.SERUM
                    self.site.seed_value(patient, critical.test, critical.value)
                    self._critical_left = False
            tube = self.site.new_tube(patient, specimen, label_damaged=damaged)
            order = LisOrder(str(tube.sample_id), patient, specimen.value, tuple(tests),
                             "S" if "TROP" in tests else "R", now_s)
            tubes.append(tube)
            orders.append({"sample_id": order.sample_id, "patient_ref": patient, "specimen": order.specimen,
                           "tests": list(order.tests), "priority": order.priority})
            self.orders[order.sample_id] = order
        if self._orphans_left > 0 and beds:  # drawn, labelled, but its order was never placed
            self._orphans_left -= 1
            self.stats.orphan_tubes += 1
            patient = self.ctx.census.patient_at_bed(str(beds[0].bed_id)).patient_ref
            tubes.append(self.site.new_tube(patient, Specimen.SERUM))
        self.stats.samples_drawn += len(tubes)
        self.stats.orders_placed += len(orders)
        self.site.pending.setdefault(station, []).append(Handover(station, tubes, orders))

    def _clear_manual_racks(self, robot_id: str) -> None:
        """Lab staff's manual handling at each round, while no run is on this robot's bench: the
        rejected and held tubes and whatever a failed run left on the centrifuge and the analyzers
        are taken; the control materials and the balance tube go back."""
        if self._runs_on[robot_id]:
            return
        cell = self.site.cell(robot_id)
        for area in cell.areas:
            if area not in ("input", "carrier", "waste"):
                cell.areas[area] = [None] * len(cell.areas[area])
        if cell.gripper is not None and cell.gripper[0].split(":")[0] not in ("input", "carrier"):
            cell.gripper = None
        self.site.stock_controls(robot_id)

    def on_event(self, event: MissionEvent) -> None:
        if event.robot_id not in self._runs_on:
            return
        if event.kind == "alert" and event.data.get("category") == "lab.critical":
            alert_id = str(event.data.get("alert_id"))
            if alert_id not in self.stats.critical_alerts:
                self.stats.critical_alerts.append(alert_id)
                # phoned through and treated: the patient's next samples are back in range (the
                # alert names the sample, never the patient: the LIS knows whose it is)
                order = self.orders.get(str(event.data.get("sample_id")))
                if order is not None and self.site.overrides.pop((order.patient_ref, str(event.data.get("test_code"))),
                                                                 None) is not None:
                    self.stats.treated += 1
        if event.mission_kind == "lab_run":
            runs = self._runs_on[event.robot_id]
            if event.kind in _OPENS:
                runs.add(event.mission_id)
            elif event.kind in _ENDS:
                runs.discard(event.mission_id)

    def information(self) -> dict[str, Any]:
        return {"lab_orders": Lis(self)}

    def summary(self) -> dict[str, Any]:
        s = self.stats
        return {"stations": list(self.stations), "rounds": s.rounds, "samples_drawn": s.samples_drawn,
                "orders_placed": s.orders_placed, "orphan_tubes": s.orphan_tubes, "damaged_labels": s.damaged_labels,
                "critical_alerts": len(s.critical_alerts), "criticals_treated": s.treated,
                "tubes_waiting": sum(len(h.tubes) for hs in self.site.pending.values() for h in hs)}
