"""Radiology's side of the simulated hospital: the day's worklist, patients arriving, the rooms, the
X-ray generator's fault and the service engineer.

- **The worklist's content** (what the RIS's modality worklist holds): a file in `sim/worklists/`
  (default `imaging-day`) or exams generated from the seed; `information()["imaging_worklist"]`
  gives it to the fleet's radiology desk (`fleet/demand/radiology_worklist.py`), each step with its
  room (the scheduled step's location).
- **Patients**: each arrives at their slot and is called onto the room's table once the room is
  free (one patient per room, in slot order) — positioned off-centre, drifting, with any scripted
  disturbance from the file's `sim:` block (motion during an exposure, the door opened mid-exposure,
  someone else's wristband). They leave when the robot ends their exam (its result names the
  accession), or when the desk reports the exam will not be performed (sent back to the ward).
- **The equipment fault**: injected on every imaging robot's X-ray generator at `equipment_fault.at`;
  after a maintenance alert a service engineer clears the lock-out `repair_after_min` later.

Patients are made up front in worklist order from the stream the old workload used, so a seed gives
each exam the same patient whatever the fleet's timing.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

from fleet.demand._common import Strict
from fleet.demand.daily import DAY_S, HHMM, local_midnight_s, minute_of_day, next_daily_s
from missions.events import MissionEvent
from missions.imaging import policy
from missions.imaging.worklist import FileWorklist, WorklistError, WorklistItem
from sim.hospital import HospitalContext, HospitalError, parse_settings
from sim.imaging_patients import ImagingPatient, ImagingSite, imaging_site, random_patient

PART = "imaging"
WORKLISTS_DIR = Path(__file__).resolve().parent.parent / "worklists"
_ENDS = ("mission.succeeded", "mission.failed", "mission.cancelled")


class FaultSetting(Strict):
    at: str = pydantic.Field(pattern=HHMM)
    reason: str = "X-ray tube overheating"
    duration_min: float = pydantic.Field(30.0, gt=0)
    device: str = "xray"


class ImagingHospitalSettings(Strict):
    #: a file in sim/worklists (name without .yaml) or a path; "generated": made from the seed
    worklist: str = "imaging-day"
    generated_exams: int = pydantic.Field(24, ge=1, le=200)
    equipment_fault: FaultSetting | None = None
    repair_after_min: float = pydantic.Field(60.0, gt=0)


@dataclass(frozen=True, slots=True)
class ScheduledStep:
    """One worklist entry as the fleet's desk reads it (`fleet.demand.radiology_worklist.WorklistEntry`)."""

    accession_number: str
    patient_ref: str
    procedure_code: str
    modality: str
    scheduled_s: float  # epoch s on the run's day
    room: str


@dataclass
class _Exam:
    step: ScheduledStep
    patient: ImagingPatient
    door_script: bool
    state: str = "expected"  # expected → on_table → done | sent_back


def load_worklist(name: str) -> tuple[list[WorklistItem], dict[str, dict[str, Any]]]:
    path = Path(name) if name.endswith((".yaml", ".yml")) else WORKLISTS_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in WORKLISTS_DIR.glob("*.yaml"))
        raise HospitalError(f"hospital.{PART}.worklist: no worklist {name!r} (known: {', '.join(known)}, generated)")
    try:
        items = FileWorklist.load(path).scheduled()
    except WorklistError as exc:
        raise HospitalError(f"hospital.{PART}.worklist: {exc}") from None
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    scripts = {str(e["accession_number"]): dict(e.get("sim") or {}) for e in raw["exams"]}
    return items, scripts


def generate_worklist(ctx: HospitalContext, n: int) -> list[WorklistItem]:
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


def build(ctx: HospitalContext, settings: Mapping[str, Any]) -> ImagingHospital:
    config = parse_settings(ImagingHospitalSettings, PART, settings)
    scripts: dict[str, dict[str, Any]] = {}
    if config.worklist == "generated":
        items = generate_worklist(ctx, config.generated_exams)
    else:
        items, scripts = load_worklist(config.worklist)
    for item in items:
        room = policy.procedure(item.procedure_code).room
        if room not in ctx.world.places:
            raise HospitalError(f"hospital.{PART}.worklist: exam {item.accession_number} needs room {room!r}, "
                                "not in the world")
    robots = [r.id for r in ctx.robots if r.kind == "imaging"]
    return ImagingHospital(ctx, config, imaging_site(ctx.env), items, scripts, robots)


class Ris:
    """The RIS as the fleet's radiology desk reads it."""

    def __init__(self, part: ImagingHospital) -> None:
        self._part = part

    def scheduled(self) -> Sequence[ScheduledStep]:
        return [exam.step for exam in self._part.exams]

    def exam_not_performed(self, accession_number: str, reason: str) -> None:
        self._part.send_back(accession_number, reason)


class ImagingHospital:
    def __init__(self, ctx: HospitalContext, config: ImagingHospitalSettings, site: ImagingSite,
                 items: list[WorklistItem], scripts: dict[str, dict[str, Any]], robots: list[str]) -> None:
        self.ctx = ctx
        self.config = config
        self.site = site
        self.robots = robots
        rng = ctx.rng("imaging-patients")
        day0 = local_midnight_s(ctx.start_s)
        self.exams: list[_Exam] = []
        for item in sorted(items, key=lambda i: (self._due_s(day0, i), i.accession_number)):
            script = scripts.get(item.accession_number, {})
            patient = random_patient(rng, item.patient_ref, item.accession_number,
                                     moves_during_exposures=int(script.get("moves_during_exposures", 0)))
            if script.get("wrong_wristband"):
                patient.wristband_payload = "MEDBOT-PT:pt-" + hashlib.sha256(item.patient_ref.encode()).hexdigest()[:6]
            step = ScheduledStep(item.accession_number, item.patient_ref, item.procedure_code, item.modality,
                                 self._due_s(day0, item), policy.procedure(item.procedure_code).room)
            self.exams.append(_Exam(step, patient, bool(script.get("door_opens_during_exposure"))))
        self._by_accession = {e.step.accession_number: e for e in self.exams}
        self._repairs: list[tuple[float, str]] = []  # (when, room): the service engineer's visits
        self.outcomes: Counter[str] = Counter()
        self.repairs_done = 0
        self.called = 0
        self.sent_back: list[str] = []
        fault = config.equipment_fault
        if fault is not None:
            at_s = next_daily_s(ctx.start_s, minute_of_day(fault.at))
            for robot_id in robots:
                ctx.env.inject_fault(robot_id, fault.device, fault.reason, until_s=at_s + fault.duration_min * 60,
                                     from_s=at_s)

    def _due_s(self, day0: float, item: WorklistItem) -> float:
        due = day0 + item.scheduled_s
        return due + DAY_S if due < self.ctx.start_s else due

    def step(self, now_s: float) -> None:
        for room in self.site.rooms.values():
            room.scripted_step(now_s)
        while self._repairs and self._repairs[0][0] <= now_s:
            _at, room_name = self._repairs.pop(0)
            self.repairs_done += 1
            for hook in self.site.room(room_name).service_hooks:
                hook("service engineer")
        busy = {e.step.room for e in self.exams if e.state == "on_table"}
        for exam in self.exams:  # in slot order: the first patient waiting for a free room goes in
            if exam.state == "expected" and exam.step.scheduled_s <= now_s and exam.step.room not in busy:
                room = self.site.room(exam.step.room)
                if exam.door_script:
                    room.open_door_during_exposure_of = exam.step.accession_number
                room.admit(exam.patient, now_s)
                exam.state = "on_table"
                self.called += 1
                busy.add(exam.step.room)

    def send_back(self, accession_number: str, reason: str) -> None:
        """The exam will not be performed: the patient goes back to the ward (from the queue or the table)."""
        exam = self._by_accession.get(accession_number)
        if exam is None or exam.state in ("done", "sent_back"):
            return
        if exam.state == "on_table":
            self.site.room(exam.step.room).discharge(self.ctx.clock.now_s())
        exam.state = "sent_back"
        self.sent_back.append(accession_number)

    def on_event(self, event: MissionEvent) -> None:
        if event.robot_id not in self.robots:
            return
        if event.kind == "alert" and event.data.get("category") == "maintenance":
            where = event.data.get("where") or {}
            place = str(where.get("place") or "radiology-xray") if isinstance(where, Mapping) else "radiology-xray"
            self._repairs.append((event.stamp_s + self.config.repair_after_min * 60.0, place))
            self._repairs.sort()
        if event.mission_kind != "imaging_exam" or event.kind not in _ENDS:
            return
        exam = self._by_accession.get(str(event.data.get("accession_number")))
        if exam is None or exam.state in ("done", "sent_back"):
            return
        room = self.site.room(exam.step.room)
        if exam.state == "on_table" and room.patient is exam.patient:
            room.discharge(event.stamp_s)
        # ended before the patient was called (a robot early at the room): not called any more,
        # or they would lie on the table waiting for an exam that is over
        exam.state = "done"
        self.outcomes[str(event.data.get("mpps_status", event.kind))] += 1

    def information(self) -> dict[str, Any]:
        return {"imaging_worklist": Ris(self)}

    def summary(self) -> dict[str, Any]:
        states = Counter(e.state for e in self.exams)
        return {"exams": len(self.exams), "patients_called": self.called,
                "outcomes": dict(sorted(self.outcomes.items())), "sent_back": len(self.sent_back),
                "repairs": self.repairs_done, "exams_left": states["expected"]}
