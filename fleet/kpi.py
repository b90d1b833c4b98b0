"""The fleet's KPIs, from its task records: per task kind requested, done, failed (with reasons),
cancelled, still open, wait from request to start (p50, p99), on-time share, re-allocations; and
fleet-wide counters."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from fleet.tasks import Task, TaskState


def _percentile(values: list[float], q: float) -> float | None:
    return None if not values else round(float(np.percentile(np.asarray(values), q)), 1)


def kind_kpis(tasks: list[Task]) -> dict[str, Any]:
    waits = [t.started_s - max(t.created_s, t.request.earliest_start_s) for t in tasks if t.started_s is not None]
    done = [t for t in tasks if t.state is TaskState.DONE]
    with_deadline = [t for t in done if t.request.deadline_s is not None]
    on_time = [t for t in with_deadline if t.finished_s is not None and t.finished_s <= (t.request.deadline_s or 0)]
    failed = Counter(str(t.reason) for t in tasks if t.state is TaskState.FAILED)
    return {
        "requested": len(tasks),
        "done": len(done),
        "failed": sum(failed.values()),
        "failed_reasons": dict(sorted(failed.items())),
        "cancelled": sum(1 for t in tasks if t.state is TaskState.CANCELLED),
        "open": sum(1 for t in tasks if t.is_open),
        "wait_p50_s": _percentile([max(0.0, w) for w in waits], 50),
        "wait_p99_s": _percentile([max(0.0, w) for w in waits], 99),
        "on_time_share": None if not with_deadline else round(len(on_time) / len(with_deadline), 3),
        "reallocations": sum(t.reallocations for t in tasks),
    }


def fleet_kpis(tasks: list[Task], counters: dict[str, int], now_s: float) -> dict[str, Any]:
    by_kind: dict[str, list[Task]] = {}
    for task in sorted(tasks, key=lambda t: t.task_id):
        by_kind.setdefault(task.kind, []).append(task)
    busy_s: dict[str, float] = {}
    for task in tasks:
        if task.started_s is not None and task.robot_id is not None:
            until_s = task.finished_s if task.finished_s is not None else now_s
            busy_s[task.robot_id] = busy_s.get(task.robot_id, 0.0) + until_s - task.started_s
    return {
        "tasks": len(tasks),
        "by_kind": {kind: kind_kpis(ts) for kind, ts in sorted(by_kind.items())},
        "reallocations": sum(t.reallocations for t in tasks),
        "unassignable_reports": counters.get("unassignable_reports", 0),
        "overdue_reports": counters.get("overdue_reports", 0),
        "rejected_requests": counters.get("rejected_requests", 0),
        "robot_busy_s": {r: round(v, 1) for r, v in sorted(busy_s.items())},
    }
