"""The radiology desk: the day's worklist becomes `imaging_exam` tasks, one room at a time.

Each scheduled procedure step of the modality worklist (DICOM MWL: accession number, pseudonymous
patient, requested procedure, modality, scheduled time, the room as its location) becomes a task
when its time comes (`lead_min` earlier if asked), with today's params (accession_number,
patient_ref, procedure_code, modality) and priority. **One open exam per room**: a room holds one
patient, and the next patient is called in when the room is free — so the robot that comes always
finds on the table the patient its exam names. An exam is late `late_after_min` after its slot
(the deadline; it is still done when late).

**The equipment fault and the repair.** The generator overheating, the robot's self-test refusing
it, the maintenance alert, the service engineer clearing the lock-out an hour later — all of that
*happens* (the robot and `sim/hospital/imaging.py`). What the desk *decides* is what to do with the
room meanwhile (`on_equipment_fault`):

- ``continue`` (today's behaviour): exams keep coming at their times; one that finds the room
  locked out is discontinued by the robot (MPPS DISCONTINUED), not repeated;
- ``hold``: a maintenance alert takes the room it names out of service: its exams wait (patients
  stay in the queue) and, every `selftest_after_min`, the desk asks the robot that raised it for an
  `equipment_selftest` (named robot: the generator is its device); the first that passes puts the
  room back in service and the held exams go in their order.

An exam that ends without the robot ever starting it (cancelled by an operator, or given up by
the fleet) is reported back to the RIS (`exam_not_performed`), so the patient is sent back rather
than left waiting for a robot that will not come. Task ids carry the accession number only.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

import pydantic

from fleet.demand import DemandContext, DemandError, RobotMessage
from fleet.demand._common import Strict, hospital_info, parse_settings, task_id
from fleet.demand.daily import stamp
from fleet.tasks import Task, TaskRequest, TaskState

log = logging.getLogger(__name__)

NAME = "radiology_worklist"
ROBOT_KINDS = ("imaging",)
EXAM_PRIORITY = 50
#: a self-test gates the room's whole queue, so it goes before the next exam
SELFTEST_PRIORITY = 55
SNAPSHOT_VERSION = 1


# ---- what the desk reads of the RIS (implemented by his/ or the simulated hospital) ------------


class WorklistEntry(Protocol):
    """One scheduled procedure step of the modality worklist (no name: a pseudonymous ref)."""

    @property
    def accession_number(self) -> str: ...
    @property
    def patient_ref(self) -> str: ...
    @property
    def procedure_code(self) -> str: ...
    @property
    def modality(self) -> str: ...  # "DX" | "US"
    @property
    def scheduled_s(self) -> float: ...  # epoch s
    @property
    def room(self) -> str: ...  # the scheduled step's location: the room's place on the site


class ImagingWorklist(Protocol):
    def scheduled(self) -> Sequence[WorklistEntry]:
        """The scheduled steps (today's and any added since), in any order."""
        ...

    def exam_not_performed(self, accession_number: str, reason: str) -> None:
        """The desk gives the step up (no robot will come): the RIS marks it and the patient is
        sent back."""
        ...


# ---- settings ----------------------------------------------------------------------------------


class RadiologySettings(Strict):
    priority: int = pydantic.Field(EXAM_PRIORITY, ge=0, le=100)
    #: submit this long before the slot (0: at the slot, as the desk calls the patient in)
    lead_min: float = pydantic.Field(0.0, ge=0, le=120)
    late_after_min: float = pydantic.Field(60.0, gt=0)
    on_equipment_fault: Literal["continue", "hold"] = "continue"
    selftest_after_min: float = pydantic.Field(30.0, gt=0)
    selftest_priority: int = pydantic.Field(SELFTEST_PRIORITY, ge=0, le=100)
    max_attempts: int = pydantic.Field(3, ge=1, le=10)


def build(ctx: DemandContext, settings: Mapping[str, Any]) -> RadiologyDesk:
    config = parse_settings(RadiologySettings, NAME, settings)
    worklist = hospital_info(ctx, NAME, "imaging_worklist", "scheduled", "exam_not_performed")
    for entry in worklist.scheduled():
        if entry.room not in ctx.site.places:
            # the worklist and the site disagree: a configuration error, found before the day starts
            raise DemandError(f"demand.{NAME}: worklist exam {entry.accession_number}: room {entry.room!r} "
                              f"is not on site map {ctx.site.name!r}")
    return RadiologyDesk(ctx, config, worklist)


# ---- the desk ----------------------------------------------------------------------------------


class RadiologyDesk:
    name = NAME

    def __init__(self, ctx: DemandContext, config: RadiologySettings, worklist: ImagingWorklist) -> None:
        self.ctx = ctx
        self.config = config
        self.worklist = worklist
        #: accession numbers submitted (each once, ever)
        self._submitted: set[str] = set()
        #: room -> [task id, accession] of its open exam
        self._open: dict[str, list[str]] = {}
        #: room -> {robot_id, since_s, next_selftest_s, selftest (open task id or None)}
        self._out_of_service: dict[str, dict[str, Any]] = {}
        self._maintenance_alerts: list[str] = []
        self._outcomes: Counter[str] = Counter()
        self._stats = {"exams_submitted": 0, "exams_not_performed": 0, "selftests": 0, "selftests_passed": 0,
                       "skipped_unknown_room": 0}

    # ---- exams --------------------------------------------------------------------------------

    def step(self, now_s: float) -> None:
        lead_s = self.config.lead_min * 60.0
        entries = sorted(self.worklist.scheduled(), key=lambda e: (float(e.scheduled_s), str(e.accession_number)))
        for entry in entries:
            accession, room = str(entry.accession_number), str(entry.room)
            if accession in self._submitted or float(entry.scheduled_s) - lead_s > now_s:
                continue
            if room in self._open or room in self._out_of_service:
                continue  # the room is busy or out of service: the patient waits their turn
            if room not in self.ctx.site.places:
                self._submitted.add(accession)
                self._stats["skipped_unknown_room"] += 1
                log.warning("radiology_worklist: exam %s is for room %r, not on the site: not performed",
                            accession, room)
                self.worklist.exam_not_performed(accession, f"room {room} is not on the site map")
                continue
            self._submit_exam(entry, now_s)
        for room in sorted(self._out_of_service):
            state = self._out_of_service[room]
            if state["selftest"] is None and now_s >= state["next_selftest_s"]:
                self._submit_selftest(room, state, now_s)

    def _submit_exam(self, entry: WorklistEntry, now_s: float) -> None:
        accession, room = str(entry.accession_number), str(entry.room)
        tid = task_id("imaging-exam", accession)
        slot_s = float(entry.scheduled_s)
        self._submitted.add(accession)
        self._open[room] = [tid, accession]
        self._stats["exams_submitted"] += 1
        self.ctx.submit(TaskRequest(
            task_id=tid, kind="imaging_exam",
            params={"accession_number": accession, "patient_ref": str(entry.patient_ref),
                    "procedure_code": str(entry.procedure_code), "modality": str(entry.modality)},
            priority=self.config.priority, robot_kinds=ROBOT_KINDS, earliest_start_s=slot_s,
            deadline_s=max(now_s, slot_s + self.config.late_after_min * 60.0), zone=self.ctx.site.zone_of(room),
            place=room, requested_by=f"source:{NAME}", max_attempts=self.config.max_attempts,
        ))

    def _submit_selftest(self, room: str, state: dict[str, Any], now_s: float) -> None:
        tid = task_id("imaging-selftest", room, stamp(now_s, seconds=True))
        state["selftest"] = tid
        self._stats["selftests"] += 1
        self.ctx.submit(TaskRequest(
            task_id=tid, kind="equipment_selftest", params={"trigger": f"after maintenance alert: {room} held"},
            priority=self.config.selftest_priority, robot_kinds=ROBOT_KINDS, earliest_start_s=now_s,
            zone=self.ctx.site.zone_of(room), place=room, requested_by=f"source:{NAME}",
            # the generator that failed is that robot's device: only its self-test says it is fixed
            robot_id=str(state["robot_id"]),
        ))

    # ---- endings ------------------------------------------------------------------------------

    def on_task_finished(self, task: Task) -> None:
        now_s = task.finished_s if task.finished_s is not None else self.ctx.start_s
        if task.kind == "imaging_exam":
            self._exam_finished(task)
        elif task.kind == "equipment_selftest":
            self._selftest_finished(task, now_s)

    def _exam_finished(self, task: Task) -> None:
        accession = str(task.request.params.get("accession_number"))
        for room, (tid, _acc) in list(self._open.items()):
            if tid == task.task_id:
                del self._open[room]  # the room is free: the next patient is called
        outcome = str(task.result.get("mpps_status") or task.state.value)
        self._outcomes[outcome] += 1
        if task.state is not TaskState.DONE and task.started_s is None:
            # no robot ever began it: nobody else will release the patient
            self._stats["exams_not_performed"] += 1
            self.worklist.exam_not_performed(accession, task.reason or task.state.value)

    def _selftest_finished(self, task: Task, now_s: float) -> None:
        room = next((r for r, s in self._out_of_service.items() if s["selftest"] == task.task_id), None)
        if room is None:
            return
        if task.state is TaskState.DONE:  # the self-test mission succeeds only when the test passed
            self._stats["selftests_passed"] += 1
            del self._out_of_service[room]
            log.info("radiology_worklist: %s back in service after a passed self-test", room)
        else:
            state = self._out_of_service[room]
            state["selftest"] = None
            state["next_selftest_s"] = now_s + self.config.selftest_after_min * 60.0

    # ---- what robots say ----------------------------------------------------------------------

    def on_message(self, message: RobotMessage) -> None:
        body = message.body
        if message.channel != "alerts" or body.get("category") != "maintenance":
            return
        alert_id = str(body.get("alert_id"))
        if alert_id in self._maintenance_alerts:
            return  # the robot's outbox may send an alert again
        self._maintenance_alerts.append(alert_id)
        where = body.get("where") if isinstance(body.get("where"), Mapping) else {}
        room = where.get("place") if isinstance(where, Mapping) else None
        if self.config.on_equipment_fault != "hold" or not isinstance(room, str) or room in self._out_of_service:
            return  # a failed self-test of a held room raises its own alert: the next try is booked
        log.info("radiology_worklist: %s out of service (maintenance alert from %s): its exams wait",
                 room, message.robot_id)
        self._out_of_service[room] = {"robot_id": message.robot_id, "since_s": message.stamp_s, "selftest": None,
                                      "next_selftest_s": message.stamp_s + self.config.selftest_after_min * 60.0}

    # ---- figures and restarts -----------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return {**self._stats, "outcomes": dict(sorted(self._outcomes.items())),
                "maintenance_alerts": len(self._maintenance_alerts),
                "rooms_out_of_service": sorted(self._out_of_service),
                "exams_waiting": sum(1 for e in self.worklist.scheduled()
                                     if str(e.accession_number) not in self._submitted)}

    def snapshot(self) -> dict[str, Any]:
        return {"version": SNAPSHOT_VERSION, "submitted": sorted(self._submitted),
                "open": {r: list(v) for r, v in sorted(self._open.items())},
                "out_of_service": {r: dict(v) for r, v in sorted(self._out_of_service.items())},
                "maintenance_alerts": list(self._maintenance_alerts),
                "outcomes": dict(sorted(self._outcomes.items())), "stats": dict(self._stats)}

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != SNAPSHOT_VERSION:
            raise DemandError(f"demand.{NAME}: snapshot version {state.get('version')!r}, "
                              f"expected {SNAPSHOT_VERSION}")
        self._submitted = {str(a) for a in state["submitted"]}
        self._open = {str(r): [str(x) for x in v] for r, v in state["open"].items()}
        self._out_of_service = {str(r): dict(v) for r, v in state["out_of_service"].items()}
        self._maintenance_alerts = [str(a) for a in state["maintenance_alerts"]]
        self._outcomes = Counter({str(k): int(v) for k, v in state["outcomes"].items()})
        self._stats.update({k: int(v) for k, v in state["stats"].items() if k in self._stats})
