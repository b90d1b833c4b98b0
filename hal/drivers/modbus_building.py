"""Lifts and powered doors driven over Modbus TCP (docs/protocols/modbus-building.md).

`ModbusLiftCaller` (`("lift_caller", "modbus")`, here) and `ModbusDoorOpener` (`("door_opener",
"modbus")`, in `modbus_doors.py`; `register` below registers both) speak to the building's
gateways: one unit per lift car and per door. A command is one FC 23 transaction (write HR 0..3,
read the result in HR 4..5); a handle polls one FC 4 read of the unit's input registers per
`poll()`. The site is configuration, not discovery:

```yaml
lifts:
  kind: lift_caller
  model: modbus
  host: 10.0.8.20            # the lift group gateway (a lift may name its own host / port)
  port: 502
  session: 7                 # this robot's session number (default: derived from the robot id)
  lifts:
    lift-a:
      unit: 1
      levels: {0: {lobby: lobby-a-0, car: car-a-0}, 1: {lobby: lobby-a-1, car: car-a-1}}
  places: {ward-3: 1, pharmacy: 0}   # place -> level, for place_level (lobbies and cars are known)
doors:
  kind: door_opener
  model: modbus
  host: 10.0.8.21
  doors: {door-3a: {unit: 101}, door-3b: {unit: 102}}
  routes:                    # per place, the door sequences that reach it, preferred first
    ward-3: [[door-3a, door-3b], [door-3c]]
    pharmacy: [[]]           # reached through no powered door
```

The routes are written from the robot's usual corridor: the driver does not know where the robot
stands. Every request is bounded by `timeout_s` × (1 + `retries`); a controller that does not
answer is a `ControllerTimeout` naming the unit and gateway, a heartbeat stuck for
`heartbeat_timeout_s` (robot clock) a `ControllerFrozen` fault, a register out of its range a
`BadRegisterValue` naming the register. In a handle these end it FAILED with the reason.
"""


from __future__ import annotations

import enum
from collections.abc import Collection
from typing import Self

import pydantic

from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth, HealthStatus
from hal.drivers import modbus_map as mm
from hal.drivers.modbus_doors import ModbusDoorOpener, ModbusDoorOpenerConfig, build_door_opener
from hal.drivers.modbus_site import (
    ModbusLinkConfig,
    ModbusUnitConfig,
    ModbusUnits,
    Position,
    default_session,
)
from hal.handle import HandleStatus
from hal.lift_caller import (
    RESERVED_WAIT_S,
    LiftCaller,
    LiftDoor,
    LiftFailure,
    LiftFailureKind,
    LiftHandle,
    LiftMode,
    LiftMotion,
    LiftRoute,
    LiftState,
    LiftStop,
    LiftUnavailable,
    NoLiftRoute,
)
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry

__all__ = ["ModbusDoorOpener", "ModbusDoorOpenerConfig", "ModbusLiftCaller", "ModbusLiftCallerConfig",
           "default_session", "register"]

_DOOR = {0: LiftDoor.CLOSED, 1: LiftDoor.OPENING, 2: LiftDoor.OPEN, 3: LiftDoor.CLOSING}
_MOTION = {0: LiftMotion.IDLE, 1: LiftMotion.UP, 2: LiftMotion.DOWN}
_MODE = {0: LiftMode.NORMAL, 1: LiftMode.OUT_OF_SERVICE, 2: LiftMode.FIRE_SERVICE}
_MODE_KIND = {LiftMode.OUT_OF_SERVICE: LiftFailureKind.OUT_OF_SERVICE,
              LiftMode.FIRE_SERVICE: LiftFailureKind.FIRE_SERVICE}
_MODE_WORDS = {LiftMode.OUT_OF_SERVICE: "car out of service", LiftMode.FIRE_SERVICE: "car in fire service (fire alarm)"}


class _Motion(enum.IntEnum):
    IDLE = 0
    UP = 1
    DOWN = 2


class _Mode(enum.IntEnum):
    NORMAL = 0
    OUT_OF_SERVICE = 1
    FIRE_SERVICE = 2


# -- configuration ---------------------------------------------------------------------------------

class LevelPlaces(DeviceConfig):
    lobby: str  # where the robot waits for the car on this level
    car: str  # the car's place on this level


class ModbusLiftConfig(ModbusUnitConfig):
    levels: dict[int, LevelPlaces]


class ModbusLiftCallerConfig(ModbusLinkConfig):
    lifts: dict[str, ModbusLiftConfig]
    places: dict[str, int] = pydantic.Field(default_factory=dict)
    travel_s_per_level: float = pydantic.Field(8.0, ge=0)  # for the expected wait
    door_cycle_s: float = pydantic.Field(6.0, ge=0)
    held_wait_s: float = pydantic.Field(60.0, ge=0)  # added when another robot holds the car

    @pydantic.model_validator(mode="after")
    def _places_have_one_level(self) -> Self:
        level_of(self)
        return self


def level_of(config: ModbusLiftCallerConfig) -> dict[str, int]:
    """Every known place's level; ValueError for a place given two levels."""
    levels = dict(config.places)
    for lift, cfg in config.lifts.items():
        for level, places in cfg.levels.items():
            for place in (places.lobby, places.car):
                if levels.setdefault(place, level) != level:
                    raise ValueError(f"lift {lift}: place {place!r} is on level {levels[place]}, not {level}")
    return levels


# -- lifts -----------------------------------------------------------------------------------------

class _Car:
    """One decoded read of a lift unit."""

    def __init__(self, state: LiftState, session: int, fault_bits: int) -> None:
        self.state, self.session, self.fault_bits = state, session, fault_bits


class ModbusLiftCaller(LiftCaller):
    def __init__(self, name: str, clock: Clock, config: ModbusLiftCallerConfig, *, session: int) -> None:
        super().__init__(name, clock)
        self.config = config
        self.session = session
        self._levels = level_of(config)
        self._units = ModbusUnits(name, clock, config)

    def setup(self) -> None:
        super().setup()
        self._units.identify(self.config.lifts, mm.DeviceKind.LIFT_CAR)

    def close(self) -> None:
        self._units.close()
        super().close()

    @property
    def requests(self) -> int:
        return self._units.gateways.requests

    def health(self) -> DeviceHealth:
        error = self._units.error
        return self._health(HealthStatus.ERROR, error) if error is not None else self._health(HealthStatus.OK)

    def _lift(self, lift: str) -> ModbusLiftConfig:
        if lift not in self.config.lifts:
            raise DeviceError(self.name, f"unknown lift {lift!r} (lifts: {', '.join(sorted(self.config.lifts))})")
        return self.config.lifts[lift]

    def _read(self, lift: str) -> _Car:
        cfg = self._lift(lift)
        reader = self._units.gateways.reader(cfg)
        kind = mm.DeviceKind.LIFT_CAR
        with self._units.tracking(lift):
            r = reader.read(cfg.unit, kind)
            door = reader.decode(cfg.unit, kind, r, mm.IR_CAR_DOOR, Position)
            motion = reader.decode(cfg.unit, kind, r, mm.IR_MOTION, _Motion)
            mode = reader.decode(cfg.unit, kind, r, mm.IR_MODE, _Mode)
        target = mm.to_int16(r[mm.IR_TARGET_LEVEL])
        session = r[mm.IR_SESSION]
        state = LiftState(lift, mm.to_int16(r[mm.IR_CAR_LEVEL]), _DOOR[door], _MOTION[motion], _MODE[mode],
                          held=session == self.session, free=session == 0,
                          target_level=None if target == mm.NO_TARGET else target, stamp_s=self.clock.now_s())
        faults = r[mm.IR_FAULT]
        self._units.note_faults(lift, f"lift {lift}", faults)
        return _Car(state, session, faults)

    def _command(self, lift: str, command: mm.LiftCommand, argument: int = 0, *,
                 wait_if_held: bool = False) -> bool:
        """Send; `LiftUnavailable` with the reason in words when the controller refuses. With
        `wait_if_held`, a car held by another robot is not an error: False (call again later)."""
        self._require_open()
        result = self._units.command(lift, self._lift(lift), self.session, command, argument)
        if result is mm.Result.OK:
            return True
        if wait_if_held and result is mm.Result.HELD_BY_OTHER:
            return False
        kind, words = self._refusal(lift, result, argument)
        raise LiftUnavailable(self.name, f"lift {lift}: {words}", lift=lift, kind=kind)

    def _refusal(self, lift: str, result: mm.Result, level: int) -> tuple[LiftFailureKind, str]:
        if result is mm.Result.OUT_OF_SERVICE:
            return LiftFailureKind.OUT_OF_SERVICE, "car out of service"
        if result is mm.Result.FIRE_SERVICE:
            return LiftFailureKind.FIRE_SERVICE, "car in fire service (fire alarm)"
        if result is mm.Result.HELD_BY_OTHER:
            try:
                holder = f" (session {self._read(lift).session})"
            except DeviceError:
                holder = ""
            return LiftFailureKind.REFUSED, f"car held by another robot{holder}"
        if result is mm.Result.NOT_HELD:
            return LiftFailureKind.SESSION_LOST, "this robot does not hold the car"
        if result is mm.Result.LEVEL_NOT_SERVED:
            return LiftFailureKind.REFUSED, f"car does not serve level {level}"
        return LiftFailureKind.REFUSED, f"refused by the lift controller (result {int(result)} {result.name.lower()})"

    # -- LiftCaller ----------------------------------------------------------------------------------

    def place_level(self, place: str) -> int:
        self._require_open()
        if place not in self._levels:
            raise DeviceError(self.name, f"unknown place {place!r}")
        return self._levels[place]

    def route(self, from_level: int, to_level: int, *, avoid: Collection[str] = ()) -> LiftRoute:
        self._require_open()
        serving = [lift for lift in sorted(self.config.lifts)
                   if {from_level, to_level} <= self.config.lifts[lift].levels.keys()]
        candidates = [lift for lift in serving if lift not in avoid]
        if not candidates:
            why = "every lift serving them is avoided" if serving else "no lift serves both"
            raise NoLiftRoute(self.name, f"levels {from_level} -> {to_level}: {why}")
        best: tuple[float, str] | None = None
        reserved = self.reserved_elsewhere()
        reasons: list[str] = []
        modes: set[LiftMode] = set()
        for lift in candidates:
            try:
                car = self._read(lift)
            except DeviceError as exc:
                reasons.append(exc.reason)
                continue
            state = car.state
            if state.mode is not LiftMode.NORMAL or car.fault_bits:
                modes.add(state.mode)
                reasons.append(f"lift {lift}: " + (_MODE_WORDS.get(state.mode) or mm.describe_faults(car.fault_bits)))
                continue
            wait_s = abs(state.car_level - from_level) * self.config.travel_s_per_level + self.config.door_cycle_s
            if not (state.free or state.held):
                wait_s += self.config.held_wait_s
            if lift in reserved:
                wait_s += RESERVED_WAIT_S
            if best is None or wait_s < best[0]:
                best = (wait_s, lift)
        if best is None:  # fire service first: it means no rides at all
            kind = next((_MODE_KIND[m] for m in (LiftMode.FIRE_SERVICE, LiftMode.OUT_OF_SERVICE) if m in modes),
                        LiftFailureKind.FAULT)
            raise LiftUnavailable(self.name, "no lift in service: " + "; ".join(reasons), kind=kind)
        wait_s, lift = best
        levels = self.config.lifts[lift].levels
        return LiftRoute(lift, from_level, to_level, board_at=levels[from_level].lobby, car_from=levels[from_level].car,
                         car_to=levels[to_level].car, leave_at=levels[to_level].lobby, expected_wait_s=wait_s,
                         lobbies=tuple((level, places.lobby) for level, places in sorted(levels.items())))

    def lobby(self, lift: str, level: int | None) -> str | None:
        """The configured lobby place of `lift` on `level`."""
        places = self._lift(lift).levels.get(level) if level is not None else None
        return places.lobby if places is not None else None

    def start_call(self, route: LiftRoute) -> LiftHandle:
        """A car held by another robot is waited for (capacity one): the handle places the hall
        call again on every poll until the car takes it, as the in-process device does."""
        claimed = self._command(route.lift, mm.LiftCommand.HALL_CALL, route.from_level, wait_if_held=True)
        return _CarHandle(self, route.lift, route.from_level, riding=False, claimed=claimed)

    def start_travel(self, route: LiftRoute) -> LiftHandle:
        self._command(route.lift, mm.LiftCommand.CAR_CALL, route.to_level)
        return _CarHandle(self, route.lift, route.to_level, riding=True, claimed=True)

    def claim(self, lift: str, level: int) -> bool:
        """Place the hall call again; False while another robot holds the car."""
        return self._command(lift, mm.LiftCommand.HALL_CALL, level, wait_if_held=True)

    def hold_door(self, lift: str) -> None:
        self._command(lift, mm.LiftCommand.HOLD_DOOR)

    def release(self, lift: str) -> None:
        self._command(lift, mm.LiftCommand.RELEASE)

    def status(self, lift: str) -> LiftState:
        self._require_open()
        return self._read(lift).state


class _CarHandle(LiftHandle):
    """Succeeds when the held car stands open at `level`. A call fails at once when the car leaves
    normal service; a ride waits until the car stands open somewhere (the robot leaves there, the
    failure names the level). An unclaimed call (the car was held by another robot) calls again
    on every poll."""

    def __init__(self, owner: ModbusLiftCaller, lift: str, level: int, *, riding: bool, claimed: bool) -> None:
        super().__init__()
        self._owner, self._lift, self._level, self._riding = owner, lift, level, riding
        self.claimed = claimed

    def poll(self) -> HandleStatus:
        if self.status.done:
            return self.status
        try:
            car = self._owner._read(self._lift)
            if not self.claimed and car.state.mode is LiftMode.NORMAL and not car.fault_bits:
                self.claimed = self._owner.claim(self._lift, self._level)
                if self.claimed:
                    car = self._owner._read(self._lift)
        except LiftUnavailable as exc:
            self.fail_with(LiftFailure(self._lift, exc.kind, exc.reason))
            return self.status
        except DeviceError as exc:
            self.fail_with(LiftFailure(self._lift, LiftFailureKind.FAULT, exc.reason))
            return self.status
        state = car.state
        self.set_feedback(state)
        if car.fault_bits:
            self._fail(LiftFailureKind.FAULT, mm.describe_faults(car.fault_bits), state)
        elif state.mode is not LiftMode.NORMAL:
            if not self._riding or state.open_at is not None:
                self._fail(_MODE_KIND[state.mode], _MODE_WORDS[state.mode], state)
        elif not self.claimed:
            pass  # another robot still holds the car
        elif not state.held:
            holder = "free" if state.free else f"held by session {car.session}"
            self._fail(LiftFailureKind.SESSION_LOST, f"the controller ended this robot's session (car now {holder})",
                       state)
        elif state.open_at == self._level:
            self.succeed(LiftStop(self._lift, self._level, state.stamp_s))
        return self.status

    def _fail(self, kind: LiftFailureKind, reason: str, state: LiftState) -> None:
        """A rider gets off where the car stands open (that floor's lobby next); a caller is not aboard."""
        level = state.open_at if self._riding else None
        self.fail_with(LiftFailure(self._lift, kind, reason, level=level,
                                   leave_at=self._owner.lobby(self._lift, level)))


# -- registration ----------------------------------------------------------------------------------

def build_lift_caller(name: str, config: ModbusLiftCallerConfig, ctx: BuildContext) -> ModbusLiftCaller:
    return ModbusLiftCaller(name, ctx.clock, config, session=config.session or default_session(ctx.robot_id))


def register(registry: DeviceRegistry) -> None:
    registry.register("lift_caller", "modbus", ModbusLiftCallerConfig, build_lift_caller)
    registry.register("door_opener", "modbus", ModbusDoorOpenerConfig, build_door_opener)
