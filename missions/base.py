"""The mission base: a common lifecycle machine plus each mission's own step machine.

Two `transitions` machines, both read from module-level tables:

- the lifecycle (this module, `LIFECYCLE_TABLE`, model = the mission): PENDING → RUNNING →
  (PAUSED ↔ RUNNING) → SUCCEEDED | FAILED | CANCELLED;
- the steps (each mission module's `STEP_TABLE`), whose working steps all have the same three
  ways out: ``fault`` (the step's defined fallback), ``abandon`` (the mission failed or was
  cancelled) and ``restart`` (back into the same step after a pause or an e-stop).

Hooks, one job each: `_advance(now_s)` is a non-blocking poll of the current step; `_on_step_start`
resets a step's working state; `_publish` emits the events of a committed step (outbox);
`_restore` takes committed steps from the journal. A pause cancels the operation in flight; on
resume the current step restarts cleanly. Every failure carries a reason.
"""

from __future__ import annotations

import enum
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from transitions import Machine

from hal.device import DeviceError
from hal.device_set import MissingDevice
from missions import events as ev
from missions.context import MissionContext
from missions.journal import CommittedStep, Journal
from missions.timing import Attempts, Deadline, RetryBudget

__all__ = [
    "LIFECYCLE_TABLE",
    "Attempts",
    "Deadline",
    "Lifecycle",
    "Mission",
    "MissionParamsError",
    "MissionRequest",
    "MissionResult",
    "RetryBudget",
    "StepTable",
]

log = logging.getLogger(__name__)

D = TypeVar("D")


class Lifecycle(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (Lifecycle.SUCCEEDED, Lifecycle.FAILED, Lifecycle.CANCELLED)


_NOT_FINISHED = [Lifecycle.PENDING, Lifecycle.RUNNING, Lifecycle.PAUSED]

StepTable = tuple[tuple[str, Any, Any], ...]  # (trigger, source step(s), destination step)

# trigger      source                 destination
LIFECYCLE_TABLE: StepTable = (
    ("begin",    Lifecycle.PENDING,     Lifecycle.RUNNING),
    ("hold",     Lifecycle.RUNNING,     Lifecycle.PAUSED),     # operator pause, e-stop, pre-emption
    ("release",  Lifecycle.PAUSED,      Lifecycle.RUNNING),    # the current step restarts
    ("succeed",  Lifecycle.RUNNING,     Lifecycle.SUCCEEDED),
    ("give_up",  _NOT_FINISHED,         Lifecycle.FAILED),     # always with a reason
    ("abort",    _NOT_FINISHED,         Lifecycle.CANCELLED),  # operator cancel, with a reason
)  # fmt: skip

MAX_STEP_CHANGES_PER_TICK = 16

#: the three ways out of every working step of every mission (checked by the tests)
STEP_EXITS = ("fault", "abandon", "restart")

_LIFECYCLE_EVENTS = {
    Lifecycle.PAUSED: ev.MISSION_PAUSED,
    Lifecycle.SUCCEEDED: ev.MISSION_SUCCEEDED,
    Lifecycle.FAILED: ev.MISSION_FAILED,
    Lifecycle.CANCELLED: ev.MISSION_CANCELLED,
}


class MissionParamsError(ValueError):
    """Params that do not fit the mission kind; the message names the kind and the field."""

    def __init__(self, kind: str, problems: list[str]) -> None:
        super().__init__(f"{kind} params invalid: " + "; ".join(problems))
        self.kind = kind
        self.problems = problems


@dataclass(frozen=True, slots=True)
class MissionRequest:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    priority: int = 50
    mission_id: str | None = None


@dataclass(frozen=True, slots=True)
class MissionResult:
    outcome: str  # "succeeded" | "failed" | "cancelled"
    reason: str | None
    data: dict[str, Any]
    mission_id: str = ""
    mission_kind: str = ""


class _Cancellable(Protocol):
    def cancel(self) -> None: ...


class _StepModel:
    """The step machine's model (kept apart from the lifecycle's so their triggers never mix)."""

    state: enum.Enum


class Mission(ABC):
    kind: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    Step: ClassVar[type[enum.Enum]]
    STEP_TABLE: ClassVar[StepTable]
    INITIAL_STEP: ClassVar[enum.Enum]
    FINAL_STEPS: ClassVar[frozenset[enum.Enum]]
    #: after a robot restart, resume from the journal (True) or end FAILED "interrupted by restart"
    resumable_after_restart: ClassVar[bool] = False
    #: on its way to a workplace right behind a shared resource (the pharmacy counter behind its
    #: door), wait outside while another robot works there (robots/traffic.py); a patrol that only
    #: looks in does not need the spot and does not queue for it
    waits_for_goal_spot: ClassVar[bool] = True

    state: Lifecycle  # set by the lifecycle machine
    #: `_handlers()`, built on the mission's first tick (not on every tick)
    _step_handlers: dict[enum.Enum, Callable[[float], None]] | None = None

    def __init__(
        self,
        ctx: MissionContext,
        mission_id: str,
        params: BaseModel,
        *,
        priority: int = 50,
        journal: Journal | None = None,
    ) -> None:
        self.ctx = ctx
        self.mission_id = mission_id
        self.params = params
        self.priority = priority
        self.journal = journal
        self.result: MissionResult | None = None
        self.pause_reason: str | None = None
        self.restored_steps = 0
        self._op: _Cancellable | None = None  # the operation in flight, cancelled on pause/end
        self._lifecycle = Machine(
            model=self,
            states=Lifecycle,
            transitions=[list(row) for row in LIFECYCLE_TABLE],
            initial=Lifecycle.PENDING,
            auto_transitions=False,
            after_state_change=self._on_lifecycle_change,
        )
        self._steps_model = _StepModel()
        self._steps = Machine(
            model=self._steps_model,
            states=type(self).Step,
            transitions=[list(row) for row in type(self).STEP_TABLE],
            initial=type(self).INITIAL_STEP,
            auto_transitions=False,
            after_state_change=self._on_step_entered,
        )

    # ---- construction -----------------------------------------------------------------------

    @classmethod
    def parse_params(cls, raw: dict[str, Any]) -> BaseModel:
        try:
            return cls.Params.model_validate(raw)
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in err['loc']) or '(params)'}: {err['msg']}" for err in exc.errors()
            ]
            raise MissionParamsError(cls.kind, problems) from None

    # ---- what the runner calls --------------------------------------------------------------

    @property
    def step(self) -> enum.Enum:
        return self._steps_model.state

    @property
    def finished(self) -> bool:
        return self.state.finished

    def start(self, now_s: float) -> None:
        self._lifecycle.events["begin"].trigger(self)

    def pause(self, reason: str) -> None:
        if self.state is Lifecycle.RUNNING:
            self.pause_reason = reason
            self._lifecycle.events["hold"].trigger(self, reason=reason)

    def resume(self, now_s: float) -> None:
        if self.state is Lifecycle.PAUSED:
            self._lifecycle.events["release"].trigger(self)

    def cancel(self, reason: str) -> None:
        if not self.finished:
            self._lifecycle.events["abort"].trigger(self, reason=reason)

    def fail(self, reason: str) -> None:
        if not self.finished:
            self._lifecycle.events["give_up"].trigger(self, reason=reason)

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        """Step -> its handler, for missions whose `_advance` dispatches on the step."""
        raise NotImplementedError(f"{type(self).__name__} has no step handlers")

    def _step_handler(self) -> Callable[[float], None]:
        """The current step's handler from `_handlers()`, whose table is built once per mission."""
        if self._step_handlers is None:
            self._step_handlers = self._handlers()
        return self._step_handlers[self.step]

    def advance(self, now_s: float) -> None:
        """One non-blocking tick of the current step (only while RUNNING)."""
        # Steps that finish at once (choosing the next bed, committing a record) chain within one
        # tick; a bounded number, so a tick always returns.
        for _ in range(MAX_STEP_CHANGES_PER_TICK):
            if self.state is not Lifecycle.RUNNING:
                return
            before = self.step
            try:
                self._advance(now_s)
            except DeviceError as exc:
                self._step_fault(f"{exc.device}: {exc.reason}")
            except Exception as exc:  # a bug must end this mission with a reason, not the robot's tick
                log.exception("mission %s (%s) crashed in step %s", self.mission_id, self.kind, before.name)
                self.fail(f"internal error in step {before.name.lower()}: {exc!r}")
            if self.step is before:
                return

    def restore(self, committed: Sequence[CommittedStep]) -> None:
        """Take the steps a previous run committed; re-emit those never published (outbox)."""
        self.restored_steps = len(committed)
        self._restore(committed)
        for item in committed:
            if not item.published:
                self._publish_and_mark(item.step, item.data)

    def describe(self) -> dict[str, Any]:
        """The state-telemetry view of this mission."""
        return {
            "id": self.mission_id,
            "kind": self.kind,
            "state": self.state.value,
            "step": self.step.name.lower(),
            "progress_fraction": min(1.0, max(0.0, self._progress_fraction())),
        }

    # ---- hooks for subclasses ---------------------------------------------------------------

    @abstractmethod
    def _advance(self, now_s: float) -> None:
        """Poll the current step; never block."""

    def _on_step_start(self, step: enum.Enum) -> None:  # noqa: B027 (optional hook)
        """Reset the working state of a step being (re)entered."""

    def _progress_fraction(self) -> float:
        return 1.0 if self.state is Lifecycle.SUCCEEDED else 0.0

    def _result_data(self) -> dict[str, Any]:
        return {}

    def _restore(self, committed: Sequence[CommittedStep]) -> None:  # noqa: B027 (optional hook)
        """Rebuild progress from committed steps (missions that resume after a restart)."""

    def _publish(self, step: str, data: dict[str, Any]) -> None:  # noqa: B027 (optional hook)
        """Emit the events of a committed step. Called once after the commit, again on recovery."""

    # ---- helpers for subclasses -------------------------------------------------------------

    def _go(self, trigger: str) -> None:
        """Fire a step trigger of this mission's STEP_TABLE."""
        self._steps.events[trigger].trigger(self._steps_model)

    def _commit(self, step: str, data: dict[str, Any]) -> None:
        """Outbox: journal the step's result first, then emit its events, then mark it published."""
        if self.journal is not None:
            self.journal.step_committed(self.mission_id, step, data, self.ctx.clock.now_s())
        self._publish_and_mark(step, data)

    def _emit(
        self, kind: str, *, step: str | None = None, reason: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        self.ctx.emit(
            ev.MissionEvent(
                kind=kind,
                robot_id=self.ctx.robot_id,
                mission_id=self.mission_id,
                mission_kind=self.kind,
                stamp_s=self.ctx.clock.now_s(),
                step=step,
                reason=reason,
                data=data or {},
            )
        )

    def _step_fault(self, reason: str) -> None:
        """Leave the current step by its ``fault`` exit; a fault that ends the steps fails the mission."""
        self._on_fault(reason)
        if self.state is not Lifecycle.RUNNING:
            return
        self._go("fault")
        if self.step in self.FINAL_STEPS:
            self.fail(reason)

    def _on_fault(self, reason: str) -> None:  # noqa: B027 (optional hook)
        """Record why the current step failed, before its ``fault`` exit is taken."""

    def _require(self, device: D | None, kind: str) -> D:
        """The device in a `DeviceSet` slot, or `MissingDevice` (a `DeviceError`) naming the kind."""
        if device is None:
            raise MissingDevice(kind, "this robot has no such device configured")
        return device

    def _succeed(self) -> None:
        self._lifecycle.events["succeed"].trigger(self)

    def _cancel_op(self) -> None:
        if self._op is not None:
            self._op.cancel()
            self._op = None

    # ---- callbacks (bound methods, named in the Machine constructors) -----------------------

    def _publish_and_mark(self, step: str, data: dict[str, Any]) -> None:
        self._publish(step, data)
        if self.journal is not None:
            self.journal.step_published(self.mission_id, step, self.ctx.clock.now_s())

    def _on_step_entered(self) -> None:
        self._cancel_op()
        self._on_step_start(self.step)
        if self.step not in self.FINAL_STEPS:
            self._emit(
                ev.MISSION_STEP,
                step=self.step.name.lower(),
                data={"progress_fraction": round(min(1.0, max(0.0, self._progress_fraction())), 4)},
            )

    def _on_lifecycle_change(self, reason: str | None = None) -> None:
        state = self.state
        step = self.step.name.lower()
        if state is Lifecycle.RUNNING:
            if self.pause_reason is None:
                data = {"steps_restored": self.restored_steps} if self.restored_steps else {}
                self._emit(ev.MISSION_STARTED, step=step, data=data)
                self._on_step_start(self.step)
                self._emit(ev.MISSION_STEP, step=step,
                           data={"progress_fraction": round(self._progress_fraction(), 4)})
            else:
                self.pause_reason = None
                self._emit(ev.MISSION_RESUMED, step=step)
                if self.step not in self.FINAL_STEPS:
                    self._go("restart")  # the interrupted step starts again, cleanly
            return
        self._cancel_op()  # paused or finished: nothing may keep running
        if state is Lifecycle.PAUSED:
            self._emit(ev.MISSION_PAUSED, step=step, reason=reason)
            return
        if state is not Lifecycle.SUCCEEDED:
            if not reason:
                reason = "no reason given"  # never an unexplained failure
            if self.step not in self.FINAL_STEPS:
                self._go("abandon")
        data = self._result_data()
        self.result = MissionResult(state.value, reason, data, self.mission_id, self.kind)
        if self.journal is not None:  # journaled before it is announced
            self.journal.finished(self.mission_id, state.value, reason, data, self.ctx.clock.now_s())
        self._emit(_LIFECYCLE_EVENTS[state], step=step, reason=reason, data=data)
