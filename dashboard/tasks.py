"""The fleet's task queue as the dashboard knows it: the latest body per task from the ``tasks`` topic.

The fleet service publishes a task's whole state on ``medbot/v1/<site>/fleet/tasks`` on every change
(``telemetry/schemas/tasks.json``), so the newest body of a task *is* the task; nothing has to be
replayed. `TaskBoard.apply` keeps that newest body per ``<site>/<task_id>``, an index of which open
tasks sit on which robot (the per-robot assignment beside the robot list), and the log of task
requests this dashboard sent with the fleet's answer to each.

Bounded: every open task (up to ``max_open``) and the newest ``max_finished`` finished ones.
Not thread-safe: `FleetState` calls it under its own lock.

No patient data: task bodies carry no params by contract (they may name patients and go only to the
robot), and the board keeps only the contract's fields, so even a body that broke the contract
could not put params on an operator's screen. Free-text reasons are masked for non-clinical
sessions like alert summaries (`redact_task`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import datetime
from typing import Any

from telemetry.validate import load_schema

#: every state of the contract, in the order the page groups them
TASK_STATES = ("waiting", "assigned", "dispatched", "running", "done", "failed", "cancelled", "rejected")
OPEN_STATES = frozenset({"waiting", "assigned", "dispatched", "running"})
#: states in which a task belongs to a robot (planned for it, sent to it, or being run by it)
ON_ROBOT_STATES = frozenset({"assigned", "dispatched", "running"})
#: how a robot's tasks are listed: what it runs first, then what was sent, then what is planned
_ROBOT_ORDER = {"running": 0, "dispatched": 1, "assigned": 2}
#: the fields a task body may have, read from the contract so the two cannot drift apart
TASK_FIELDS = frozenset(load_schema("tasks")["properties"])
_PATIENT_REF = re.compile(r"pt-[0-9a-f]{6,}")
#: evicted tasks remembered (by their order key) so a late redelivery cannot bring one back
_TOMBSTONES_PER_FINISHED = 4


def redact_text(text: str | None) -> str | None:
    return None if text is None else _PATIENT_REF.sub("pt-••••", text)


def redact_task(task: dict[str, Any]) -> dict[str, Any]:
    """A task as a non-clinical user sees it: a reason quoting a patient reference is masked."""
    return {**task, "reason": redact_text(task.get("reason")), "unassignable": redact_text(task.get("unassignable"))}


def _stamp_ms(value: Any) -> int:
    try:
        return round(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return -1


class TaskBoard:
    def __init__(self, *, max_finished: int = 500, max_open: int = 5000, max_requests: int = 200) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        # arrival order per group, oldest first: the eviction order
        self._open: OrderedDict[str, None] = OrderedDict()
        self._finished: OrderedDict[str, None] = OrderedDict()
        # (updated ms, header seq) of the body each task holds: an older body never overwrites a newer
        self._order: dict[str, tuple[int, int]] = {}
        self._tombstones: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._by_robot: dict[str, set[str]] = {}  # robot key -> keys of its open tasks
        self.requests: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._pending: dict[str, list[str]] = {}  # task key -> request ids still waiting for the fleet
        self._max_finished = max_finished
        self._max_open = max_open
        self._max_requests = max_requests
        self.dropped_open = 0  # open tasks evicted because more than max_open were open

    # -- the tasks topic ---------------------------------------------------------------------

    def apply(self, site: str, body: dict[str, Any], seq: int) -> tuple[dict[str, Any] | None, set[str],
                                                                        list[dict[str, Any]]]:
        """Fold in one (schema-valid) tasks body of ``site``.

        Returns (the task as now held, or None if the body was older than what is held; robot keys
        whose assignment changed; request log entries the fleet just answered)."""
        key = f"{site}/{body['task_id']}"
        order = (_stamp_ms(body["updated"]), seq)
        held = self._order.get(key) or self._tombstones.get(key)
        if held is not None and order < held:
            return None, set(), []  # a redelivered or reordered older state
        before = self.tasks.get(key)
        task = {name: body.get(name) for name in TASK_FIELDS}
        robot_id = task["robot_id"]
        task.update(key=key, site=site, robot_key=None if robot_id is None else f"{site}/{robot_id}",
                    updated_s=order[0] / 1000.0)
        self.tasks[key] = task
        self._order[key] = order
        self._tombstones.pop(key, None)
        self._file(key, task["state"] in OPEN_STATES)
        robots = self._reindex(key, before, task)
        answered = self._answer(key, task)
        robots |= self._evict()
        return task, robots, answered

    def _file(self, key: str, is_open: bool) -> None:
        # a task may reopen (a failed attempt re-queued) or close: it is filed under its new group
        (self._finished if is_open else self._open).pop(key, None)
        group = self._open if is_open else self._finished
        group[key] = None
        group.move_to_end(key)

    def _reindex(self, key: str, before: dict[str, Any] | None, task: dict[str, Any] | None) -> set[str]:
        old = before["robot_key"] if before is not None and before["state"] in ON_ROBOT_STATES else None
        new = task["robot_key"] if task is not None and task["state"] in ON_ROBOT_STATES else None
        if old is not None:
            self._by_robot.get(old, set()).discard(key)
        if new is not None:
            self._by_robot.setdefault(new, set()).add(key)
        changed = {k for k in (old, new) if k is not None}
        # a robot's summary shows the state too, so a state change on the same robot is a change
        if old == new and before is not None and task is not None and before["state"] == task["state"]:
            changed = set()
        return changed

    def _evict(self) -> set[str]:
        robots: set[str] = set()
        while len(self._finished) > self._max_finished:
            self._forget(self._finished.popitem(last=False)[0])
        while len(self._open) > self._max_open:
            key = self._open.popitem(last=False)[0]
            robots |= self._reindex(key, self.tasks.get(key), None)
            self._forget(key)
            self.dropped_open += 1
        return robots

    def _forget(self, key: str) -> None:
        self.tasks.pop(key, None)
        self._pending.pop(key, None)
        order = self._order.pop(key, None)
        if order is not None:
            self._tombstones[key] = order
            while len(self._tombstones) > _TOMBSTONES_PER_FINISHED * self._max_finished:
                self._tombstones.popitem(last=False)

    def robot_tasks(self, robot_key: str) -> list[dict[str, Any]]:
        """The open tasks on one robot, the running one first: what the robot list shows beside it."""
        tasks = [self.tasks[k] for k in self._by_robot.get(robot_key, ()) if k in self.tasks]
        tasks.sort(key=lambda t: (_ROBOT_ORDER.get(t["state"], 9), -int(t["priority"] or 0), t["task_id"]))
        return [{"task_id": t["task_id"], "kind": t["kind"], "state": t["state"]} for t in tasks]

    # -- requests this dashboard sent ----------------------------------------------------------

    def record_request(self, request_id: str, site: str, action: str, task_id: str, kind: str | None, user: str,
                       sent_at: str) -> dict[str, Any]:
        """Log a submit or cancel about to be sent (never its params: they may name a patient)."""
        entry = {"request_id": request_id, "site": site, "action": action, "task_id": task_id, "kind": kind,
                 "user": user, "sent_at": sent_at, "status": "sent", "reason": None, "answered_at": None}
        self.requests[request_id] = entry
        self._pending.setdefault(f"{site}/{task_id}", []).append(request_id)
        while len(self.requests) > self._max_requests:
            old_id, old = self.requests.popitem(last=False)
            waiting = self._pending.get(f"{old['site']}/{old['task_id']}")
            if waiting is not None and old_id in waiting:
                waiting.remove(old_id)
        return entry

    def request_failed(self, request_id: str, reason: str) -> dict[str, Any] | None:
        entry = self.requests.get(request_id)
        if entry is None:
            return None
        entry.update(status="error", reason=reason)
        waiting = self._pending.get(f"{entry['site']}/{entry['task_id']}")
        if waiting is not None and request_id in waiting:
            waiting.remove(request_id)
        return entry

    def _answer(self, key: str, task: dict[str, Any]) -> list[dict[str, Any]]:
        waiting = self._pending.get(key)
        if not waiting:
            return []
        answered, still = [], []
        for request_id in waiting:
            entry = self.requests.get(request_id)
            if entry is None:
                continue
            # a submit is answered by the fleet's first word on the task (waiting, rejected, or the
            # state of the task it already had under that id); a cancel only by the task ending, since
            # the fleet may publish other changes before it processes the cancel
            if entry["action"] == "cancel" and task["state"] in OPEN_STATES:
                still.append(request_id)
                continue
            entry.update(status=task["state"], reason=task["reason"] or task["unassignable"],
                         answered_at=task["updated"])
            answered.append(entry)
        if still:
            self._pending[key] = still
        else:
            del self._pending[key]
        return answered

    # -- views -------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(TASK_STATES, 0)
        for task in self.tasks.values():
            counts[task["state"]] = counts.get(task["state"], 0) + 1
        return counts
