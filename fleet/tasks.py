"""The task model: what the hospital asks for, and where each request stands.

A `TaskRequest` is what a person or a demand source submits; a `Task` is the fleet's record of it,
with its state, its assignment, its attempts and the progress robots reported. Task ids are the
idempotency key: a request submitted again under the same id (a demand source re-created after a
restart, an operator pressing twice) is the same task, never a second one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

TASK_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class TaskState(StrEnum):
    WAITING = "waiting"  # not on a robot: not yet due, being allocated, or no robot can take it now
    ASSIGNED = "assigned"  # planned for a robot, not yet sent (re-planned each round)
    DISPATCHED = "dispatched"  # sent to the robot; the robot has not started it yet
    RUNNING = "running"  # the robot reported it started
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({TaskState.WAITING, TaskState.ASSIGNED, TaskState.DISPATCHED, TaskState.RUNNING})
ON_ROBOT_STATES = frozenset({TaskState.DISPATCHED, TaskState.RUNNING})
FINAL_STATES = frozenset({TaskState.DONE, TaskState.FAILED, TaskState.CANCELLED})


class TaskError(ValueError):
    """A request that cannot become a task; `field` names what was wrong."""

    def __init__(self, field_path: str, problem: str) -> None:
        super().__init__(f"{field_path}: {problem}")
        self.field = field_path
        self.problem = problem


@dataclass(frozen=True)
class TaskRequest:
    """What is asked for. Times are epoch seconds on the fleet's clock."""

    task_id: str
    #: the mission kind a robot runs for it (a robot's factsheet lists the kinds it accepts)
    kind: str
    params: dict[str, Any]
    #: 0..100, higher first (a NEWS2 re-check 70, a drug round 60, a routine round 50, linen 30)
    priority: int = 50
    #: robot kinds that can do it (empty: any robot whose factsheet offers `kind`)
    robot_kinds: tuple[str, ...] = ()
    earliest_start_s: float = 0.0
    #: the time by which it should be done (None: no deadline)
    deadline_s: float | None = None
    #: where the work is: the zone/ward (confinement: an isolation robot takes only its ward's work,
    #: and work in a restricted zone goes only to robots stationed there)
    zone: str | None = None
    #: the named place where the work starts (for the travel estimate); None: unknown
    place: str | None = None
    #: who asked (a staff account id, or ``source:<name>`` for a demand source) — never a patient
    requested_by: str = "unknown"
    #: a robot the request names (an operator's choice); None: the allocator chooses
    robot_id: str | None = None
    #: how many times the task may be started (a re-allocation after a robot failure counts)
    max_attempts: int = 3

    def __post_init__(self) -> None:
        check_request(self)


def check_request(request: TaskRequest) -> None:
    if not isinstance(request.task_id, str) or not TASK_ID_RE.fullmatch(request.task_id):
        raise TaskError("task_id", f"{request.task_id!r} must be 1-100 of A-Z a-z 0-9 . _ : -")
    if not isinstance(request.kind, str) or not KIND_RE.fullmatch(request.kind):
        raise TaskError("kind", f"{request.kind!r} is not a mission kind (a-z, 0-9, _)")
    if not isinstance(request.params, dict):
        raise TaskError("params", "must be an object")
    if not isinstance(request.priority, int) or not 0 <= request.priority <= 100:
        raise TaskError("priority", f"{request.priority!r} must be an integer 0..100")
    if request.deadline_s is not None and request.deadline_s < request.earliest_start_s:
        raise TaskError("deadline", "is before the earliest start")
    if not 1 <= request.max_attempts <= 10:
        raise TaskError("max_attempts", f"{request.max_attempts} must be 1..10")


@dataclass
class Task:
    """The fleet's record of one request (mutated only by the service, persisted by the store)."""

    request: TaskRequest
    created_s: float
    state: TaskState = TaskState.WAITING
    robot_id: str | None = None
    #: the mission id on the robot for the current attempt (``<task_id>`` then ``<task_id>.2`` ...)
    mission_id: str | None = None
    attempts: int = 0
    reallocations: int = 0
    started_s: float | None = None
    finished_s: float | None = None
    reason: str | None = None
    #: items of the task's list parameter that robots reported done (bed ids, patient refs, ...):
    #: a re-dispatch sends only the rest, so no bed is measured and no drug handed out twice
    done_items: list[str] = field(default_factory=list)
    #: robots that failed this task (not offered it again unless no other robot can)
    failed_on: list[str] = field(default_factory=list)
    #: why no robot can take the task now (None: some robot can); reported once per change
    unassignable: str | None = None
    #: every reason reported, in order (the history an operator reads afterwards)
    unassignable_reports: list[str] = field(default_factory=list)
    #: data the robot reported at the end (the mission's result), for demand sources
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def task_id(self) -> str:
        return self.request.task_id

    @property
    def kind(self) -> str:
        return self.request.kind

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def as_dict(self) -> dict[str, Any]:
        """The task as the `tasks` topic and the HTTP API show it (no patient data: params stay in
        the store and go only to the robot)."""
        r = self.request
        return {
            "task_id": r.task_id, "kind": r.kind, "priority": r.priority, "state": self.state.value,
            "robot_kinds": list(r.robot_kinds), "zone": r.zone, "place": r.place,
            "earliest_start_s": r.earliest_start_s, "deadline_s": r.deadline_s, "requested_by": r.requested_by,
            "robot_id": self.robot_id, "mission_id": self.mission_id, "attempts": self.attempts,
            "reallocations": self.reallocations, "created_s": self.created_s, "started_s": self.started_s,
            "finished_s": self.finished_s, "reason": self.reason, "unassignable": self.unassignable,
            "done_items": len(self.done_items),
        }


def with_params(request: TaskRequest, params: dict[str, Any]) -> TaskRequest:
    return replace(request, params=params)
