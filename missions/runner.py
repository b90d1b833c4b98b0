"""The mission runner: a priority queue of missions, advanced once per robot tick.

`step(now_s, safety)` does, in this order, on every tick:

1. **Safety hold.** E-stop latched or motion not allowed → the running mission is paused with the
   reason on this very call (its navigation handle is cancelled); nothing else happens. When the
   condition clears (an e-stop only after its explicit reset, which the supervisor owns) the mission
   resumes and its interrupted step starts again.
2. **Operator pause.** While paused by the operator nothing advances or starts.
3. **Battery reserve.** The current mission (unless it is the dock mission) is paused and re-queued
   with its progress (`mission.requeued`), and a `return_to_dock` mission runs first.
4. **Advance** the current mission, or start the next: higher priority first, FIFO within one.

`recover()` replays the journal after a restart: missions of a kind that resumes come back in the
queue without repeating any committed step; the others end FAILED "interrupted by restart".
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
from dataclasses import dataclass
from typing import Any

from hal.safety_status import SafetyStatus
from missions import events as ev
from missions.base import Lifecycle, Mission, MissionParamsError, MissionRequest, MissionResult
from missions.catalog import MissionCatalog, UnknownMissionKind
from missions.context import MissionContext
from missions.journal import Journal, MissionRecordState

log = logging.getLogger(__name__)

DOCK_KIND = "return_to_dock"
PARK_KIND = "park"  # missions/park.py: holds for a building alarm
INTERRUPTED_BY_RESTART = "interrupted by restart"


@dataclass(frozen=True, slots=True)
class QueuedMission:
    mission_id: str
    kind: str
    priority: int
    state: str  # "pending", or "paused" for a pre-empted mission keeping its progress


class MissionRunner:
    def __init__(
        self,
        ctx: MissionContext,
        journal: Journal,
        catalog: MissionCatalog,
        *,
        dock_priority: int = 100,
        resume_soc_fraction: float = 0.8,
        dock_retry_s: float = 300.0,
    ) -> None:
        # missions emit through the runner, which notes who raised an alert (see _finish)
        self._outer_emit = ctx.emit
        self._alerted: set[str] = set()
        ctx = dataclasses.replace(ctx, emit=self._relay)
        self.ctx = ctx
        self.journal = journal
        self.catalog = catalog
        self.dock_priority = dock_priority
        self.resume_soc_fraction = resume_soc_fraction
        self.dock_retry_s = dock_retry_s
        self.history: list[MissionResult] = []
        self._queue: list[tuple[int, int, str]] = []  # heap of (-priority, seq, mission_id)
        self._queued: dict[str, Mission] = {}
        self._seq_of: dict[str, int] = {}
        self._current: Mission | None = None
        self._paused = False
        self._safety_hold: str | None = None
        self._auto_dock_id: str | None = None
        self._no_auto_dock_before_s = float("-inf")
        self._dock_failed = False
        known = journal.replay()
        self._known_ids: set[str] = set(known)
        self._seq = max((record.seq for record in known.values()), default=0)

    # ---- state ----------------------------------------------------------------------------

    @property
    def current(self) -> Mission | None:
        return self._current

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def safety_hold(self) -> str | None:
        return self._safety_hold

    @property
    def has_work(self) -> bool:
        """A mission is running or waiting."""
        return self._current is not None or bool(self._queue)

    def queue_snapshot(self) -> list[QueuedMission]:
        return [
            QueuedMission(mid, self._queued[mid].kind, -neg_priority, self._queued[mid].state.value)
            for neg_priority, _seq, mid in sorted(self._queue)
        ]

    # ---- commands -------------------------------------------------------------------------

    def submit(self, request: MissionRequest) -> str:
        """Validate, journal and queue a mission; returns its id. Nothing is queued on error."""
        mission_class = self.catalog.get(request.kind)
        params = mission_class.parse_params(request.params)
        mission_id = request.mission_id or self._new_id()
        if mission_id in self._known_ids:
            raise ValueError(f"mission id {mission_id!r} is already used on robot {self.ctx.robot_id}")
        self._seq += 1
        seq = self._seq
        self.journal.submitted(
            mission_id, request.kind, params.model_dump(mode="json"), request.priority, seq, self.ctx.clock.now_s()
        )
        self._known_ids.add(mission_id)
        mission = mission_class(self.ctx, mission_id, params, priority=request.priority, journal=self.journal)
        self._push(mission, seq)
        self._emit(ev.MISSION_QUEUED, mission, data={"priority": request.priority})
        return mission_id

    def preempt(self, request: MissionRequest, reason: str) -> str:
        """Run this mission now: the current one is paused and re-queued with its progress (a
        building alarm, an operator's urgent order). Returns the new mission's id."""
        mission_id = self.submit(request)
        current = self._current
        if current is not None and current.mission_id != mission_id:
            self._requeue(current, reason)
        return mission_id

    def is_known(self, mission_id: str) -> bool:
        """Whether this id was ever submitted here (including before a restart, via the journal)."""
        return mission_id in self._known_ids

    def pause(self) -> None:
        """Operator pause: hold the current mission and start nothing until `resume()`."""
        self._paused = True
        if self._current is not None:
            self._current.pause("paused by operator")

    def resume(self) -> None:
        self._paused = False
        if self._current is not None and self._safety_hold is None:
            self._current.resume(self.ctx.clock.now_s())

    def cancel(self, mission_id: str | None = None) -> bool:
        """Cancel the current mission (None) or a queued one; its motion stops at once."""
        if mission_id is None or (self._current is not None and self._current.mission_id == mission_id):
            mission = self._current
            if mission is None:
                return False
            mission.cancel("cancelled by operator")
            self._finish(mission)
            return True
        mission = self._queued.pop(mission_id, None)
        if mission is None:
            raise LookupError(f"no unfinished mission {mission_id!r} on robot {self.ctx.robot_id}")
        self._queue = [entry for entry in self._queue if entry[2] != mission_id]
        heapq.heapify(self._queue)
        mission.cancel("cancelled by operator")
        self._finish(mission)
        return True

    # ---- the tick -------------------------------------------------------------------------

    def step(self, now_s: float, safety: SafetyStatus) -> None:
        hold = _safety_hold_reason(safety)
        if hold is not None:
            self._safety_hold = hold
            if self._current is not None:
                self._current.pause(hold)
            return
        if self._safety_hold is not None:
            self._safety_hold = None
            if self._current is not None and not self._paused:
                self._current.resume(now_s)
        if self._paused:
            return
        if safety.battery_reserve_reached:
            self._return_to_dock_first(now_s)
        if self._current is None:
            self._start_next(now_s, reserve_reached=safety.battery_reserve_reached)
        mission = self._current
        if mission is None:
            return
        mission.advance(now_s)
        if mission.finished:
            self._finish(mission)

    # ---- restart --------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Replay the journal; returns the ids of the missions put back in the queue."""
        requeued: list[str] = []
        for record in self.journal.replay().values():
            self._known_ids.add(record.mission_id)
            self._seq = max(self._seq, record.seq)
            if record.finished or record.mission_id in self._queued:
                continue
            if self._current is not None and self._current.mission_id == record.mission_id:
                continue
            mission = self._rebuild(record)
            if mission is None:
                continue
            if type(mission).resumable_after_restart:
                mission.restore(record.committed_steps())
                self._push(mission, record.seq)
                self._emit(
                    ev.MISSION_REQUEUED, mission, reason="recovered after restart",
                    data={"steps_restored": len(record.steps)},
                )
                requeued.append(record.mission_id)
            else:
                mission.fail(INTERRUPTED_BY_RESTART)
                self._finish(mission)
        return requeued

    def _rebuild(self, record: MissionRecordState) -> Mission | None:
        try:
            mission_class = self.catalog.get(record.kind)
            params = mission_class.parse_params(record.params)
        except (UnknownMissionKind, MissionParamsError) as exc:
            reason = f"{INTERRUPTED_BY_RESTART}: cannot rebuild ({exc})"
            now = self.ctx.clock.now_s()
            self.journal.finished(record.mission_id, Lifecycle.FAILED.value, reason, {}, now)
            self.ctx.emit(ev.MissionEvent(ev.MISSION_FAILED, self.ctx.robot_id, record.mission_id, record.kind,
                                          now, reason=reason))
            self.history.append(MissionResult("failed", reason, {}, record.mission_id, record.kind))
            return None
        return mission_class(self.ctx, record.mission_id, params, priority=record.priority, journal=self.journal)

    # ---- inner workings -------------------------------------------------------------------

    def _return_to_dock_first(self, now_s: float) -> None:
        current = self._current
        if current is not None and current.kind in (DOCK_KIND, PARK_KIND):
            return  # parked for a building alarm: stay put (a dock spot charges anyway)
        if any(m.kind == DOCK_KIND for m in self._queued.values()):
            if current is not None:
                self._requeue(current, "battery reserve reached: returning to dock")
            return
        if current is None and not self._queued:
            return  # nothing to protect; an idle robot is sent home by its operator or fleet
        if now_s < self._no_auto_dock_before_s:
            if current is not None and self._dock_failed:  # keep still rather than drain the reserve
                self._requeue(current, "battery reserve reached and the dock is unavailable")
            return
        if current is not None:
            self._requeue(current, "battery reserve reached: returning to dock")
        self._auto_dock_id = self.submit(
            MissionRequest(DOCK_KIND, {"resume_soc_fraction": self.resume_soc_fraction},
                           priority=self.dock_priority)
        )

    def _requeue(self, mission: Mission, reason: str) -> None:
        mission.pause(reason)
        self._current = None
        self._push(mission, self._seq_of[mission.mission_id])
        self._emit(ev.MISSION_REQUEUED, mission, reason=reason, data={"priority": mission.priority})

    def _start_next(self, now_s: float, *, reserve_reached: bool) -> None:
        if reserve_reached and self._held_for_dock(now_s):
            return
        while self._queue:
            _neg, _seq, mission_id = heapq.heappop(self._queue)
            mission = self._queued.pop(mission_id)
            self._current = mission
            if mission.state is Lifecycle.PAUSED:
                mission.resume(now_s)
            else:
                mission.start(now_s)
            return

    def _held_for_dock(self, now_s: float) -> bool:
        """While the dock is unavailable and the reserve is reached, only a dock mission may start."""
        if not self._dock_failed or now_s >= self._no_auto_dock_before_s or not self._queue:
            return False
        return self._queued[sorted(self._queue)[0][2]].kind != DOCK_KIND

    def _relay(self, event: ev.MissionEvent) -> None:
        if event.kind == ev.ALERT:
            self._alerted.add(event.mission_id)
        self._outer_emit(event)

    def _finish(self, mission: Mission) -> None:
        if self._current is mission:
            self._current = None
        assert mission.result is not None
        self.history.append(mission.result)
        if mission.mission_id == self._auto_dock_id:
            # no second automatic dock trip for a while, whatever the outcome: a reserve flag that
            # stays up after a full charge must not bounce the robot between dock and work
            self._auto_dock_id = None
            self._no_auto_dock_before_s = self.ctx.clock.now_s() + self.dock_retry_s
            self._dock_failed = mission.result.outcome != Lifecycle.SUCCEEDED.value
            if self._dock_failed:
                self._emit(
                    ev.ALERT, mission, reason=mission.result.reason,
                    data={"alert_id": f"{mission.mission_id}.dock", "severity": ev.Severity.HIGH.value,
                          "category": "battery",
                          "summary": f"Battery reserve reached and docking failed ({mission.result.reason})"
                                     " - robot needs attention",
                          "where": {"place": self.ctx.home_dock, "x_m": 0.0, "y_m": 0.0},
                          "evidence_ref": None},
                )
        if mission.result.outcome == Lifecycle.FAILED.value and mission.mission_id not in self._alerted:
            # every failure reaches an operator, not only the mission result: one alert, with the
            # reason, for a mission that did not raise its own
            self._emit(
                ev.ALERT, mission, reason=mission.result.reason,
                data={"alert_id": f"{mission.mission_id}.failed", "severity": ev.Severity.MEDIUM.value,
                      "category": "mission.failed",
                      "summary": f"{mission.kind} {mission.mission_id} failed: {mission.result.reason}"[:500],
                      "where": None, "evidence_ref": None},
            )
        self._alerted.discard(mission.mission_id)

    def _push(self, mission: Mission, seq: int) -> None:
        self._seq_of[mission.mission_id] = seq
        self._queued[mission.mission_id] = mission
        heapq.heappush(self._queue, (-mission.priority, seq, mission.mission_id))

    def _new_id(self) -> str:
        candidate = f"{self.ctx.robot_id}-m{self._seq + 1:05d}"
        suffix = 0
        while candidate in self._known_ids:
            suffix += 1
            candidate = f"{self.ctx.robot_id}-m{self._seq + 1:05d}-{suffix}"
        return candidate

    def _emit(
        self, kind: str, mission: Mission, *, reason: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        self.ctx.emit(
            ev.MissionEvent(
                kind=kind,
                robot_id=self.ctx.robot_id,
                mission_id=mission.mission_id,
                mission_kind=mission.kind,
                stamp_s=self.ctx.clock.now_s(),
                step=mission.step.name.lower(),
                reason=reason,
                data=data or {},
            )
        )


def _safety_hold_reason(safety: SafetyStatus) -> str | None:
    if safety.estop_latched:
        return f"e-stop latched: {safety.reason}" if safety.reason else "e-stop latched"
    if not safety.motion_allowed:
        return f"{safety.state.value}: {safety.reason}" if safety.reason else safety.state.value
    return None
