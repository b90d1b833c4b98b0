"""A Modbus TCP gateway for the simulated building's lifts and doors, on pymodbus' own server.

The registers (docs/protocols/modbus-building.md, `hal.drivers.modbus_map`) mirror any object
implementing `sim.building_controllers.LiftControllers` / `DoorControllers`:

- after each simulator step, `sync(now_s)` advances every unit's heartbeat (one call per step,
  whatever the number of units); a unit's input registers are computed from the model's status
  when a client next reads them, so units nobody reads cost nothing;
- a command written by a client is applied to the model at once in the server's handler, and that
  unit's input registers are refreshed, so a read after the write sees the result.

The server runs on its own asyncio loop in a thread. Model access from that thread and from the
simulator's thread is serialised by one lock; the run stays deterministic because the robot's
Modbus calls are synchronous, so the simulator never steps the model while a request is in flight.

Test hooks: `silence(unit)` (no reply at all, or exception 0B with `gateway_reply=True`),
`answer(unit)`, `freeze(unit)` (the gateway answers from its last image: heartbeat stopped,
commands stored but not executed), `thaw(unit)`, `set_fault(unit, bits)`,
`poke_input(unit, register, value)`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from hal.drivers import modbus_map as mm
from sim.building_controllers import DoorControllers, LiftControllers, LiftMode, LiftRefused, LiftStatus
from sim.world import World

log = logging.getLogger(__name__)

FIRST_LIFT_UNIT = 1
FIRST_DOOR_UNIT = 101
_READ_INPUTS = 4
_WRITES = {6, 16, 23}
_LIFT_COMMANDS = {int(c) for c in mm.LiftCommand}
_DOOR_COMMANDS = {int(c) for c in mm.DoorCommand}


@dataclass
class _Unit:
    unit: int
    kind: mm.DeviceKind
    name: str
    inputs: list[int]
    heartbeat: int = 0
    fault_bits: int = 0
    last_request_id: int = 0
    last_result: int = 0
    silent: bool = False
    gateway_reply: bool = False
    frozen: bool = False
    stale: bool = False  # synced since its registers were last computed
    pokes: dict[int, int] = field(default_factory=dict)


class ModbusBuildingEmulator:
    """Serve `lifts` and `doors` as Modbus units on `host` and a free port (or `port`)."""

    def __init__(
        self,
        lifts: LiftControllers | None = None,
        doors: DoorControllers | None = None,
        *,
        lift_units: Mapping[str, int] | None = None,
        door_units: Mapping[str, int] | None = None,
        served_levels: Mapping[str, Collection[int]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout_s: float = 5.0,
    ) -> None:
        self._lifts = lifts
        self._doors = doors
        self._served = {lift: set(levels) for lift, levels in (served_levels or {}).items()}
        self._host = host
        self._port = port
        self._start_timeout_s = start_timeout_s
        self._lock = threading.Lock()
        self._units: dict[int, _Unit] = {}
        lift_names = lifts.lift_names() if lifts is not None else []
        door_names = doors.door_names() if doors is not None else []
        self._add_units(mm.DeviceKind.LIFT_CAR, lift_names, lift_units, FIRST_LIFT_UNIT)
        self._add_units(mm.DeviceKind.DOOR, door_names, door_units, FIRST_DOOR_UNIT)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: ModbusTcpServer | None = None
        self.now_s = 0.0
        self.commands: list[tuple[int, int, int, int, int]] = []  # (unit, command, argument, session, result)
        with self._lock:
            for unit in self._units.values():
                self._refresh(unit)

    def _add_units(self, kind: mm.DeviceKind, names: list[str], given: Mapping[str, int] | None,
                   first: int) -> None:
        what = "lift" if kind is mm.DeviceKind.LIFT_CAR else "door"
        if given is not None:
            unknown = sorted(set(given) - set(names))
            if unknown:
                raise ValueError(f"unit ids given for unknown {what}s: {', '.join(unknown)}")
        units = dict(given) if given is not None else {name: first + i for i, name in enumerate(sorted(names))}
        for name in sorted(names):
            if name not in units:
                raise ValueError(f"no unit id for {what} {name!r}")
            unit = units[name]
            if not 1 <= unit <= 247:
                raise ValueError(f"{name}: unit id {unit} outside 1..247")
            if unit in self._units:
                raise ValueError(f"{name}: unit id {unit} already used by {self._units[unit].name}")
            self._units[unit] = _Unit(unit, kind, name, [0] * mm.INPUT_COUNT[kind])

    # -- what the simulator and the tests use ----------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) the server listens on (after `start()`)."""
        return self._host, self._port

    @property
    def units(self) -> dict[str, int]:
        return {u.name: u.unit for u in self._units.values()}

    @property
    def lift_units(self) -> dict[str, int]:
        return {u.name: u.unit for u in self._units.values() if u.kind is mm.DeviceKind.LIFT_CAR}

    def sync(self, now_s: float) -> None:
        """After a simulator step: copy every unit's state to its registers, advance heartbeats."""
        with self._lock:
            self._sync(now_s)

    def advance(self, now_s: float, step: Callable[[float], None]) -> None:
        """`step(now_s)` (the model's step) then `sync(now_s)`, under the lock that serialises the
        server's handler: for clients that do not run inside the simulator's tick (robots in other
        processes), so the model never steps while one of their commands is applied."""
        with self._lock:
            step(now_s)
            self._sync(now_s)

    def _sync(self, now_s: float) -> None:
        """Heartbeats only: a unit's registers are computed from the model when a client next reads
        them (`_current`), so a step costs ~0.1 µs per unit however many units nobody reads."""
        self.now_s = now_s
        for unit in self._units.values():
            if not unit.frozen:
                unit.heartbeat = (unit.heartbeat + 1) & 0xFFFF
                unit.stale = True

    def _current(self, unit: _Unit) -> list[int]:
        if unit.stale and not unit.frozen:
            self._refresh(unit)
        return unit.inputs

    def silence(self, unit: int, *, gateway_reply: bool = False) -> None:
        """The controller stops answering: no reply, or the gateway's exception 0B."""
        with self._lock:
            self._unit(unit).silent, self._unit(unit).gateway_reply = True, gateway_reply

    def answer(self, unit: int) -> None:
        with self._lock:
            self._unit(unit).silent = False

    def freeze(self, unit: int) -> None:
        """The controller hangs; its gateway keeps answering from the last image."""
        with self._lock:
            self._unit(unit).frozen = True

    def thaw(self, unit: int) -> None:
        with self._lock:
            self._unit(unit).frozen = False
            self._refresh(self._unit(unit))

    def set_fault(self, unit: int, bits: int) -> None:
        with self._lock:
            self._unit(unit).fault_bits = bits
            self._refresh(self._unit(unit))

    def poke_input(self, unit: int, register: int, value: int) -> None:
        """Force an input register to `value` (a bad value for a driver test) until `unpoke`."""
        with self._lock:
            target = self._unit(unit)
            if not 0 <= register < len(target.inputs):
                raise ValueError(f"unit {unit}: no input register {register}")
            target.pokes[register] = mm.to_register(value)
            self._refresh(target)

    def unpoke(self, unit: int) -> None:
        with self._lock:
            self._unit(unit).pokes.clear()
            self._refresh(self._unit(unit))

    def inputs(self, unit: int) -> list[int]:
        with self._lock:
            return list(self._current(self._unit(unit)))

    def _unit(self, unit: int) -> _Unit:
        if unit not in self._units:
            raise KeyError(f"no unit {unit} (units: {sorted(self._units)})")
        return self._units[unit]

    # -- registers from the model (lock held) --------------------------------------------------------------

    def _refresh(self, unit: _Unit) -> None:
        head = [int(unit.kind), mm.MAP_VERSION, unit.heartbeat, unit.fault_bits, unit.last_request_id,
                unit.last_result]
        if unit.kind is mm.DeviceKind.LIFT_CAR:
            assert self._lifts is not None
            s = self._lifts.lift_status(unit.name)
            target = mm.NO_TARGET if s.target_level is None else s.target_level
            tail = [mm.to_register(s.car_level), int(s.door), int(s.motion), int(s.mode), s.session,
                    mm.to_register(target)]
        else:
            assert self._doors is not None
            d = self._doors.door_status(unit.name)
            if d.fault:
                head[mm.IR_FAULT] |= mm.FaultBit.DOOR_FAULT
            tail = [int(d.position), int(d.fire_closed)]
        values = head + tail
        for register, value in unit.pokes.items():
            values[register] = value
        unit.inputs, unit.stale = values, False

    def _execute(self, unit: _Unit, hr: list[int]) -> mm.Result | ExcCodes:
        command, argument, session = hr[mm.HR_COMMAND], mm.to_int16(hr[mm.HR_ARGUMENT]), hr[mm.HR_SESSION]
        if unit.kind is mm.DeviceKind.LIFT_CAR:
            if command not in _LIFT_COMMANDS:
                return ExcCodes.ILLEGAL_VALUE
            if command == mm.LiftCommand.NONE:
                return mm.Result.OK
            if session == 0:
                return ExcCodes.ILLEGAL_VALUE
            return self._lift_command(unit.name, mm.LiftCommand(command), argument, session)
        if command not in _DOOR_COMMANDS:
            return ExcCodes.ILLEGAL_VALUE
        if command == mm.DoorCommand.NONE:
            return mm.Result.OK
        if session == 0:
            return ExcCodes.ILLEGAL_VALUE
        assert self._doors is not None
        self._doors.request_open(unit.name, session)
        status = self._doors.door_status(unit.name)
        if status.fire_closed:
            return mm.Result.DOOR_FIRE_CLOSED
        if status.fault:
            return mm.Result.DOOR_FAULTED
        return mm.Result.OK

    def _lift_command(self, lift: str, command: mm.LiftCommand, level: int, session: int) -> mm.Result:
        assert self._lifts is not None
        lifts = self._lifts
        try:
            if command is mm.LiftCommand.HALL_CALL:
                lifts.hall_call(lift, level, session)
            elif command is mm.LiftCommand.CAR_CALL:
                lifts.car_call(lift, level, session)
            elif command is mm.LiftCommand.HOLD_DOOR:
                lifts.hold_door(lift, session)
            else:
                lifts.release(lift, session)
        except LiftRefused as refused:
            return self._refusal_code(lifts.lift_status(lift), command, level, session, refused.reason)
        return mm.Result.OK

    def _refusal_code(self, status: LiftStatus, command: mm.LiftCommand, level: int, session: int,
                      reason: str) -> mm.Result:
        """A `LiftRefused` as a result code, from the controller's state (the reason's words do not
        cross the wire)."""
        if status.mode is LiftMode.FIRE_SERVICE:
            return mm.Result.FIRE_SERVICE
        if status.mode is LiftMode.OUT_OF_SERVICE:
            return mm.Result.OUT_OF_SERVICE
        if status.session not in (0, session):
            return mm.Result.HELD_BY_OTHER
        if command in (mm.LiftCommand.CAR_CALL, mm.LiftCommand.HOLD_DOOR) and status.session != session:
            return mm.Result.NOT_HELD
        calls = (mm.LiftCommand.HALL_CALL, mm.LiftCommand.CAR_CALL)
        served = self._served.get(status.lift)
        if command in calls and ((served is not None and level not in served) or "serve" in reason.lower()):
            return mm.Result.LEVEL_NOT_SERVED
        return mm.Result.REFUSED

    # -- the server's handler (server thread) ----------------------------------------------------------------

    async def _action(self, unit_id: int, function_code: int, start_address: int, address: int, count: int,
                      registers: list[int], values: list[int] | list[bool] | None) -> ExcCodes | None:
        with self._lock:
            unit = self._units.get(unit_id)
            if unit is None:
                return ExcCodes.GATEWAY_PATH_UNAVIABLE
            if unit.silent:
                if unit.gateway_reply:
                    return ExcCodes.GATEWAY_NO_RESPONSE
                raise NoSuchIdException(f"unit {unit_id} is silenced")  # the server then sends nothing
            if function_code == _READ_INPUTS:
                current = self._current(unit)
                registers[start_address:start_address + len(current)] = current
                return None
            if values is None or function_code not in _WRITES:
                return None  # a read of the holding registers: as stored
            return self._write(unit, start_address, address, registers, [int(v) for v in values])

    def _write(self, unit: _Unit, start_address: int, address: int, registers: list[int],
               values: list[int]) -> ExcCodes | None:
        if address + len(values) > mm.COMMAND_COUNT:
            return ExcCodes.ILLEGAL_ADDRESS  # HR 4..5 are the controller's
        merged = registers[start_address:start_address + mm.COMMAND_COUNT]
        merged[address - start_address:address - start_address + len(values)] = values
        if address > mm.HR_COMMAND or unit.frozen:
            return None  # parameters only, or a hung controller: stored, not executed
        try:
            result = self._execute(unit, merged)
        except Exception:  # a model bug must not kill the server: the client gets exception 04
            log.exception("unit %s (%s): command %s failed", unit.unit, unit.name, merged)
            return ExcCodes.DEVICE_FAILURE
        if isinstance(result, ExcCodes):
            return result
        unit.last_request_id, unit.last_result = merged[mm.HR_REQUEST_ID], int(result)
        registers[start_address + mm.HR_RESULT_REQUEST_ID] = unit.last_request_id
        registers[start_address + mm.HR_RESULT] = unit.last_result
        self.commands.append((unit.unit, merged[0], mm.to_int16(merged[1]), merged[2], int(result)))
        self._refresh(unit)
        return None

    async def _unknown_unit(self, *_args: object) -> ExcCodes | None:
        return ExcCodes.GATEWAY_PATH_UNAVIABLE

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def _devices(self) -> list[SimDevice]:
        bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
        devices = []
        for unit in self._units.values():
            devices.append(SimDevice(
                id=unit.unit,
                simdata=(list(bits), list(bits),
                         [SimData(0, count=mm.HOLDING_COUNT, values=0, datatype=DataType.REGISTERS)],
                         [SimData(0, count=len(unit.inputs), values=0, datatype=DataType.REGISTERS)]),
                action=functools.partial(self._action, unit.unit)))
        whole = [SimData(0, count=126, values=0, datatype=DataType.REGISTERS)]  # any read or write reaches the action
        catch_all = SimDevice(id=0, simdata=(list(bits), list(bits), list(whole), list(whole)),
                              action=self._unknown_unit)
        return [*devices, catch_all]

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        async def open_server() -> None:
            server = ModbusTcpServer(self._devices(), address=(self._host, self._port), ignore_missing_devices=True)
            await server.serve_forever(background=True)
            self._server = server
            self._port = server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]  # an asyncio.Server

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(open_server())
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="modbus-building", daemon=True)
        self._thread.start()
        if not ready.wait(self._start_timeout_s) or failure:
            self.stop()
            raise RuntimeError(f"Modbus emulator did not start on {self._host}:{self._port}: "
                               f"{failure[0] if failure else 'timed out'}")

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close the server and its connections, stop the loop and its thread (each bounded)."""
        loop, thread, server = self._loop, self._thread, self._server
        self._loop = self._thread = self._server = None
        if loop is None or thread is None:
            return
        if server is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(timeout_s)
            except Exception:  # stopping anyway
                log.exception("Modbus emulator shutdown")
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        if not thread.is_alive():
            loop.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# -- the robot's side of the same building ---------------------------------------------------------

def lift_caller_config(world: World, emulator: ModbusBuildingEmulator, *, session: int,
                       timeout_s: float = 0.5, retries: int = 1) -> dict[str, Any]:
    """The fields of a `("lift_caller", "modbus")` device for `world`'s lifts served by `emulator`
    (add `kind` and `model`): units, each floor's lobby and car places, every place's level."""
    host, port = emulator.address
    units = emulator.units
    lifts = {name: {"unit": units[name],
                    "levels": {level: {"lobby": lift.lobbies[level], "car": lift.cars[level]} for level in lift.levels}}
             for name, lift in sorted(world.lifts.items()) if name in units}
    first = next(iter(world.lifts.values()), None)
    return {"host": host, "port": port, "session": session, "timeout_s": timeout_s, "retries": retries,
            "lifts": lifts, "places": {name: place.level for name, place in sorted(world.places.items())},
            **({"travel_s_per_level": first.travel_s_per_level, "door_cycle_s": 2 * first.door_s} if first else {})}


def door_opener_config(emulator: ModbusBuildingEmulator, *, session: int, routes: Mapping[str, list[list[str]]],
                       timeout_s: float = 0.5, retries: int = 1) -> dict[str, Any]:
    """The fields of a `("door_opener", "modbus")` device for the doors `emulator` serves; `routes`
    (place → door sequences) as the site's integrator would write them."""
    host, port = emulator.address
    lifts = set(emulator.lift_units)
    doors = {name: {"unit": unit} for name, unit in sorted(emulator.units.items()) if name not in lifts}
    listed = {place: [list(seq) for seq in alternatives] for place, alternatives in routes.items()}
    return {"host": host, "port": port, "session": session, "timeout_s": timeout_s, "retries": retries,
            "doors": doors, "routes": listed}
