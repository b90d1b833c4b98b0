"""Stands in for radiology reception: the day's worklist, patients arriving, the service engineer.

Exams come from a worklist file (`sim/worklists/<name>.yaml`, default `imaging-day`) or are
generated from the seed. When an exam falls due and the robot has none in flight, its patient is
called into the procedure's room (positioned off-centre, drifting, with any scripted disturbance
from the file's `sim:` block: motion during an exposure, the door opened mid-exposure, someone
else's wristband) and the `imaging_exam` mission is dispatched. One exam at a time per robot, as in
a real room. A seeded equipment fault is injected on the X-ray generator; after the maintenance
alert a service engineer clears the lock-out `repair_after_min` later.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from missions.events import MissionEvent
from missions.imaging import policy
from missions.imaging.worklist import FileWorklist, WorklistItem
from sim.imaging_patients import ImagingSite, imaging_site, random_patient
from sim.scenario import RobotPlacement
from sim.workloads import Dispatch, WorkloadContext, WorkloadError

WORKLISTS_DIR = Path(__file__).resolve().parent.parent / "worklists"
DAY_S = 86400.0
EXAM_PRIORITY = 50
_FINISHED = ("mission.succeeded", "mission.failed", "mission.cancelled")


class FaultSetting(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    at: str = pydantic.Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    reason: str = "X-ray tube overheating"
    duration_min: float = pydantic.Field(30.0, gt=0)
    device: str = "xray"


class ImagingSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    #: a file in sim/worklists (name without .yaml) or a path; "generated": made from the seed
    worklist: str = "imaging-day"
    generated_exams: int = pydantic.Field(24, ge=1, le=200)
    equipment_fault: FaultSetting | None = None
    repair_after_min: float = pydantic.Field(60.0, gt=0)


@dataclass
class RobotDesk:
    robot_id: str
    pending: list[tuple[float, WorklistItem, dict[str, Any]]]  # (due_s, item, sim script)
    in_flight: tuple[str, WorklistItem] | None = None
    outcomes: Counter[str] = field(default_factory=Counter)
    repairs: list[float] = field(default_factory=list)


def load_worklist(name: str) -> tuple[list[WorklistItem], dict[str, dict[str, Any]]]:
    path = Path(name) if name.endswith((".yaml", ".yml")) else WORKLISTS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in WORKLISTS_DIR.glob("*.yaml"))
        raise WorkloadError(f"workloads.imaging.worklist: no worklist {name!r} (known: {', '.join(known)}, generated)")
    items = FileWorklist.load(path).scheduled()
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    scripts = {str(e["accession_number"]): dict(e.get("sim") or {}) for e in raw["exams"]}
    return items, scripts


def generate_worklist(ctx: WorkloadContext, n: int) -> list[WorklistItem]:
    rng = ctx.rng("imaging-worklist")
    codes = sorted(policy.PROCEDURES)
    start = ctx.start_s % DAY_S
    items = []
    for i in range(n):
        at = (start + (i + 0.5) * (ctx.end_s - ctx.start_s) / n) % DAY_S
        code = codes[int(rng.integers(0, len(codes)))]
        ref = "pt-" + hashlib.sha256(f"medbot-imaging:{ctx.seed}:{i}".encode()).hexdigest()[:6]
        items.append(WorklistItem(f"G{ctx.seed % 1000:03d}-{i + 1:04d}", ref, code,
                                  policy.procedure(code).modality, float(int(at // 60) * 60)))
    return items


def build(ctx: WorkloadContext, robots: list[RobotPlacement], settings: Mapping[str, Any]) -> ImagingReception:
    try:
        config = ImagingSettings.model_validate(dict(settings))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise WorkloadError(f"workloads.imaging.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    scripts: dict[str, dict[str, Any]] = {}
    if config.worklist == "generated":
        items = generate_worklist(ctx, config.generated_exams)
    else:
        items, scripts = load_worklist(config.worklist)
    reception = ImagingReception(ctx, config, imaging_site(ctx.env))
    for index, robot in enumerate(robots):
        # several imaging robots share the worklist round-robin
        mine = [item for i, item in enumerate(items) if i % len(robots) == index]
        reception.assign(robot.id, mine, scripts)
    return reception


class ImagingReception:
    def __init__(self, ctx: WorkloadContext, config: ImagingSettings, site: ImagingSite) -> None:
        self._ctx = ctx
        self._dispatch: Dispatch = ctx.dispatch
        self._config = config
        self._site = site
        self._rng = ctx.rng("imaging-patients")
        self._desks: dict[str, RobotDesk] = {}
        self.exams_called = 0

    def _due_s(self, item: WorklistItem) -> float:
        day0 = self._ctx.start_s - self._ctx.start_s % DAY_S
        due = day0 + item.scheduled_s
        return due + DAY_S if due < self._ctx.start_s else due

    def assign(self, robot_id: str, items: list[WorklistItem], scripts: dict[str, dict[str, Any]]) -> None:
        pending = sorted(((self._due_s(i), i, scripts.get(i.accession_number, {})) for i in items),
                         key=lambda p: (p[0], p[1].accession_number))
        self._desks[robot_id] = RobotDesk(robot_id, pending)
        fault = self._config.equipment_fault
        if fault is not None:
            hours, minutes = fault.at.split(":")
            at_s = self._ctx.start_s - self._ctx.start_s % DAY_S + int(hours) * 3600 + int(minutes) * 60
            at_s += DAY_S if at_s < self._ctx.start_s else 0.0
            self._ctx.env.inject_fault(robot_id, fault.device, fault.reason, until_s=at_s + fault.duration_min * 60,
                                       from_s=at_s)

    def step(self, now_s: float) -> None:
        for room in self._site.rooms.values():
            room.scripted_step(now_s)
        for robot_id in sorted(self._desks):
            desk = self._desks[robot_id]
            while desk.repairs and desk.repairs[0] <= now_s:
                desk.repairs.pop(0)
                for hook in self._site.room("radiology-xray").service_hooks:
                    hook("service engineer")
            if desk.in_flight is not None or not desk.pending or desk.pending[0][0] > now_s:
                continue
            _due, item, script = desk.pending.pop(0)
            self._call_in(desk, item, script, now_s)

    def _call_in(self, desk: RobotDesk, item: WorklistItem, script: dict[str, Any], now_s: float) -> None:
        proc = policy.procedure(item.procedure_code)
        room = self._site.room(proc.room)
        patient = random_patient(self._rng, item.patient_ref, item.accession_number,
                                 moves_during_exposures=int(script.get("moves_during_exposures", 0)))
        if script.get("wrong_wristband"):
            patient.wristband_payload = "MEDBOT-PT:pt-" + hashlib.sha256(item.patient_ref.encode()).hexdigest()[:6]
        if script.get("door_opens_during_exposure"):
            room.open_door_during_exposure_of = item.accession_number
        room.admit(patient, now_s)
        mission_id = f"{desk.robot_id}-{item.accession_number}"
        desk.in_flight = (mission_id, item)
        self.exams_called += 1
        self._dispatch(desk.robot_id, "imaging_exam",
                       {"accession_number": item.accession_number, "patient_ref": item.patient_ref,
                        "procedure_code": item.procedure_code, "modality": item.modality},
                       EXAM_PRIORITY, mission_id)

    def on_event(self, event: MissionEvent) -> None:
        desk = self._desks.get(event.robot_id)
        if desk is None:
            return
        if event.kind == "alert" and event.data.get("category") == "maintenance":
            desk.repairs.append(event.stamp_s + self._config.repair_after_min * 60.0)
        if desk.in_flight is None or event.mission_id != desk.in_flight[0] or event.kind not in _FINISHED:
            return
        item = desk.in_flight[1]
        self._site.room(policy.procedure(item.procedure_code).room).discharge(event.stamp_s)
        desk.outcomes[str(event.data.get("mpps_status", event.kind))] += 1
        desk.in_flight = None

    def summary(self) -> dict[str, Any]:
        return {
            robot_id: {"exams_called": sum(d.outcomes.values()) + (d.in_flight is not None),
                       "outcomes": dict(sorted(d.outcomes.items())), "exams_left": len(d.pending)}
            for robot_id, d in sorted(self._desks.items())
        }
