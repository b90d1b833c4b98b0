"""The lab's pick-up rounds at the nurse stations, and the lab run once the samples have arrived.

**Pick-ups.** Every `pickup_interval_h` from `first_pickup_min` after the start, one `sample_pickup`
task per served station, with the samples the LIS says are waiting there (`expected_samples`: the
robot raises a low alert for any it is not handed). A missed round (the service was down) is
caught up once, at the latest round time, never as a burst: every tube waiting at a station goes
in the one hand-over anyway.

**Lab runs.** The tubes a pick-up delivers are in *that robot's* input rack, so the follow-up
`lab_run` is pinned to the robot that did the pick-up (`robot_id`): no other robot can analyse
them. A run is booked when a pick-up ends DONE and that robot has no run open; its params carry
every open order the lab knows of (tubes are matched to orders by their label on the bench, and an
order whose tube is not in the rack is merely "not received" — a tube without its order would be
rejected, so the book errs on the side of more orders). When a run ends, the orders it reported,
held for a re-run or rejected by a readable label leave the book; another run follows at once if
more tubes arrived meanwhile, or if it deferred tubes while reporting others (it made room) —
never a loop of empty runs. This is today's `sim/workloads/lab.py` logic, decided here instead.

**Deadlines, from the sample stability window.** Serum must be separated from the cells within
2 h of collection (CLSI GP44-A4: potassium and glucose drift on standing blood), so a run is due
`stability_window_min` (120) after the oldest collection among the tubes in that robot's rack, and
a pick-up `pickup_window_min` (60) after the oldest collection waiting at its station: the first
half of the window for the trip, the second for spin and analysis. EDTA blood counts keep longer;
the serum window is the binding one. A sample already past its window gets a deadline of "now"
(the task is late from the start, and the KPI says so).

What is waiting at a station and the orders themselves come from the LIS: `ctx.hospital
["lab_orders"]`, the `LabOrders` protocol below (the simulated hospital: `sim/hospital/lab.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import pydantic

from fleet.demand import DemandContext, DemandError, RobotMessage
from fleet.demand._common import Strict, check_place, hospital_info, parse_settings, task_id
from fleet.demand.daily import stamp
from fleet.tasks import Task, TaskRequest, TaskState

log = logging.getLogger(__name__)

NAME = "lab_pickups"
ROBOT_KINDS = ("lab",)
PICKUP_PRIORITY = 60
BATCH_PRIORITY = 50
#: the specimen label's payload prefix (the contract's label format: ``MEDBOT-SPEC:<sample_id>``)
SPECIMEN_LABEL_PREFIX = "MEDBOT-SPEC:"
SNAPSHOT_VERSION = 1


# ---- what the source reads of the LIS (implemented by his/ or the simulated hospital) ----------


class LabOrder(Protocol):
    """One test order placed for a drawn sample (pseudonymous: a sample id and a patient ref)."""

    @property
    def sample_id(self) -> str: ...
    @property
    def patient_ref(self) -> str: ...
    @property
    def specimen(self) -> str: ...  # "serum" | "whole_blood"
    @property
    def tests(self) -> Sequence[str]: ...
    @property
    def priority(self) -> str: ...  # "R" routine | "S" stat
    @property
    def collected_s(self) -> float: ...  # when it was drawn (epoch s): the stability clock


class LabOrders(Protocol):
    def waiting_at(self, station: str) -> Sequence[LabOrder]:
        """Orders of the samples drawn at the station and not yet handed over, oldest first."""
        ...

    def order(self, sample_id: str) -> LabOrder | None:
        """The order placed for a sample, or None (a tube drawn but never ordered)."""
        ...

    def controls(self) -> Sequence[Mapping[str, Any]]:
        """The QC materials as `lab_run` params (material_id, analyzer, position, targets): the
        current lots' assigned values."""
        ...


# ---- settings ----------------------------------------------------------------------------------


class LabPickupSettings(Strict):
    #: nurse stations served (default: every nurse station on the site)
    stations: list[str] | None = None
    pickup_interval_h: float = pydantic.Field(2.0, gt=0, le=24)
    first_pickup_min: float = pydantic.Field(10.0, ge=0)
    #: the lab bench the tubes go to and the runs happen at
    lab_place: str = "clinical-lab"
    pickup_priority: int = pydantic.Field(PICKUP_PRIORITY, ge=0, le=100)
    batch_priority: int = pydantic.Field(BATCH_PRIORITY, ge=0, le=100)
    pickup_window_min: float = pydantic.Field(60.0, gt=0)
    stability_window_min: float = pydantic.Field(120.0, gt=0)
    #: no pick-up where the LIS lists nothing waiting (default: every round goes, as a real lab
    #: round does: unregistered tubes wait too)
    skip_empty_stations: bool = False

    @pydantic.field_validator("stations")
    @classmethod
    def _stations(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("list at least one station (or leave it out: every nurse station)")
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a station is listed twice")
        return value


def build(ctx: DemandContext, settings: Mapping[str, Any]) -> LabPickups:
    config = parse_settings(LabPickupSettings, NAME, settings)
    if config.pickup_window_min >= config.stability_window_min:
        raise DemandError(f"demand.{NAME}.pickup_window_min: {config.pickup_window_min:g} must be shorter than "
                          f"stability_window_min ({config.stability_window_min:g}): the run needs time too")
    stations = config.stations or [p.name for p in ctx.site.places_of_kind("nurse_station")]
    if not stations:
        raise DemandError(f"demand.{NAME}.stations: the site has no nurse station; list the stations")
    for i, station in enumerate(stations):
        check_place(ctx.site, NAME, f"stations[{i}]", station)
    check_place(ctx.site, NAME, "lab_place", config.lab_place)
    lis = hospital_info(ctx, NAME, "lab_orders", "waiting_at", "order", "controls")
    return LabPickups(ctx, config, stations, lis)


# ---- the source --------------------------------------------------------------------------------


def _order_dict(order: LabOrder) -> dict[str, Any]:
    return {"sample_id": str(order.sample_id), "patient_ref": str(order.patient_ref),
            "specimen": str(order.specimen), "tests": [str(t) for t in order.tests],
            "priority": str(order.priority), "collected_s": float(order.collected_s)}


_STATS = ("pickups", "pickups_done", "pickups_not_done", "samples_expected", "samples_delivered", "batches",
          "batches_done", "batches_held", "batches_not_done", "samples_reported", "samples_rejected",
          "qc_failures")


class LabPickups:
    name = NAME

    def __init__(self, ctx: DemandContext, config: LabPickupSettings, stations: list[str], lis: LabOrders) -> None:
        self.ctx = ctx
        self.config = config
        self.stations = stations
        self.lis = lis
        self._interval_s = config.pickup_interval_h * 3600.0
        self._next_due_s = ctx.start_s + config.first_pickup_min * 60.0
        #: open orders by sample id, in the order the LIS placed them (a run's params keep it)
        self._book: dict[str, dict[str, Any]] = {}
        #: robot -> samples delivered to it since its last run was booked (another run follows)
        self._fresh: dict[str, list[str]] = {}
        #: robot -> samples delivered to it and not yet done (the run's deadline is theirs)
        self._in_rack: dict[str, list[str]] = {}
        #: robot -> its open run's task id (one at a time: one input rack, one bench)
        self._open_runs: dict[str, str] = {}
        self._critical_alerts: list[str] = []
        self._stats = dict.fromkeys(_STATS, 0)

    # ---- pick-ups ----------------------------------------------------------------------------

    def step(self, now_s: float) -> None:
        if now_s < self._next_due_s:
            return
        # the latest round due (one catch-up after a gap), then the next one after now
        missed = int((now_s - self._next_due_s) // self._interval_s)
        round_s = self._next_due_s + missed * self._interval_s
        self._next_due_s = round_s + self._interval_s
        if self.ctx.end_s is not None and round_s >= self.ctx.end_s:
            return
        for station in self.stations:
            self._submit_pickup(station, round_s)

    def _submit_pickup(self, station: str, round_s: float) -> None:
        waiting = list(self.lis.waiting_at(station))
        if not waiting and self.config.skip_empty_stations:
            return
        for order in waiting:
            self._book.setdefault(str(order.sample_id), _order_dict(order))
        oldest_s = min((float(o.collected_s) for o in waiting), default=round_s)
        deadline_s = max(round_s, oldest_s + self.config.pickup_window_min * 60.0)
        self._stats["pickups"] += 1
        self._stats["samples_expected"] += len(waiting)
        self.ctx.submit(TaskRequest(
            task_id=task_id("lab-pickup", station, stamp(round_s)), kind="sample_pickup",
            params={"station": station, "expected_samples": [str(o.sample_id) for o in waiting],
                    "lab_place": self.config.lab_place},
            priority=self.config.pickup_priority, robot_kinds=ROBOT_KINDS, earliest_start_s=round_s,
            deadline_s=deadline_s, zone=self.ctx.site.zone_of(station), place=station,
            requested_by=f"source:{NAME}",
        ))

    # ---- lab runs ----------------------------------------------------------------------------

    def _book_run(self, robot_id: str, now_s: float) -> None:
        if robot_id in self._open_runs or not self._book:
            return
        self._fresh[robot_id] = []
        rack = [self._book[s]["collected_s"] for s in self._in_rack.get(robot_id, []) if s in self._book]
        oldest_s = min(rack, default=now_s)
        deadline_s = max(now_s, oldest_s + self.config.stability_window_min * 60.0)
        orders = [{k: v for k, v in o.items() if k != "collected_s"} for o in self._book.values()]
        run_id = task_id("lab-run", robot_id, stamp(now_s, seconds=True))
        self._open_runs[robot_id] = run_id
        self._stats["batches"] += 1
        self.ctx.submit(TaskRequest(
            task_id=run_id, kind="lab_run",
            params={"orders": orders, "controls": [dict(c) for c in self.lis.controls()],
                    "place": self.config.lab_place},
            priority=self.config.batch_priority, robot_kinds=ROBOT_KINDS, earliest_start_s=now_s,
            deadline_s=deadline_s, zone=self.ctx.site.zone_of(self.config.lab_place),
            place=self.config.lab_place, requested_by=f"source:{NAME}",
            # the tubes are in this robot's input rack: no other robot can run them
            robot_id=robot_id,
        ))

    def on_task_finished(self, task: Task) -> None:
        now_s = task.finished_s if task.finished_s is not None else self.ctx.start_s
        if task.kind == "sample_pickup":
            self._pickup_finished(task, now_s)
        elif task.kind == "lab_run":
            self._run_finished(task, now_s)

    def _pickup_finished(self, task: Task, now_s: float) -> None:
        if task.state is not TaskState.DONE:
            # nothing handed over that we can count on: the tubes wait for the next round
            self._stats["pickups_not_done"] += 1
            return
        self._stats["pickups_done"] += 1
        robot_id = task.robot_id
        delivered = [str(s) for s in task.result.get("sample_ids") or []]
        for sample_id in delivered:
            # a tube the pick-up did not expect (drawn after the round was booked) may still have
            # its order: booked now, or the run would reject it as "no order"
            if sample_id not in self._book:
                order = self.lis.order(sample_id)
                if order is not None:
                    self._book[sample_id] = _order_dict(order)
        known = [s for s in delivered if s in self._book]
        self._stats["samples_delivered"] += len(known)
        if robot_id is None:
            log.warning("lab_pickups: pick-up %s done without a robot on record; no run booked", task.task_id)
            return
        for bucket in (self._fresh, self._in_rack):
            bucket.setdefault(robot_id, []).extend(s for s in known if s not in bucket[robot_id])
        self._book_run(robot_id, now_s)

    def _run_finished(self, task: Task, now_s: float) -> None:
        robot_id = next((r for r, t in self._open_runs.items() if t == task.task_id), task.robot_id)
        data = task.result
        if task.state is TaskState.DONE:
            self._stats["batches_done"] += 1
        elif str(task.reason or "").startswith("held"):
            self._stats["batches_held"] += 1
        else:
            self._stats["batches_not_done"] += 1
        self._stats["samples_reported"] += len(data.get("samples_reported") or [])
        self._stats["samples_rejected"] += len(data.get("samples_rejected") or [])
        self._stats["qc_failures"] += sum(1 for q in (data.get("qc") or {}).values()
                                          if isinstance(q, Mapping) and not q.get("accepted", True))
        # reported, held for a re-run or rejected by its readable label: the order leaves the book;
        # deferred tubes stay in the rack (and their orders in the book) for the next run
        done = set(data.get("samples_reported") or []) | set(data.get("samples_held") or [])
        done |= {str(r["label"]).removeprefix(SPECIMEN_LABEL_PREFIX) for r in data.get("samples_rejected") or []
                 if isinstance(r, Mapping) and r.get("label")}
        for sample_id in done:
            self._book.pop(sample_id, None)
        for rack in self._in_rack.values():
            rack[:] = [s for s in rack if s not in done]
        if robot_id is None:
            return
        if self._open_runs.get(robot_id) == task.task_id:
            del self._open_runs[robot_id]
        if self._fresh.get(robot_id) or (data.get("samples_deferred") and data.get("samples_reported")):
            self._book_run(robot_id, now_s)

    # ---- what robots say -----------------------------------------------------------------------

    def on_message(self, message: RobotMessage) -> None:
        body = message.body
        if message.channel == "alerts" and body.get("category") == "lab.critical":
            alert_id = str(body.get("alert_id"))
            if alert_id not in self._critical_alerts:  # the robot's outbox may send it again
                self._critical_alerts.append(alert_id)
        elif (message.channel == "events" and message.task_id and message.task_id.startswith("lab-run-")
              and body.get("event") in ("mission.started", "mission.resumed", "mission.step")
              and message.robot_id not in self._open_runs):
            # a run this source booked but lost from its state (restored from an older snapshot):
            # it is open on that robot, so no second run is booked beside it
            self._open_runs[message.robot_id] = message.task_id

    # ---- figures and restarts ------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return {"stations": list(self.stations), **self._stats, "critical_alerts": len(self._critical_alerts),
                "orders_open": len(self._book), "runs_open": len(self._open_runs)}

    def snapshot(self) -> dict[str, Any]:
        return {"version": SNAPSHOT_VERSION, "next_due_s": self._next_due_s, "book": list(self._book.values()),
                "fresh": {r: list(s) for r, s in sorted(self._fresh.items())},
                "in_rack": {r: list(s) for r, s in sorted(self._in_rack.items())},
                "open_runs": dict(sorted(self._open_runs.items())), "critical_alerts": list(self._critical_alerts),
                "stats": dict(self._stats)}

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != SNAPSHOT_VERSION:
            raise DemandError(f"demand.{NAME}: snapshot version {state.get('version')!r}, "
                              f"expected {SNAPSHOT_VERSION}")
        self._next_due_s = float(state["next_due_s"])
        self._book = {str(o["sample_id"]): dict(o) for o in state["book"]}
        self._fresh = {str(r): [str(s) for s in v] for r, v in state["fresh"].items()}
        self._in_rack = {str(r): [str(s) for s in v] for r, v in state["in_rack"].items()}
        self._open_runs = {str(r): str(t) for r, t in state["open_runs"].items()}
        self._critical_alerts = [str(a) for a in state["critical_alerts"]]
        self._stats.update({k: int(v) for k, v in state["stats"].items() if k in self._stats})
