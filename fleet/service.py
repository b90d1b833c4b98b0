"""The fleet service: tasks in, robots through the contract, decisions out.

`FleetService` is plain Python with no thread or socket of its own: a transport (the MQTT link of
`medbot fleet run`, the simulator's in-process loopback) hands it the robots' messages
(`on_message`, thread-safe, queued) and calls `step(now_s)` on its clock; the service answers
through an `Outbox` (commands to robots, task states and alerts on the fleet's topics). Each step:

1. the queued messages: factsheets, connection (Last Will), state, events (task progress and
   endings), command acks, task requests;
2. the demand sources submit what fell due;
3. robots that went offline, e-stopped or reached their reserve give their tasks back (re-queued
   with the progress they reported; a task with a load aboard stays with its robot or fails);
4. charging is planned; an allocation round runs when something changed (or every
   `allocation_period_s`); idle robots get their next planned task (one at a time: the plan stays
   open to change until the robot is free);
5. tasks no robot can do are reported (once per change of reason);
6. everything that changed is committed to the store, *then* the step's messages are sent.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from typing import Any, Protocol

from fleet import progress
from fleet.alarm import BuildingAlarm, is_confirmed_fire, park_spots
from fleet.allocator import Allocator, GreedyAuction, Plan
from fleet.census import HisCensus
from fleet.charging import ChargePlanner
from fleet.config import FleetConfig
from fleet.demand import DemandSource, RobotMessage
from fleet.dispatching import Dispatching
from fleet.estimates import DurationEstimates
from fleet.kpi import fleet_kpis
from fleet.requests import request_from_body, task_body
from fleet.robots import RobotRegistry, RobotView
from fleet.site import SiteMap
from fleet.store import TaskStore
from fleet.tasks import FINAL_STATES, ON_ROBOT_STATES, TASK_ID_RE, Task, TaskError, TaskRequest, TaskState
from fleet.traffic import TrafficArbiter, group_kinds
from telemetry.commands import command_body
from telemetry.envelope import iso_timestamp
from telemetry.topics import FLEET_ID, HIS_ID, Channel

log = logging.getLogger(__name__)

#: a source's state is persisted at most this often (s) — a restart loses at most this much of it
SNAPSHOT_PERIOD_S = 5.0


class Outbox(Protocol):
    def publish(self, robot_id: str, channel: Channel, body: dict[str, Any], stamp_s: float) -> None: ...



class FleetService(Dispatching):
    def __init__(self, config: FleetConfig, site: SiteMap, store: TaskStore, outbox: Outbox, *, site_id: str,
                 sources: list[DemandSource] | None = None, allocator: Allocator | None = None) -> None:
        self.config = config
        self.site = site
        self.store = store
        self.outbox = outbox
        self.site_id = site_id
        self.sources: list[DemandSource] = []
        self.allocator = allocator or make_allocator(config.allocator)
        self.robots_view = RobotRegistry()
        self.alarm = BuildingAlarm()
        self.estimates = DurationEstimates()
        self.charging = ChargePlanner(site, config)
        self.traffic = TrafficArbiter(group_kinds(site), alert=self._traffic_alert)
        #: the HIS link's census (medbot/v1/<site>/his/census), for the ward sources (fleet/census.py)
        self.census = HisCensus()
        self._lock = threading.RLock()
        self._inbox: deque[tuple[str, str, dict[str, Any], float]] = deque()
        self._tasks: dict[str, Task] = {}
        #: the tasks not yet final, by id: what every step looks at (a long-running service keeps
        #: thousands of finished tasks it must not scan on every step)
        self._open: dict[str, Task] = {}
        self._mission_task: dict[str, str] = {}
        #: robot -> mission ids the fleet took back (cancelled there, re-queued here)
        self._withdrawn: dict[str, set[str]] = {}
        self._unacked: dict[str, float] = {}  # mission id -> when its dispatch was (last) sent
        self._dirty: set[str] = set()
        self._outgoing: list[tuple[str, Channel, dict[str, Any], float]] = []
        self._replan = True
        self._last_round_s = float("-inf")
        self._stray_since: dict[str, float] = {}  # idle robot away from every dock -> since when
        self._last_snapshot_s = float("-inf")
        self._source_activity = False
        #: withdrawn missions or charger bookings changed: persisted at this step's commit
        self._kv_dirty = False
        self._counters: dict[str, int] = {"reallocations": 0, "alarm_commands": 0, "rejected_requests": 0,
                                          "unassignable_reports": 0}
        self._now_s = 0.0
        self._plan: Plan | None = None
        self._kv_at_start: dict[str, Any] = {}
        self._restore()
        for source in sources or []:
            self.add_source(source)

    def add_source(self, source: DemandSource) -> None:
        """Run a demand source (its state from before a restart is given back to it first)."""
        with self._lock:
            state = self._kv_at_start.get(f"source:{source.name}")
            if state is not None:
                source.restore(state)
            self.sources.append(source)

    # ---- restart ----------------------------------------------------------------------------

    def _restore(self) -> None:
        """Take back what the store holds: every task (open ones are re-dispatched under the same
        mission id if they were on a robot — the robot answers a repeat without running it twice)."""
        for task in self.store.load_tasks():
            self._tasks[task.task_id] = task
            if task.is_open:
                self._open[task.task_id] = task
            if task.mission_id is not None:
                self._mission_task[task.mission_id] = task.task_id
            if task.state is TaskState.DISPATCHED and task.mission_id is not None:
                self._unacked[task.mission_id] = float("-inf")  # resend at the first step
            if task.state is TaskState.ASSIGNED:
                task.state, task.robot_id = TaskState.WAITING, None
        kv = self.store.load_kv()
        self._withdrawn = {r: set(ids) for r, ids in kv.get("withdrawn", {}).items()}
        self._counters.update(kv.get("counters", {}))
        self.charging.restore(kv.get("charging", {}))
        self.estimates.restore(kv.get("estimates", {}))
        self._kv_at_start = kv
        for mission_id in self.charging.missions():
            self._mission_task.pop(mission_id, None)

    # ---- inputs -----------------------------------------------------------------------------

    def on_message(self, robot_id: str, channel: str, body: dict[str, Any], stamp_s: float) -> None:
        """A robot's (or a client's) message, already validated against the contract. Thread-safe."""
        self._inbox.append((robot_id, str(channel), body, stamp_s))

    def submit(self, request: TaskRequest, now_s: float) -> Task:
        """A task from a person or a system. The same task id again is the same task."""
        with self._lock:
            task = self._submit(request, now_s)
            self._commit(now_s)
            return task

    def cancel(self, task_id: str, now_s: float, *, by: str, reason: str | None = None) -> Task:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                raise KeyError(task_id)
            if task.state in FINAL_STATES:
                raise TaskError("task_id", f"task {task_id} is already {task.state.value}")
            why = f"cancelled by {by}" + (f": {reason}" if reason else "")
            if task.state in ON_ROBOT_STATES and task.robot_id is not None and task.mission_id is not None:
                self._cancel_on_robot(task.robot_id, task.mission_id, now_s)
            self._finish(task, TaskState.CANCELLED, why, now_s)
            self._commit(now_s)
            return task

    def fire_panel(self, active: bool, reason: str, now_s: float) -> None:
        """The building's fire panel: an alarm on, or cleared by the fire team."""
        with self._lock:
            if active:
                self._raise_alarm(reason or "fire panel", now_s)
            elif self.alarm.clear(now_s):
                for robot in self.robots_view.all():
                    if robot.online:
                        self._command(robot.robot_id, "building_alarm", {"active": False}, now_s)
                self._replan = True
            self._commit(now_s)

    # ---- views ------------------------------------------------------------------------------

    def tasks(self, states: Iterable[TaskState] | None = None) -> list[Task]:
        with self._lock:
            wanted = None if states is None else set(states)
            return [t for _, t in sorted(self._tasks.items()) if wanted is None or t.state in wanted]

    def task(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id)

    def robots(self) -> list[RobotView]:
        with self._lock:
            return self.robots_view.all()

    def assignments(self) -> dict[str, list[str]]:
        """robot -> its task on the robot first, then the tasks planned for it."""
        with self._lock:
            out: dict[str, list[str]] = {r.robot_id: [] for r in self.robots_view.all()}
            for task in sorted(self._open.values(), key=lambda t: (t.state not in ON_ROBOT_STATES, t.task_id)):
                if task.robot_id is not None and task.is_open:
                    out.setdefault(task.robot_id, []).append(task.task_id)
            return out

    def kpis(self) -> dict[str, Any]:
        with self._lock:
            return fleet_kpis(list(self._tasks.values()), self._counters, self._now_s)

    def close(self) -> None:
        with self._lock:
            self._commit(self._now_s)
            self.store.close()

    # ---- the step ---------------------------------------------------------------------------

    def step(self, now_s: float) -> None:
        with self._lock:
            self._now_s = now_s
            while self._inbox:
                robot_id, channel, body, stamp_s = self._inbox.popleft()
                try:
                    self._handle(robot_id, channel, body, stamp_s, now_s)
                except (KeyError, TypeError, ValueError) as exc:  # validated upstream; never stop the loop
                    log.error("fleet: message from %s on %s not handled: %s: %s", robot_id, channel,
                              type(exc).__name__, exc)
            for source in self.sources:
                source.step(now_s)
            self._resend_unacked(now_s)
            if not self.alarm.active:
                self._plan_charging(now_s)
                self._send_strays_home(now_s)
                if self._replan or now_s - self._last_round_s >= self.config.allocation_period_s:
                    self._allocate(now_s)
                self._dispatch_idle(now_s)
                self._report_unassignable(now_s)
            self._commit(now_s)
            table = self.traffic.step(now_s)
            if table is not None:
                self.outbox.publish(FLEET_ID, Channel.TRAFFIC, table, now_s)

    def _commit(self, now_s: float) -> None:
        kv: dict[str, Any] = {}
        due = (self._dirty or self._source_activity) and now_s - self._last_snapshot_s >= SNAPSHOT_PERIOD_S
        if self._kv_dirty or due:
            kv = {"withdrawn": {r: sorted(ids) for r, ids in sorted(self._withdrawn.items())},
                  "counters": dict(self._counters), "charging": self.charging.snapshot(),
                  "estimates": self.estimates.snapshot()}
            for source in self.sources:
                kv[f"source:{source.name}"] = source.snapshot()
            self._last_snapshot_s = now_s
            self._source_activity = self._kv_dirty = False
        self.store.save([self._tasks[t] for t in sorted(self._dirty)], kv, now_s=now_s)
        for task_id in sorted(self._dirty):
            self._outgoing.append((FLEET_ID, Channel.TASKS, task_body(self._tasks[task_id], now_s), now_s))
        self._dirty.clear()
        outgoing, self._outgoing = self._outgoing, []
        for robot_id, channel, body, stamp_s in outgoing:
            self.outbox.publish(robot_id, channel, body, stamp_s)

    # ---- messages ---------------------------------------------------------------------------

    def _handle(self, robot_id: str, channel: str, body: dict[str, Any], stamp_s: float, now_s: float) -> None:
        if robot_id == FLEET_ID:
            if channel == Channel.TASK_REQUESTS.value:
                self._on_request(body, now_s)
            return
        if robot_id == HIS_ID:  # the HIS link is no robot: only its census is the fleet's business
            if channel == Channel.CENSUS.value:
                self.census.on_census(body, stamp_s)
            return
        if not self.robots_view.known(robot_id):
            self.robots_view.get(robot_id).charging_planned = self.charging.charging(robot_id)
        robot = self.robots_view.get(robot_id)
        if channel == Channel.FACTSHEET.value:
            robot.on_factsheet(body)
            self._replan = True
        elif channel == Channel.TRAFFIC.value:
            self.traffic.on_report(robot_id, body, now_s)
        elif channel == Channel.CONNECTION.value:
            was_offline = not robot.online
            if robot.on_connection(body):
                self.traffic.robot_lost(robot_id, now_s)
                self._withdraw_all(robot, "robot offline (connection lost)", now_s)
            elif was_offline and robot.online:
                self._cancel_withdrawn(robot_id, now_s)
                if self.alarm.active:
                    self._alarm_command(robot, now_s)
            self._replan = True
        elif channel == Channel.STATE.value:
            was_estopped, was_fatal = robot.estopped, robot.fatal_error is not None
            robot.on_state(body, stamp_s)
            if self.alarm.active:
                self._repark_if_moved_floor(robot, now_s)
            if robot.estopped and not was_estopped:
                self._withdraw_all(robot, "robot e-stopped", now_s)
                self._replan = True
            elif robot.fatal_error is not None and not was_fatal:
                self._withdraw_all(robot, f"robot out of service (FATAL {robot.fatal_error})", now_s)
            elif (was_estopped and not robot.estopped) or (was_fatal and robot.fatal_error is None):
                self._replan = True
        elif channel == Channel.EVENTS.value:
            self._on_event(robot, body, stamp_s, now_s)
        elif channel == Channel.COMMANDS_ACK.value:
            self._on_ack(robot, body, now_s)
        elif channel == Channel.ALERTS.value:
            if is_confirmed_fire(body):
                self._raise_alarm(f"fire confirmed by {robot_id}", now_s)
            self._to_sources(RobotMessage(robot_id, channel, body, stamp_s))
        elif channel == Channel.CLINICAL.value:
            self._to_sources(RobotMessage(robot_id, channel, body, stamp_s))

    def _to_sources(self, message: RobotMessage) -> None:
        self._source_activity = True
        for source in self.sources:
            source.on_message(message)

    def _on_request(self, body: dict[str, Any], now_s: float) -> None:
        issued_by = body.get("issued_by") or {}
        user, role = str(issued_by.get("user", "?")), str(issued_by.get("role", "?"))
        task_id = str((body.get("task") or {}).get("task_id") or body.get("task_id") or "unknown")
        refusal = self._refusal(user, role)
        if refusal is not None:
            self._reject(task_id, refusal, now_s)
            return
        try:
            if body.get("action") == "cancel":
                self.cancel(task_id, now_s, by=user, reason=body.get("reason"))
            else:
                self._submit(request_from_body(body["task"], now_s, requested_by=user), now_s)
        except KeyError:
            self._reject(task_id, f"no task {task_id}", now_s)
        except TaskError as exc:
            self._reject(task_id, str(exc), now_s)

    def _refusal(self, user: str, role: str) -> str | None:
        """None if `user` may request work, else why not (the claimed role is checked against the
        configured grant, so a mis-set broker does not make a viewer an operator)."""
        policy = self.config.requesters
        if policy is not None:
            grant = policy.get(user)
            if grant is None:
                return f"unauthorized: unknown user {user!r}"
            if grant.get("role") != role:
                return f"unauthorized: user {user!r} holds role {grant.get('role')!r}, not {role!r}"
        if role != "operator":
            return f"unauthorized: role {role!r} may not request work"
        return None

    def _reject(self, task_id: str, reason: str, now_s: float) -> None:
        self._counters["rejected_requests"] += 1
        log.warning("fleet: request for %s rejected: %s", task_id, reason)
        if task_id in self._tasks:
            # a refused request about a task that exists (a cancel of a finished task) must not
            # replace that task's state on the tasks topic: the refusal goes out as an alert
            self._alert(f"request-{task_id}-{self._counters['rejected_requests']}", "low",
                        f"request for task {task_id} rejected: {reason}", now_s,
                        data={"task_id": task_id, "reason": reason})
            return
        self._outgoing.append((FLEET_ID, Channel.TASKS, {
            "task_id": task_id if TASK_ID_RE.fullmatch(task_id) else "invalid", "kind": "unknown", "state": "rejected",
            "priority": 0, "robot_id": None, "attempts": 0, "reason": reason[:500], "updated": iso_timestamp(now_s),
        }, now_s))

    def _on_event(self, robot: RobotView, body: dict[str, Any], stamp_s: float, now_s: float) -> None:
        mission_id = str(body.get("mission_id"))
        event = body.get("event")
        if self.charging.owns(mission_id):
            if event in ("mission.succeeded", "mission.failed", "mission.cancelled"):
                self.charging.finished(robot, mission_id)
                self._kv_dirty = self._replan = True
            return
        if body.get("mission_kind") == "park" and body.get("step") == "hold":
            self.alarm.on_parked(robot.robot_id, stamp_s)
        task_id = body.get("task_id") or self._mission_task.get(mission_id)
        task = self._tasks.get(str(task_id)) if task_id else None
        withdrawn = mission_id in self._withdrawn.get(robot.robot_id, ())
        if task is not None and not withdrawn and task.mission_id == mission_id and task.state not in FINAL_STATES:
            # (an ended task stays ended: a repeated event — a redelivery after a crash — changes nothing)
            self._advance_task(task, robot, body, stamp_s, now_s)
        elif withdrawn and event in ("mission.started", "mission.resumed"):
            self._cancel_on_robot(robot.robot_id, mission_id, now_s)  # a robot back from the dead
        if event in ("mission.succeeded", "mission.failed", "mission.cancelled") and not robot.mission:
            self._replan = True
        self._to_sources(RobotMessage(robot.robot_id, Channel.EVENTS.value, body, stamp_s,
                                      task.task_id if task is not None else None))

    def _advance_task(self, task: Task, robot: RobotView, body: dict[str, Any], stamp_s: float, now_s: float) -> None:
        event = body.get("event")
        self._unacked.pop(task.mission_id or "", None)
        if event in ("mission.started", "mission.resumed"):
            if task.state is not TaskState.RUNNING:
                task.state = TaskState.RUNNING
                if task.started_s is None:
                    task.started_s = stamp_s
                self._dirty.add(task.task_id)
        elif event == "mission.succeeded":
            self.estimates.observe(task.kind, stamp_s - (task.started_s or stamp_s))
            task.result = dict(body.get("data") or {})
            self._finish(task, TaskState.DONE, None, stamp_s)
        elif event == "mission.failed":
            reason = str(body.get("reason") or "failed")
            if reason == "interrupted by restart":
                self._withdraw(task, robot, f"{robot.robot_id} restarted", now_s, cancel=False)
            else:
                task.failed_on.append(robot.robot_id)
                task.result = dict(body.get("data") or {})
                self._finish(task, TaskState.FAILED, reason, stamp_s)
        elif event == "mission.cancelled":
            self._finish(task, TaskState.CANCELLED, f"cancelled on the robot: {body.get('reason') or ''}".strip(),
                         stamp_s)
        elif event == "mission.requeued" and str(body.get("reason") or "").startswith("battery reserve"):
            self._withdraw(task, robot, f"{robot.robot_id} reached its battery reserve", now_s)
        else:
            item = progress.done_item(task.kind, body)
            if item is not None and item not in task.done_items:
                task.done_items.append(item)
                self._dirty.add(task.task_id)
            elif progress.loads_custody(task.kind, body) and not task.result.get("custody_loaded"):
                task.result["custody_loaded"] = True
                self._dirty.add(task.task_id)

    def _on_ack(self, robot: RobotView, body: dict[str, Any], now_s: float) -> None:
        if body.get("command") != "dispatch":
            return
        command_id = str(body.get("command_id") or "")
        mission_id = command_id.removesuffix(".dispatch")
        if self.charging.owns(mission_id):
            if body.get("status") != "ack":
                self.charging.finished(robot, mission_id)
            return
        task = self._tasks.get(self._mission_task.get(mission_id, ""))
        if task is None or task.mission_id != mission_id:
            return
        self._unacked.pop(mission_id, None)
        if body.get("status") == "ack" or task.state is not TaskState.DISPATCHED:
            return
        # refused: the robot said why; another robot may take it
        task.failed_on.append(robot.robot_id)
        self._back_to_waiting(task, f"{robot.robot_id} refused: {body.get('reason')}", now_s, count=False)

    # ---- failures -----------------------------------------------------------------------------

    def _withdraw_all(self, robot: RobotView, reason: str, now_s: float) -> None:
        for task in sorted(self._open.values(), key=lambda t: t.task_id):
            if task.robot_id == robot.robot_id:
                if task.state in ON_ROBOT_STATES:
                    self._withdraw(task, robot, reason, now_s)
                else:
                    task.state, task.robot_id = TaskState.WAITING, None
        self.charging.robot_lost(robot)
        self._replan = True

    def _withdraw(self, task: Task, robot: RobotView, reason: str, now_s: float, *, cancel: bool = True) -> None:
        """Take a task back from a robot that cannot finish it: re-queued with its progress, or —
        with a load aboard — left to that robot if it may still finish, failed if it is lost."""
        if task.result.get("custody_loaded"):
            if robot.online and "e-stopped" in reason:
                return  # the load stays with the robot; it resumes after the e-stop is reset
            self._finish(task, TaskState.FAILED, f"{reason} with the load aboard: recover it from the robot", now_s)
            self._alert(f"{task.task_id}-load", "high", f"{task.kind} {task.task_id}: {reason} with the load aboard; "
                        "recover the drawers from the robot", now_s)
            return
        if task.mission_id is not None:
            self._withdrawn.setdefault(robot.robot_id, set()).add(task.mission_id)
            self._kv_dirty = True
            self._unacked.pop(task.mission_id, None)
            if cancel and robot.online:
                self._cancel_on_robot(robot.robot_id, task.mission_id, now_s)
        self._back_to_waiting(task, reason, now_s, count=True)

    def _back_to_waiting(self, task: Task, reason: str, now_s: float, *, count: bool) -> None:
        if progress.items_left(task.kind, task.request.params, task.done_items) == 0:
            self._finish(task, TaskState.DONE, None, now_s)
            return
        if task.attempts >= task.request.max_attempts:
            self._finish(task, TaskState.FAILED, f"gave up after {task.attempts} attempts: {reason}", now_s)
            return
        task.state, task.robot_id, task.reason = TaskState.WAITING, None, reason
        if count:
            task.reallocations += 1
            self._counters["reallocations"] += 1
        self._dirty.add(task.task_id)
        self._replan = True

    def _cancel_on_robot(self, robot_id: str, mission_id: str, now_s: float) -> None:
        self._command(robot_id, "cancel", {"mission_id": mission_id}, now_s, command_id=f"{mission_id}.cancel")

    def _cancel_withdrawn(self, robot_id: str, now_s: float) -> None:
        for mission_id in sorted(self._withdrawn.get(robot_id, ())):
            self._cancel_on_robot(robot_id, mission_id, now_s)

    def _finish(self, task: Task, state: TaskState, reason: str | None, now_s: float) -> None:
        task.state, task.reason, task.finished_s = state, reason, now_s
        self._open.pop(task.task_id, None)
        task.unassignable = None
        self._unacked.pop(task.mission_id or "", None)
        self._dirty.add(task.task_id)
        self._replan = True
        for source in self.sources:
            if task.request.requested_by == f"source:{source.name}":
                source.on_task_finished(task)
                self._source_activity = True

    # ---- tasks in -----------------------------------------------------------------------------

    def _submit(self, request: TaskRequest, now_s: float) -> Task:
        existing = self._tasks.get(request.task_id)
        if existing is not None:
            return existing  # the same request again (a retry, a source after a restart)
        task = Task(request=request, created_s=now_s)
        self._tasks[request.task_id] = task
        self._open[request.task_id] = task
        self._dirty.add(task.task_id)
        self._replan = True
        return task

    def submit_from_source(self, source_name: str, request: TaskRequest) -> None:
        """A demand source's `submit` (sources run inside `step`, under the lock); the task is
        marked as the source's, so that it hears how it ended."""
        self._source_activity = True
        self._submit(replace(request, requested_by=f"source:{source_name}"), self._now_s)

    # ---- the building alarm -------------------------------------------------------------------

    def _raise_alarm(self, reason: str, now_s: float) -> None:
        online = [r for r in self.robots_view.all() if r.online]
        if not self.alarm.raise_alarm(reason, now_s, len(online)):
            return
        self._alert(f"fire-alarm-{len(self.alarm.history):03d}", "critical",
                    f"building alarm: {reason}: every robot parks", now_s, category="fire_alarm")
        spots = park_spots(self.site, online)
        episode = self.alarm.current
        assert episode is not None
        episode.spots.update(spots)
        for robot in online:
            self._command(robot.robot_id, "building_alarm",
                          {"active": True, "park_at": spots[robot.robot_id], "reason": "fire alarm"}, now_s)

    def _alarm_command(self, robot: RobotView, now_s: float) -> None:
        """A robot coming online during the alarm: a spot none of the others was sent to."""
        episode = self.alarm.current
        assert episode is not None
        taken = {spot for other, spot in episode.spots.items() if other != robot.robot_id}
        spot = park_spots(self.site, [robot], taken=taken)[robot.robot_id]
        episode.spots[robot.robot_id] = spot
        self._command(robot.robot_id, "building_alarm", {"active": True, "park_at": spot, "reason": "fire alarm"},
                      now_s)

    def _repark_if_moved_floor(self, robot: RobotView, now_s: float) -> None:
        """A robot not yet parked that is now on another floor than its spot (a lift car recalled
        by the alarm with it inside) gets a spot on the floor it is on: no lift takes it back."""
        episode = self.alarm.current
        if episode is None or not robot.online or robot.robot_id in episode.parked:
            return
        spot = episode.spots.get(robot.robot_id)
        if spot is None or spot not in self.site.graph or self.site.place(spot).level == robot.level:
            return
        self._alarm_command(robot, now_s)

    # ---- commands and alerts ------------------------------------------------------------------

    def _command(self, robot_id: str, command: str, params: dict[str, Any], now_s: float, *,
                 command_id: str | None = None) -> None:
        if command_id is None:
            self._counters["alarm_commands"] += 1
            command_id = f"fleet-{command}-{self._counters['alarm_commands']:05d}-{robot_id}"
        body = command_body(command_id, command, self.site_id, robot_id, user=self.config.service_user,
                            params=params)
        self._outgoing.append((robot_id, Channel.COMMANDS, body, now_s))

    def _alert(self, alert_id: str, severity: str, summary: str, now_s: float, *, category: str = "fleet",
               data: dict[str, Any] | None = None) -> None:
        self._outgoing.append((FLEET_ID, Channel.ALERTS, {
            "alert_id": alert_id[:128], "severity": severity, "category": category, "summary": summary[:500],
            "where": None, "evidence_ref": None, "data": data or {}}, now_s))

    def _traffic_alert(self, alert_id: str, severity: str, summary: str, now_s: float) -> None:
        self._alert(alert_id, severity, summary, now_s)

def make_allocator(name: str) -> Allocator:
    """The configured allocator; OR-Tools is imported only when asked for (docs/fleet-allocation.md)."""
    if name == "ortools":
        from fleet.solver import OrToolsAllocator  # ortools loads only when chosen

        return OrToolsAllocator()
    return GreedyAuction()


