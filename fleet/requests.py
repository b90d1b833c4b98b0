"""The `tasks/request` contract (telemetry/schemas/task_request.json) ↔ `TaskRequest`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fleet.tasks import Task, TaskError, TaskRequest
from telemetry.envelope import iso_timestamp


def _epoch_s(value: Any, field_path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise TaskError(field_path, f"{value!r} is not an ISO 8601 time")
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TaskError(field_path, f"{value!r} is not an ISO 8601 time") from None
    if stamp.tzinfo is None:
        raise TaskError(field_path, f"{value!r} has no time zone (use Z for UTC)")
    return stamp.timestamp()


def request_from_body(task: dict[str, Any], now_s: float, *, requested_by: str = "unknown") -> TaskRequest:
    """The `task` object of a tasks/request body (or the HTTP API's JSON) as a TaskRequest."""
    if not isinstance(task, dict):
        raise TaskError("task", "must be an object")
    known = {"task_id", "kind", "params", "priority", "robot_kinds", "earliest_start", "deadline", "zone", "place",
             "robot_id", "max_attempts"}
    unknown = sorted(set(task) - known)
    if unknown:
        raise TaskError(unknown[0], f"unknown field (known: {', '.join(sorted(known))})")
    for required in ("task_id", "kind", "params"):
        if required not in task:
            raise TaskError(required, "is required")
    kinds = task.get("robot_kinds") or []
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise TaskError("robot_kinds", "must be a list of robot kinds")
    priority = task.get("priority", 50)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise TaskError("priority", f"{priority!r} must be an integer 0..100")
    earliest = _epoch_s(task.get("earliest_start"), "earliest_start")
    deadline = _epoch_s(task.get("deadline"), "deadline")
    attempts = task.get("max_attempts", 3)
    if not isinstance(attempts, int) or isinstance(attempts, bool):
        raise TaskError("max_attempts", f"{attempts!r} must be an integer")
    for name in ("zone", "place", "robot_id"):
        if task.get(name) is not None and not isinstance(task[name], str):
            raise TaskError(name, "must be a string or null")
    return TaskRequest(
        task_id=task["task_id"], kind=task["kind"], params=task["params"], priority=priority,
        robot_kinds=tuple(kinds), earliest_start_s=earliest if earliest is not None else now_s,
        deadline_s=deadline, zone=task.get("zone"), place=task.get("place"), requested_by=requested_by,
        robot_id=task.get("robot_id"), max_attempts=attempts,
    )


def _iso(stamp_s: float | None) -> str | None:
    return None if stamp_s is None else iso_timestamp(stamp_s)


def request_to_body(request: TaskRequest) -> dict[str, Any]:
    """The inverse, for clients (the simulated hospital, tests)."""
    return {
        "task_id": request.task_id, "kind": request.kind, "params": request.params, "priority": request.priority,
        "robot_kinds": list(request.robot_kinds), "earliest_start": _iso(request.earliest_start_s),
        "deadline": _iso(request.deadline_s), "zone": request.zone, "place": request.place,
        "robot_id": request.robot_id, "max_attempts": request.max_attempts,
    }


def task_body(task: Task, now_s: float) -> dict[str, Any]:
    """A task as the `tasks` topic carries it (telemetry/schemas/tasks.json): no params."""
    r = task.request
    return {
        "task_id": r.task_id, "kind": r.kind, "state": task.state.value, "priority": r.priority,
        "robot_kinds": list(r.robot_kinds), "zone": r.zone, "place": r.place, "robot_id": task.robot_id,
        "mission_id": task.mission_id, "attempts": task.attempts, "reallocations": task.reallocations,
        "requested_by": r.requested_by, "created": _iso(task.created_s), "earliest_start": _iso(r.earliest_start_s),
        "deadline": _iso(r.deadline_s), "started": _iso(task.started_s), "finished": _iso(task.finished_s),
        "updated": iso_timestamp(now_s), "reason": None if task.reason is None else task.reason[:500],
        "unassignable": None if task.unassignable is None else task.unassignable[:500],
        "done_items": len(task.done_items),
    }
