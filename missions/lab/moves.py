"""Moving tubes one at a time, idempotently, so that a pause, an e-stop or a restart in the
middle of a move never loses or duplicates a tube.

A move (source → destination) looks at what the handler reports before acting:

- the gripper holds the source's tube → place it at the destination;
- the gripper holds another tube → put that one back where it came from first;
- the source holds a tube → pick it, then place it;
- the source is empty and the destination full → the move was already done (e.g. before a
  restart); both empty → the tube is missing: a fault with the positions named.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hal.handle import Handle
from hal.tube_handler import TubeHandler, TubeMove, area_of
from missions.timing import Attempts, OpStatus


@dataclass(frozen=True, slots=True)
class Move:
    source: str
    destination: str


class TubeMover:
    """Runs a queue of moves with per-operation deadlines and retries; `poll()` never blocks."""

    def __init__(
        self, handler: TubeHandler, moves: Sequence[Move], *, timeout_s: float, attempts: int, retry_wait_s: float
    ) -> None:
        self.handler = handler
        self.moves = list(moves)
        self.done: list[Move] = []
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._retry_wait_s = retry_wait_s
        self._op: Attempts[TubeMove] | None = None
        self._op_what = ""
        self.failure: str | None = None

    @property
    def finished(self) -> bool:
        return not self.moves

    def cancel(self) -> None:
        if self._op is not None:
            self._op.cancel()
            self._op = None

    def poll(self, now_s: float) -> OpStatus:
        """SUCCEEDED when every move is done, FAILED (see `failure`) when one cannot be. A
        `DeviceError` from the handler's queries propagates (the mission's fault exit)."""
        for _ in range(4 * len(self.moves) + 4):  # bounded: each pass either waits or progresses
            if self.failure is not None:
                return OpStatus.FAILED
            if not self.moves:
                return OpStatus.SUCCEEDED
            if self._op is None:
                self._next_operation()
                continue
            status = self._op.poll(now_s)
            if status is OpStatus.RUNNING:
                return status
            op, self._op = self._op, None
            if status is OpStatus.FAILED:
                self.failure = f"tube handler: {self._op_what} failed: {op.reason}"
        return OpStatus.RUNNING

    def _next_operation(self) -> None:
        move = self.moves[0]
        held = self.handler.holding()
        if held == move.source:
            if move.destination in self._occupied(move.destination):
                self.failure = f"cannot place at {move.destination}: the position is full"
                return
            self._start(f"place at {move.destination}", lambda: self.handler.start_place(move.destination))
            return
        if held is not None:  # someone else's tube (an interrupted move): put it back first
            self._start(f"place back at {held}", lambda: self.handler.start_place(held))
            return
        if move.source == move.destination:  # put back where it was: done once it is there
            if move.source in self._occupied(move.source):
                self.done.append(self.moves.pop(0))
            else:
                self.failure = f"no tube at {move.source}: tube missing"
            return
        if move.source in self._occupied(move.source):
            self._start(f"pick at {move.source}", lambda: self.handler.start_pick(move.source))
            return
        if move.destination in self._occupied(move.destination):
            self.done.append(self.moves.pop(0))  # placed already (the tube is where it should be)
            return
        self.failure = f"no tube at {move.source} nor at {move.destination}: tube missing"

    def _occupied(self, position_name: str) -> frozenset[str]:
        return self.handler.rack(area_of(position_name)).occupied

    def _start(self, what: str, start: Callable[[], Handle[TubeMove, str]]) -> None:
        self._op_what = what
        self._op = Attempts(what, start, timeout_s=self._timeout_s, max_attempts=self._attempts,
                            retry_wait_s=self._retry_wait_s)
