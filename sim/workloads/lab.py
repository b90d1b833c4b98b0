"""Stands in for the wards' bedside collections and the LIS: what the lab robot is asked to do.

Through the day, at each pick-up round, the nurses at the served stations have drawn a few
samples (orders for patients of their ward: serum chemistry panels, EDTA blood counts); the lab
robot fetches them (`sample_pickup`), and each delivery becomes a batch (`lab_run`) with the
orders of the tubes now in its input rack and the control materials. Seeded incidents: one
critical value (K 6.8 mmol/L by default) on the first potassium order, a calibration drift that
makes one batch's QC fail, a smudged label and a tube with no order on the first round, and an
optional fridge excursion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from missions.events import MissionEvent
from missions.lab.reference import Specimen
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
from sim.scenario import RobotPlacement
from sim.workloads import WorkloadContext, WorkloadError

PICKUP_PRIORITY = 60
BATCH_PRIORITY = 50


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class CriticalSetting(_Strict):
    test: str = "K"
    value: float = 6.8


class QcFailureSetting(_Strict):
    at: str = pydantic.Field("11:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    duration_min: float = pydantic.Field(60.0, gt=0)
    analyzer: str = "chem"
    test: str = "K"
    relative_bias: float = 0.15  # +15 %: K control 1 at about +6 SD, a clear 1-3s and 2-2s


class FridgeSetting(_Strict):
    at: str = pydantic.Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    duration_min: float = pydantic.Field(30.0, gt=0)
    temperature_c: float = 11.0


class LabSettings(_Strict):
    pickup_interval_h: float = pydantic.Field(2.0, gt=0)
    first_pickup_min: float = pydantic.Field(10.0, ge=0)
    samples_per_station: int = pydantic.Field(3, ge=1, le=12)
    stations: list[str] | None = None  # default: every nurse station of the world
    haematology_fraction: float = pydantic.Field(0.3, ge=0, le=1)
    critical: CriticalSetting | None = CriticalSetting()
    qc_failure: QcFailureSetting | None = QcFailureSetting()
    fridge_excursion: FridgeSetting | None = None
    damaged_labels: int = pydantic.Field(1, ge=0)
    orphan_tubes: int = pydantic.Field(1, ge=0)


def build(ctx: WorkloadContext, robots: list[RobotPlacement], settings: Mapping[str, Any]) -> LabWorkload:
    try:
        config = LabSettings.model_validate(dict(settings))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise WorkloadError(f"workloads.lab.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if not robots:
        raise WorkloadError("workloads.lab: no lab robot in the scenario")
    stations = config.stations or sorted(p.name for p in ctx.world.places.values() if p.kind == "nurse_station")
    for station in stations:
        if station not in ctx.world.places:
            raise WorkloadError(f"workloads.lab.stations: no place {station!r} in the world")
    for robot in robots:
        if robot.serves is not None and robot.serves not in ctx.world.places:
            raise WorkloadError(f"robots[{robot.id}].serves: no place {robot.serves!r} (the lab bench)")
    return LabWorkload(ctx, robots[0], config, stations)


@dataclass
class LabStats:
    pickups: int = 0
    pickups_succeeded: int = 0
    batches: int = 0
    batches_succeeded: int = 0
    batches_held: int = 0
    samples_collected: int = 0
    samples_reported: int = 0
    samples_rejected: int = 0
    critical_alerts: list[str] = field(default_factory=list)
    qc_failures: int = 0
    handovers: list[dict[str, Any]] = field(default_factory=list)


class LabWorkload:
    def __init__(self, ctx: WorkloadContext, robot: RobotPlacement, config: LabSettings, stations: list[str]) -> None:
        self.ctx = ctx
        self.robot = robot
        self.config = config
        self.stations = stations
        self.site: LabSite = lab_site(ctx.env)
        self._rng = ctx.rng("lab")
        self._next_pickup_s = ctx.start_s + config.first_pickup_min * 60.0
        self._orders: dict[str, dict[str, Any]] = {}  # open orders by sample id (the LIS)
        self._delivered: set[str] = set()  # delivered since the last batch was dispatched
        self._batch_open = False  # a batch is queued or running
        self._critical_left = config.critical is not None
        self._damaged_left = config.damaged_labels
        self._orphans_left = config.orphan_tubes
        self.stats = LabStats()
        self._seed_incidents()

    def _at(self, clock: str) -> float:
        hours, minutes = clock.split(":")
        day_start = self.ctx.start_s - (self.ctx.start_s % 86400.0)
        at_s = day_start + int(hours) * 3600 + int(minutes) * 60
        return at_s + 86400.0 if at_s < self.ctx.start_s else at_s

    def _seed_incidents(self) -> None:
        qc = self.config.qc_failure
        if qc is not None:
            from_s = self._at(qc.at)
            self.site.shifts.append(CalibrationShift(self.robot.id, qc.analyzer, qc.test, qc.relative_bias,
                                                     from_s, from_s + qc.duration_min * 60.0))
        fridge = self.config.fridge_excursion
        if fridge is not None:
            from_s = self._at(fridge.at)
            self.site.excursions.append(FridgeExcursion(self.robot.id, fridge.temperature_c, from_s,
                                                        from_s + fridge.duration_min * 60.0))

    # ---- the day -------------------------------------------------------------------------------

    def step(self, now_s: float) -> None:
        if now_s >= self._next_pickup_s and now_s < self.ctx.end_s:
            self._next_pickup_s += self.config.pickup_interval_h * 3600.0
            self._clear_manual_racks()
            for station in self.stations:
                self._collect(station)
                self.stats.pickups += 1
                mission_id = f"{self.robot.id}-pickup-{self.stats.pickups:03d}"
                expected = [s for h in self.site.pending.get(station, []) for s in
                            (t.sample_id for t in h.tubes) if s in self._orders]
                self.ctx.dispatch(self.robot.id, "sample_pickup",
                                  {"station": station, "expected_samples": expected,
                                   "lab_place": self.robot.serves or "clinical-lab"},
                                  PICKUP_PRIORITY, mission_id)

    def _collect(self, station: str) -> None:
        """The nurses' bedside collection at this station since the last round."""
        ward = self.ctx.world.place(station).zone
        beds = [b for b in self.ctx.world.beds(ward)] if ward in self.ctx.world.wards() else self.ctx.world.beds()
        picks = self._rng.choice(len(beds), size=min(self.config.samples_per_station, len(beds)), replace=False)
        tubes, orders = [], []
        for index in sorted(int(i) for i in picks):
            patient = self.ctx.census.patient_at_bed(str(beds[index].bed_id)).patient_ref
            haem = bool(self._rng.random() < self.config.haematology_fraction)
            tests = HAEMATOLOGY_PANEL if haem else CHEMISTRY_PANELS[int(self._rng.integers(len(CHEMISTRY_PANELS)))]
            specimen = Specimen.WHOLE_BLOOD if haem else Specimen.SERUM
            damaged = self._damaged_left > 0
            self._damaged_left -= int(damaged)
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
            order = {"sample_id": tube.sample_id, "patient_ref": patient, "specimen": specimen.value,
                     "tests": list(tests), "priority": "S" if "TROP" in tests else "R"}
            tubes.append(tube)
            orders.append(order)
            self._orders[str(tube.sample_id)] = order
        if self._orphans_left > 0 and beds:  # drawn, labelled, but its order was never placed
            self._orphans_left -= 1
            patient = self.ctx.census.patient_at_bed(str(beds[0].bed_id)).patient_ref
            tubes.append(self.site.new_tube(patient, Specimen.SERUM))
        self.stats.samples_collected += len(tubes)
        self.site.pending.setdefault(station, []).append(Handover(station, tubes, orders))

    def _clear_manual_racks(self) -> None:
        """At each round, while no batch is open, lab staff take the rejected and held tubes and
        whatever a failed run left on the centrifuge and the analyzers (manual handling), and put
        the control materials and the balance tube back."""
        if self._batch_open:
            return
        cell = self.site.cell(self.robot.id)
        for area in cell.areas:
            if area not in ("input", "carrier", "waste"):
                cell.areas[area] = [None] * len(cell.areas[area])
        if cell.gripper is not None and cell.gripper[0].split(":")[0] not in ("input", "carrier"):
            cell.gripper = None
        self.site.stock_controls(self.robot.id)

    def _dispatch_batch(self) -> None:
        """A batch with every open order: the tubes in the input rack are matched among them."""
        orders = list(self._orders.values())
        if not orders or self._batch_open:
            return
        self._delivered.clear()
        self._batch_open = True
        self.stats.batches += 1
        params = {"orders": orders, "controls": control_params(), "place": self.robot.serves or "clinical-lab"}
        self.ctx.dispatch(self.robot.id, "lab_run", params, BATCH_PRIORITY,
                          f"{self.robot.id}-batch-{self.stats.batches:03d}")

    def on_event(self, event: MissionEvent) -> None:
        if event.robot_id != self.robot.id:
            return
        if event.kind == "alert" and event.data.get("category") == "lab.critical":
            self.stats.critical_alerts.append(str(event.data.get("alert_id")))
            # phoned through and treated: the patient's next samples are back in range
            self.site.overrides.pop((str(event.data.get("patient_ref")), str(event.data.get("test_code"))), None)
        if event.mission_kind == "sample_pickup" and event.kind == "mission.succeeded":
            self.stats.pickups_succeeded += 1
            self._delivered.update(s for s in event.data.get("sample_ids") or [] if s in self._orders)
            self._dispatch_batch()
        elif event.mission_kind == "lab_run" and event.kind in ("mission.succeeded", "mission.failed",
                                                               "mission.cancelled"):
            data = event.data
            self.stats.samples_reported += len(data.get("samples_reported", []))
            self.stats.samples_rejected += len(data.get("samples_rejected", []))
            if event.kind == "mission.succeeded":
                self.stats.batches_succeeded += 1
            elif str(event.reason).startswith("held"):
                self.stats.batches_held += 1
            self.stats.qc_failures += sum(1 for q in data.get("qc", {}).values() if not q["accepted"])
            # reported, held for a re-run, or rejected by its (readable) label: the order leaves the
            # robot's book; deferred tubes stay in the input rack for the next batch
            done = set(data.get("samples_reported", [])) | set(data.get("samples_held", []))
            done |= {str(r["label"]).removeprefix("MEDBOT-SPEC:") for r in data.get("samples_rejected", [])
                     if r.get("label")}
            for sample_id in done:
                self._orders.pop(sample_id, None)
            self._batch_open = False
            # more tubes came while it ran, or it made room: go again (never a loop of empty runs)
            if self._delivered or (data.get("samples_deferred") and data.get("samples_reported")):
                self._dispatch_batch()

    def summary(self) -> dict[str, Any]:
        s = self.stats
        return {
            "robot": self.robot.id, "stations": self.stations, "pickups": s.pickups,
            "pickups_succeeded": s.pickups_succeeded, "batches": s.batches,
            "batches_succeeded": s.batches_succeeded, "batches_held": s.batches_held,
            "samples_collected": s.samples_collected, "samples_reported": s.samples_reported,
            "samples_rejected": s.samples_rejected, "critical_alerts": len(s.critical_alerts),
            "qc_failures": s.qc_failures,
        }
