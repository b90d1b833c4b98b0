"""The building's powered and fire doors, as the building model steps them on the sim clock.

A powered (``auto``) door opens `open_s` after a request and closes by itself `hold_s` after it
opened (a repeated request while open extends the hold). A fire door is held open on magnets in
normal service and released — closed — when the fire alarm rings; it refuses to open for a robot
until the alarm clears, then opens again. A jammed door (`jam(door, until_s)`) answers nothing and
reports a fault until `until_s`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.building_controllers import DoorPosition, DoorStatus
from sim.world import Door


@dataclass
class _DoorState:
    door: Door
    position: DoorPosition
    done_s: float = 0.0  # when OPENING/CLOSING ends
    open_until_s: float = float("inf")  # when an OPEN door starts closing
    jammed_until_s: float = float("-inf")


class BuildingDoors:
    def __init__(self, doors: dict[str, Door], *, open_s: float = 4.0, hold_s: float = 60.0) -> None:
        self.open_s = open_s
        self.hold_s = hold_s
        self._fire = False
        self._doors = {
            name: _DoorState(door, DoorPosition.OPEN if door.fire else DoorPosition.CLOSED)
            for name, door in sorted(doors.items()) if door.auto or door.fire
        }
        self.requests: list[tuple[float, str, int]] = []  # (stamp, door, session)
        self._fire_doors = frozenset(name for name, state in self._doors.items() if state.door.fire)

    def names(self) -> list[str]:
        return list(self._doors)

    def fire_shut(self) -> frozenset[str]:
        """The fire doors the alarm has released (closing or closed): none while it is quiet."""
        return self._fire_doors if self._fire else frozenset()

    def jammed(self, door: str, now_s: float) -> bool:
        return now_s < self._state(door).jammed_until_s

    def status(self, door: str, now_s: float) -> DoorStatus:
        state = self._state(door)
        return DoorStatus(door, state.position, self._fire and state.door.fire, self.jammed(door, now_s), now_s)

    def request_open(self, door: str, session: int, now_s: float) -> None:
        state = self._state(door)
        self.requests.append((now_s, door, session))
        if (self._fire and state.door.fire) or self.jammed(door, now_s):
            return  # stays shut; the status says why
        if state.position in (DoorPosition.CLOSED, DoorPosition.CLOSING):
            state.position, state.done_s = DoorPosition.OPENING, now_s + self.open_s
            state.open_until_s = state.done_s + self._hold(state)
        elif state.position is DoorPosition.OPEN:
            state.open_until_s = max(state.open_until_s, now_s + self._hold(state))

    def jam(self, door: str, until_s: float) -> None:
        self._state(door).jammed_until_s = until_s

    def set_fire_alarm(self, active: bool, now_s: float) -> None:
        self._fire = active
        for state in self._doors.values():
            if not state.door.fire:
                continue
            if active and state.position is not DoorPosition.CLOSED:
                state.position, state.done_s = DoorPosition.CLOSING, now_s + self.open_s
            elif not active and state.position is not DoorPosition.OPEN:
                state.position, state.done_s = DoorPosition.OPENING, now_s + self.open_s
                state.open_until_s = float("inf")  # back on its magnets

    def step(self, now_s: float) -> None:
        for state in self._doors.values():
            self._advance(state, now_s)

    def _advance(self, state: _DoorState, now_s: float) -> None:
        for _ in range(4):  # at most open → close within one step
            if state.position is DoorPosition.OPENING and now_s >= state.done_s:
                state.position = DoorPosition.OPEN
            elif state.position is DoorPosition.OPEN and now_s >= state.open_until_s:
                state.position, state.done_s = DoorPosition.CLOSING, state.open_until_s + self.open_s
            elif state.position is DoorPosition.CLOSING and now_s >= state.done_s:
                state.position = DoorPosition.CLOSED
            else:
                return

    def _hold(self, state: _DoorState) -> float:
        return float("inf") if state.door.fire else self.hold_s

    def _state(self, door: str) -> _DoorState:
        if door not in self._doors:
            raise KeyError(f"no powered or fire door {door!r} (doors: {', '.join(self._doors)})")
        return self._doors[door]
