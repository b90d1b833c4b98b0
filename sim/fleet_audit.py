"""Checks the fleet's own account against what the robots did: tasks lost, tasks run twice.

Counted, not assumed: from the fleet's task store on one side and every mission event of every
robot on the other (the same events that go to `events.jsonl`):

* **lost** — a task the robots worked on that the store does not know; a task the store still
  shows on a robot whose mission there already ended; a task the store calls done although no
  robot finished it (nor all of its items);
* **duplicated** — a task two of whose missions succeeded, or one of whose items (a bed's
  observation, a dose) was recorded twice across its missions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from fleet.progress import items_left
from fleet.tasks import ON_ROBOT_STATES, Task, TaskState

FINAL_EVENTS = ("mission.succeeded", "mission.failed", "mission.cancelled")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    robot_id: str
    mission_id: str
    task_id: str | None
    kind: str
    #: for clinical records: what was recorded, without the mission's own prefix (bed + item)
    record_key: str | None

    @classmethod
    def of(cls, event: Any, task_id: str | None) -> AuditEvent:
        key = None
        if event.kind == "clinical.record":
            record_id = str(event.data.get("record_id", ""))
            suffix = record_id[len(event.mission_id):] if record_id.startswith(event.mission_id) else record_id
            key = f"{event.data.get('bed_ref')}|{suffix}"
        return cls(event.robot_id, event.mission_id, task_id, event.kind, key)


def audit_fleet(tasks: list[Task], events: list[AuditEvent]) -> dict[str, Any]:
    by_id = {t.task_id: t for t in tasks}
    ended: set[tuple[str, str]] = set()
    succeeded: Counter[str] = Counter()
    records: Counter[tuple[str, str]] = Counter()
    worked: set[str] = set()
    for e in events:
        if e.task_id is None:
            continue
        worked.add(e.task_id)
        if e.kind in FINAL_EVENTS:
            ended.add((e.robot_id, e.mission_id))
        if e.kind == "mission.succeeded":
            succeeded[e.task_id] += 1
        if e.record_key is not None:
            records[(e.task_id, e.record_key)] += 1
    lost: list[str] = sorted(t for t in worked if t not in by_id)
    for task in tasks:
        if task.state in ON_ROBOT_STATES and (task.robot_id or "", task.mission_id or "") in ended:
            lost.append(task.task_id)
        if task.state is TaskState.DONE and succeeded[task.task_id] == 0 and \
                items_left(task.kind, task.request.params, task.done_items) != 0:
            lost.append(task.task_id)
    duplicated = sorted({t for t, n in succeeded.items() if n > 1} | {t for (t, _), n in records.items() if n > 1})
    return {"tasks_lost": len(set(lost)), "tasks_lost_ids": sorted(set(lost))[:20],
            "tasks_duplicated": len(duplicated), "tasks_duplicated_ids": duplicated[:20]}
