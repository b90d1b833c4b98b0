"""Planning and dispatch, the half of `FleetService` that decides: charging, allocation rounds,
sending each free robot its next planned task (and again when unanswered), and telling the ward
about work no robot can do or that fell behind. The other half (`fleet/service.py`) takes messages
in, handles failures and keeps the state; both share the state declared here."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fleet import progress
from fleet.allocator import Allocator, Plan
from fleet.charging import ON_DOCK_M, ChargePlanner
from fleet.config import FleetConfig
from fleet.estimates import DurationEstimates
from fleet.planning import build_problem, unassignable_reason
from fleet.robots import ParamsRejected, RobotRegistry
from fleet.site import SiteMap
from fleet.tasks import ON_ROBOT_STATES, Task, TaskState

#: the priority the fleet gives its own charging missions (above work, below a building alarm)
CHARGE_PRIORITY = 90
DOCK_KIND = "return_to_dock"
#: an idle robot standing away from every dock and parking spot this long is sent to its dock: a
#: robot whose mission failed on the way (a corridor blocked for its bounded wait) otherwise stands
#: where it failed for good, and people and robots pile up round it (on the 12-robot day, a knot
#: of seven visitors and a nurses' robot round an idle one in the ward A fire door, for hours)
STRAY_IDLE_S = 60.0


class Dispatching:
    # the service's state this half reads and changes (set by FleetService.__init__)
    config: FleetConfig
    site: SiteMap
    allocator: Allocator
    robots_view: RobotRegistry
    charging: ChargePlanner
    estimates: DurationEstimates
    _tasks: dict[str, Task]
    _open: dict[str, Task]
    _mission_task: dict[str, str]
    _unacked: dict[str, float]
    _dirty: set[str]
    _plan: Plan | None
    _replan: bool
    _last_round_s: float
    _stray_since: dict[str, float]
    _kv_dirty: bool
    _counters: dict[str, int]

    if TYPE_CHECKING:  # the other half's, used here
        def _command(self, robot_id: str, command: str, params: dict[str, Any], now_s: float, *,
                     command_id: str | None = None) -> None: ...

        def _alert(self, alert_id: str, severity: str, summary: str, now_s: float, *, category: str = "fleet",
                   data: dict[str, Any] | None = None) -> None: ...

        def _finish(self, task: Task, state: TaskState, reason: str | None, now_s: float) -> None: ...

    def _send_dispatch(self, task: Task, now_s: float) -> None:
        assert task.robot_id is not None and task.mission_id is not None
        params = progress.remaining_params(task.kind, task.request.params, task.done_items)
        self._command(task.robot_id, "dispatch", {
            "kind": task.kind, "params": params, "priority": task.request.priority,
            "mission_id": task.mission_id, "task_id": task.task_id,
        }, now_s, command_id=f"{task.mission_id}.dispatch")
        self._unacked[task.mission_id] = now_s

    def _resend_unacked(self, now_s: float) -> None:
        for mission_id, sent_s in sorted(self._unacked.items()):
            if now_s - sent_s < self.config.dispatch_retry_s:
                continue
            task = self._tasks.get(self._mission_task.get(mission_id, ""))
            if task is None or task.state is not TaskState.DISPATCHED or task.mission_id != mission_id:
                self._unacked.pop(mission_id, None)
                continue
            robot = self.robots_view.get(task.robot_id or "")
            if robot.online:
                self._send_dispatch(task, now_s)  # same command id: the robot answers, never runs it twice

    # ---- planning -----------------------------------------------------------------------------

    def _on_robot(self) -> dict[str, Task]:
        return {t.robot_id: t for t in self._open.values() if t.state in ON_ROBOT_STATES and t.robot_id}

    def _plan_charging(self, now_s: float) -> None:
        busy = self._on_robot()
        robots = self.robots_view.all()
        for robot in robots:
            if robot.robot_id in busy or robot.mission is not None or not robot.online or robot.estopped:
                continue
            if not self.charging.needs_charge(robot):
                continue
            charger = self.charging.choose_charger(robot, robots)
            if charger is None:
                continue
            mission_id = self.charging.start(robot, charger)
            self._command(robot.robot_id, "dispatch", {
                "kind": DOCK_KIND, "params": {"dock": charger, "resume_soc_fraction": self.config.resume_soc},
                "priority": CHARGE_PRIORITY, "mission_id": mission_id}, now_s, command_id=f"{mission_id}.dispatch")
            self._kv_dirty = True  # persist the booking

    def _send_strays_home(self, now_s: float) -> None:
        """Send each robot idle for `STRAY_IDLE_S` away from every dock and parking spot to a
        dock (its home one when free), booked like a charger; it is free for work once docked."""
        busy = self._on_robot()
        robots = self.robots_view.all()
        spots = self.site.places_of_kind("dock", "parking")
        for robot in robots:
            rid = robot.robot_id
            idle = (rid not in busy and robot.mission is None and robot.online and not robot.estopped
                    and robot.fatal_error is None and not robot.charging_planned and DOCK_KIND in robot.missions)
            at_rest = any(p.level == robot.level and math.hypot(p.x_m - robot.x_m, p.y_m - robot.y_m) <= ON_DOCK_M
                          for p in spots)
            if not idle or at_rest:
                self._stray_since.pop(rid, None)
                continue
            if now_s - self._stray_since.setdefault(rid, now_s) < STRAY_IDLE_S:
                continue
            dock = self.charging.choose_charger(robot, robots)
            if dock is None:
                continue
            del self._stray_since[rid]
            mission_id = self.charging.start(robot, dock, counted=False)
            # docked, it is done at once: it goes home, not to charge (that is `_plan_charging`'s)
            self._command(rid, "dispatch", {
                "kind": DOCK_KIND, "params": {"dock": dock, "resume_soc_fraction": 0.05},
                "priority": CHARGE_PRIORITY, "mission_id": mission_id}, now_s, command_id=f"{mission_id}.dispatch")
            self._kv_dirty = True

    def _allocate(self, now_s: float) -> None:
        self._replan = False
        self._last_round_s = now_s
        horizon = now_s + self.config.horizon_s
        waiting = [t for t in sorted(self._open.values(), key=lambda t: (t.created_s, t.task_id))
                   if t.state in (TaskState.WAITING, TaskState.ASSIGNED) and t.request.earliest_start_s <= horizon]
        robots = self.robots_view.all()
        busy: dict[str, tuple[float, str]] = {}
        for robot_id, task in self._on_robot().items():
            started = task.started_s if task.started_s is not None else now_s
            ready = max(now_s, started + self.estimates.duration_s(task.kind))
            place = task.request.place
            if place is not None and place in self.site.graph:
                busy[robot_id] = (ready, place)
            else:
                view = self.robots_view.get(robot_id)
                busy[robot_id] = (ready, self.site.nearest_node(view.x_m, view.y_m, view.level))
        for robot in robots:
            if robot.robot_id not in busy and robot.mission is not None:
                # a mission of the robot's own (docking at its reserve, parking): free after it
                busy[robot.robot_id] = (now_s + 600.0, self.site.nearest_node(robot.x_m, robot.y_m, robot.level))
        if not waiting:
            return
        plan = self.allocator.allocate(build_problem(now_s, self.site, waiting, robots, busy, self.config,
                                                     self.estimates))
        owner = plan.robot_of()
        for task in waiting:
            planned_on = owner.get(task.task_id)
            state = TaskState.WAITING if planned_on is None else TaskState.ASSIGNED
            if (task.state, task.robot_id) != (state, planned_on):
                task.state, task.robot_id = state, planned_on
                self._dirty.add(task.task_id)
        self._plan = plan

    def _dispatch_idle(self, now_s: float) -> None:
        plan = self._plan
        if plan is None:
            return
        busy = self._on_robot()
        for robot_id, queue in sorted(plan.queues.items()):
            if robot_id in busy or not queue:
                continue
            robot = self.robots_view.get(robot_id)
            if robot.unavailable_reason(self.config.work_threshold_soc) is not None or robot.mission is not None:
                continue
            for task_id in queue:
                task = self._tasks[task_id]
                if task.state is not TaskState.ASSIGNED or task.robot_id != robot_id:
                    continue
                if task.request.earliest_start_s > now_s:
                    continue
                try:
                    robot.check_params(task.kind, progress.remaining_params(task.kind, task.request.params,
                                                                           task.done_items))
                except ParamsRejected as exc:
                    self._finish(task, TaskState.FAILED, str(exc), now_s)
                    continue
                task.attempts += 1
                task.mission_id = task.task_id if task.attempts == 1 else f"{task.task_id}.{task.attempts}"
                self._mission_task[task.mission_id] = task.task_id
                task.state, task.unassignable = TaskState.DISPATCHED, None
                self._dirty.add(task.task_id)
                self._send_dispatch(task, now_s)
                # the robot's state still shows it idle until it starts: not given a second one
                robot.mission = {"id": task.mission_id, "kind": task.kind, "state": "pending"}
                break

    def _report_unassignable(self, now_s: float) -> None:
        robots = self.robots_view.all()
        for task in sorted(self._open.values(), key=lambda t: t.task_id):
            self._report_overdue(task, now_s)
            if task.state is not TaskState.WAITING or task.request.earliest_start_s > now_s:
                continue
            reason = unassignable_reason(task, robots, self.config)
            if reason == task.unassignable:
                continue
            task.unassignable = reason
            self._dirty.add(task.task_id)
            if reason is not None:
                task.unassignable_reports.append(reason)
                self._counters["unassignable_reports"] += 1
                self._alert(f"unassignable-{task.task_id}-{self._counters['unassignable_reports']}", "medium",
                            f"{task.kind} {task.task_id} cannot be done now: {reason}", now_s,
                            data={"task_id": task.task_id, "reason": reason})

    def _report_overdue(self, task: Task, now_s: float) -> None:
        """A task not started by its deadline is told to the ward once: the robots are behind (a
        robot lost, a busy night) and staff may do it by hand — the fleet keeps it queued meanwhile."""
        deadline = task.request.deadline_s
        if (deadline is None or now_s <= deadline or task.state not in (TaskState.WAITING, TaskState.ASSIGNED)
                or task.result.get("overdue_reported")):
            return
        task.result["overdue_reported"] = True
        self._counters["overdue_reports"] = self._counters.get("overdue_reports", 0) + 1
        self._dirty.add(task.task_id)
        planned = f"planned for {task.robot_id}" if task.robot_id else "no robot free for it"
        self._alert(f"overdue-{task.task_id}", "medium",
                    f"{task.kind} {task.task_id} not started by its deadline ({planned}): staff may need to "
                    "do it", now_s, data={"task_id": task.task_id, "zone": task.request.zone, "overdue": True})
