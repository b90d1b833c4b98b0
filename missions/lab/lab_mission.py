"""What the lab robot's missions (`missions.lab_run`, `missions.sample_pickup`) share: the
operation in flight, driving to a named place, running a queue of tube moves, and the journal
form of a move plan. Each mission keeps its own steps, tables and records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

from hal.tube_handler import TubeHandler
from missions.base import Mission
from missions.journey import go_to
from missions.lab.moves import Move, TubeMover
from missions.timing import Attempts, OpStatus

NAV_RETRY_WAIT_S = 5.0
MOVE_RETRY_WAIT_S = 2.0


class NavTuning(Protocol):
    """The navigation fields of a lab mission's params."""

    @property
    def nav_timeout_s(self) -> float: ...

    @property
    def nav_attempts(self) -> int: ...


def plan_entry(moves: Sequence[Move]) -> dict[str, Any]:
    """A move plan as it is journaled before it runs."""
    return {"moves": [[m.source, m.destination] for m in moves]}


def plan_from_entry(data: dict[str, Any]) -> list[Move]:
    return [Move(source, destination) for source, destination in data["moves"]]


class LabMission(Mission):
    """A lab mission's operation in flight (`_attempt`, or `_mover` for tube moves; either is
    `_op`, so a pause cancels it) and its two common waits."""

    # the fault reason's prefix for a failed navigation; {place} is the destination
    NAV_FAILURE: ClassVar[str] = "navigation failed"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attempt: Attempts[Any] | None = None
        self._mover: TubeMover | None = None

    def _track(self, attempt: Attempts[Any]) -> Attempts[Any]:
        self._op = attempt
        return attempt

    def _navigated(self, now_s: float, place: str, tuning: NavTuning) -> bool:
        """True on arrival (or without a navigator); a failed navigation takes the fault exit."""
        navigator = self.ctx.devices.navigator
        if navigator is None:
            return True
        if self._attempt is None:
            self._attempt = self._track(go_to(self.ctx.devices, place, nav_timeout_s=tuning.nav_timeout_s,
                                              nav_attempts=tuning.nav_attempts, nav_retry_wait_s=NAV_RETRY_WAIT_S))
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"{self.NAV_FAILURE.format(place=place)}: {self._attempt.reason}")
        return status is OpStatus.SUCCEEDED

    def _moved(self, now_s: float, moves: Sequence[Move], *, timeout_s: float, attempts: int, failure: str) -> bool:
        """True once every move is done; a failed move takes the step's fault exit (with the
        mover's reason, or `failure` when it gave none)."""
        if self._mover is None:
            handler = self.ctx.devices.require(TubeHandler)
            self._mover = TubeMover(handler, moves, timeout_s=timeout_s, attempts=attempts,
                                    retry_wait_s=MOVE_RETRY_WAIT_S)
            self._op = self._mover
        if self._mover.finished:
            return True
        status = self._mover.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(self._mover.failure or failure)
            return False
        return status is OpStatus.SUCCEEDED
