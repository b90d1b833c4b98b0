"""Powered doors over Modbus TCP (docs/protocols/modbus-building.md): `ModbusDoorOpener`, model
`("door_opener", "modbus")`, registered by `hal.drivers.modbus_building`.

`start_open` sends OPEN (one FC 23 transaction) and returns a handle that polls the door unit's
input registers: it succeeds when the door reports open and fails with the reason when the door is
fire-closed, faulted, or its controller does not answer. `doors_on_route` reads the configured
routes (per place, the door sequences that reach it, preferred first) — the driver does not know
where the robot stands.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Self

import pydantic

from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth, HealthStatus
from hal.door_opener import DoorHandle, DoorOpener, DoorState
from hal.drivers import modbus_map as mm
from hal.drivers.modbus_site import (
    ModbusLinkConfig,
    ModbusUnitConfig,
    ModbusUnits,
    Position,
    default_session,
)
from hal.handle import DrivenHandle, HandleStatus
from hal.registry import BuildContext


class ModbusDoorOpenerConfig(ModbusLinkConfig):
    doors: dict[str, ModbusUnitConfig]
    routes: dict[str, list[list[str]]] = pydantic.Field(default_factory=dict)

    @pydantic.model_validator(mode="after")
    def _routes_name_known_doors(self) -> Self:
        for place, alternatives in self.routes.items():
            for doors in alternatives:
                unknown = sorted(set(doors) - set(self.doors))
                if unknown:
                    raise ValueError(f"route to {place!r} names unknown doors: {', '.join(unknown)}")
        return self


class ModbusDoorOpener(DoorOpener):
    def __init__(self, name: str, clock: Clock, config: ModbusDoorOpenerConfig, *, session: int) -> None:
        super().__init__(name, clock)
        self.config = config
        self.session = session
        self._units = ModbusUnits(name, clock, config)

    def setup(self) -> None:
        super().setup()
        self._units.identify(self.config.doors, mm.DeviceKind.DOOR)

    def close(self) -> None:
        self._units.close()
        super().close()

    def health(self) -> DeviceHealth:
        error = self._units.error
        return self._health(HealthStatus.ERROR, error) if error is not None else self._health(HealthStatus.OK)

    def _door(self, door: str) -> ModbusUnitConfig:
        if door not in self.config.doors:
            raise DeviceError(self.name, f"unknown door {door!r} (doors: {', '.join(sorted(self.config.doors))})")
        return self.config.doors[door]

    def read(self, door: str) -> tuple[Position, bool, int]:
        """(position, fire_closed, fault bits) of `door`."""
        self._require_open()
        cfg = self._door(door)
        reader = self._units.gateways.reader(cfg)
        kind = mm.DeviceKind.DOOR
        with self._units.tracking(door):
            r = reader.read(cfg.unit, kind)
            position = reader.decode(cfg.unit, kind, r, mm.IR_DOOR_POSITION, Position)
            fire_closed = reader.flag(cfg.unit, kind, r, mm.IR_FIRE_CLOSED)
        faults = r[mm.IR_FAULT]
        self._units.note_faults(door, f"door {door}", faults)
        return position, fire_closed, faults

    def doors_on_route(self, place: str, *, avoid: Collection[str] = ()) -> list[str] | None:
        self._require_open()
        if place not in self.config.routes:
            raise DeviceError(self.name, f"unknown place {place!r} (no route configured)")
        for doors in self.config.routes[place]:
            if not set(doors) & set(avoid):
                return list(doors)
        return None

    def start_open(self, door: str) -> DoorHandle:
        self._require_open()
        result = self._units.command(door, self._door(door), self.session, mm.DoorCommand.OPEN)
        handle = _DoorHandle(self, door)
        if result is mm.Result.DOOR_FIRE_CLOSED:
            handle.fail(f"door {door} is fire-closed by the alarm")
        elif result is mm.Result.DOOR_FAULTED:
            handle.fail(f"door {door}: controller reports a fault")
        elif result is not mm.Result.OK:
            handle.fail(f"door {door}: refused (result {int(result)} {result.name.lower()})")
        return handle

    def state(self, door: str) -> DoorState:
        position, _, _ = self.read(door)
        return DoorState(door, position is Position.OPEN, self.clock.now_s())


class _DoorHandle(DrivenHandle[DoorState, str]):
    def __init__(self, owner: ModbusDoorOpener, door: str) -> None:
        super().__init__()
        self._owner, self._door = owner, door

    def poll(self) -> HandleStatus:
        if self.status.done:
            return self.status
        try:
            position, fire_closed, faults = self._owner.read(self._door)
        except DeviceError as exc:
            self.fail(exc.reason)
            return self.status
        self.set_feedback(position.name.lower())
        if fire_closed:
            self.fail(f"door {self._door} is fire-closed by the alarm")
        elif faults:
            self.fail(f"door {self._door}: {mm.describe_faults(faults)}")
        elif position is Position.OPEN:
            self.succeed(DoorState(self._door, True, self._owner.clock.now_s()))
        return self.status


def build_door_opener(name: str, config: ModbusDoorOpenerConfig, ctx: BuildContext) -> ModbusDoorOpener:
    return ModbusDoorOpener(name, ctx.clock, config, session=config.session or default_session(ctx.robot_id))
