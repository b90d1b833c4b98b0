"""A small deterministic building for the Modbus tests: lifts and doors implementing
`sim.building_controllers` and stepped by hand (`step(now_s)`), nothing else.

A car closes its doors at once, moves one level per `travel_s_per_level` and opens on arrival;
a door opens `open_s` after the request and closes `hold_s` after it stood open.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.building_controllers import (
    DoorPosition,
    DoorStatus,
    LiftMode,
    LiftRefused,
    LiftStatus,
    Motion,
)


@dataclass
class FakeCar:
    levels: set[int]
    level: int = 0
    door: DoorPosition = DoorPosition.OPEN
    mode: LiftMode = LiftMode.NORMAL
    session: int = 0
    target: int | None = None
    next_move_s: float = 0.0


@dataclass
class FakeDoor:
    position: DoorPosition = DoorPosition.CLOSED
    fire_closed: bool = False
    fault: bool = False
    open_at_s: float | None = None
    close_at_s: float | None = None


@dataclass
class FakeBuilding:
    cars: dict[str, FakeCar] = field(default_factory=dict)
    doors: dict[str, FakeDoor] = field(default_factory=dict)
    travel_s_per_level: float = 4.0
    open_s: float = 2.0
    hold_s: float = 30.0
    now_s: float = 0.0
    calls: list[tuple[str, str, int]] = field(default_factory=list)

    # -- LiftControllers --------------------------------------------------------------------------

    def lift_names(self) -> list[str]:
        return sorted(self.cars)

    def lift_status(self, lift: str) -> LiftStatus:
        car = self.cars[lift]
        motion = Motion.IDLE if car.target is None else (Motion.UP if car.target > car.level else Motion.DOWN)
        return LiftStatus(lift, car.level, car.door, motion, car.mode, car.session, car.target, self.now_s)

    def _refuse_unless_normal(self, lift: str) -> FakeCar:
        car = self.cars[lift]
        if car.mode is LiftMode.FIRE_SERVICE:
            raise LiftRefused(lift, "in fire service")
        if car.mode is LiftMode.OUT_OF_SERVICE:
            raise LiftRefused(lift, "out of service")
        return car

    def _go(self, car: FakeCar, level: int) -> None:
        if level not in car.levels:
            raise LiftRefused("?", f"does not serve level {level}")
        if car.level == level:
            car.door, car.target = DoorPosition.OPEN, None
            return
        car.door, car.target = DoorPosition.CLOSED, level
        car.next_move_s = self.now_s + self.travel_s_per_level

    def hall_call(self, lift: str, level: int, session: int) -> None:
        self.calls.append(("hall_call", lift, session))
        car = self._refuse_unless_normal(lift)
        if car.session not in (0, session):
            raise LiftRefused(lift, f"held by session {car.session}")
        self._go(car, level)
        car.session = session

    def car_call(self, lift: str, level: int, session: int) -> None:
        self.calls.append(("car_call", lift, session))
        car = self._refuse_unless_normal(lift)
        if car.session != session:
            raise LiftRefused(lift, "not held by this session")
        self._go(car, level)

    def hold_door(self, lift: str, session: int) -> None:
        car = self._refuse_unless_normal(lift)
        if car.session != session:
            raise LiftRefused(lift, "not held by this session")
        if car.target is None:
            car.door = DoorPosition.OPEN

    def release(self, lift: str, session: int) -> None:
        self.calls.append(("release", lift, session))
        car = self.cars[lift]
        if car.session == session:
            car.session = 0

    # -- DoorControllers ---------------------------------------------------------------------------

    def door_names(self) -> list[str]:
        return sorted(self.doors)

    def door_status(self, door: str) -> DoorStatus:
        d = self.doors[door]
        return DoorStatus(door, d.position, d.fire_closed, d.fault, self.now_s)

    def request_open(self, door: str, session: int) -> None:
        d = self.doors[door]
        if d.fire_closed or d.fault:
            return
        if d.position is not DoorPosition.OPEN:
            d.position, d.open_at_s = DoorPosition.OPENING, self.now_s + self.open_s
        d.close_at_s = self.now_s + self.open_s + self.hold_s

    # -- the sim clock -------------------------------------------------------------------------------

    def step(self, now_s: float) -> None:
        self.now_s = now_s
        for car in self.cars.values():
            while car.target is not None and now_s >= car.next_move_s:
                car.level += 1 if car.target > car.level else -1
                car.next_move_s += self.travel_s_per_level
                if car.level == car.target:
                    car.target, car.door = None, DoorPosition.OPEN
        for d in self.doors.values():
            if d.open_at_s is not None and now_s >= d.open_at_s:
                d.position, d.open_at_s = DoorPosition.OPEN, None
            if d.close_at_s is not None and now_s >= d.close_at_s:
                d.position, d.close_at_s = DoorPosition.CLOSED, None

    def take_out_of_service(self, lift: str) -> None:
        """Stop at the next floor with the doors open."""
        car = self.cars[lift]
        car.mode, car.target, car.door = LiftMode.OUT_OF_SERVICE, None, DoorPosition.OPEN


def two_lifts_two_doors() -> FakeBuilding:
    return FakeBuilding(
        cars={"lift-a": FakeCar({0, 1, 2, 3}), "lift-b": FakeCar({0, 1}, level=1)},
        doors={"door-1": FakeDoor(), "door-2": FakeDoor()},
    )
