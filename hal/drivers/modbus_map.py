"""The building controllers' Modbus register map (docs/protocols/modbus-building.md) and the link.

One source of truth for both ends: the robot's driver (`hal/drivers/modbus_building.py`) and the
simulator's emulator (`sim/emulators/modbus_building.py`) read the addresses, codes and codecs
here. `ModbusLink` is one gateway connection (pymodbus' synchronous TCP client) whose every
request is bounded by `timeout_s` × (1 + `retries`) and whose failures are typed `DeviceError`s
naming the unit and the gateway.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Sequence
from typing import TypeVar

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from hal.clock import Clock
from hal.device import DeviceError, DeviceFault, DeviceTimeout

MAP_VERSION = 1


class DeviceKind(enum.IntEnum):
    LIFT_CAR = 1
    DOOR = 2


# -- input registers (FC 4), every unit ----------------------------------------------------------
IR_DEVICE_KIND = 0
IR_MAP_VERSION = 1
IR_HEARTBEAT = 2
IR_FAULT = 3
IR_LAST_REQUEST_ID = 4
IR_LAST_RESULT = 5
# lift car
IR_CAR_LEVEL = 6
IR_CAR_DOOR = 7
IR_MOTION = 8
IR_MODE = 9
IR_SESSION = 10
IR_TARGET_LEVEL = 11
LIFT_INPUT_COUNT = 12
# door
IR_DOOR_POSITION = 6
IR_FIRE_CLOSED = 7
DOOR_INPUT_COUNT = 8

INPUT_NAMES: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.LIFT_CAR: ("DEVICE_KIND", "MAP_VERSION", "HEARTBEAT", "FAULT", "LAST_REQUEST_ID", "LAST_RESULT",
                          "CAR_LEVEL", "CAR_DOOR", "MOTION", "MODE", "SESSION", "TARGET_LEVEL"),
    DeviceKind.DOOR: ("DEVICE_KIND", "MAP_VERSION", "HEARTBEAT", "FAULT", "LAST_REQUEST_ID", "LAST_RESULT",
                      "DOOR_POSITION", "FIRE_CLOSED"),
}
INPUT_COUNT = {DeviceKind.LIFT_CAR: LIFT_INPUT_COUNT, DeviceKind.DOOR: DOOR_INPUT_COUNT}

# -- holding registers (FC 3/6/16/23), every unit ------------------------------------------------
HR_COMMAND = 0
HR_ARGUMENT = 1
HR_SESSION = 2
HR_REQUEST_ID = 3
HR_RESULT_REQUEST_ID = 4
HR_RESULT = 5
COMMAND_COUNT = 4  # HR 0..3, written by the robot
HOLDING_COUNT = 6

NO_TARGET = -32768  # TARGET_LEVEL when the car is idle


class LiftCommand(enum.IntEnum):
    NONE = 0
    HALL_CALL = 1
    CAR_CALL = 2
    HOLD_DOOR = 3
    RELEASE = 4


class DoorCommand(enum.IntEnum):
    NONE = 0
    OPEN = 1


class Result(enum.IntEnum):
    OK = 0
    REFUSED = 1
    HELD_BY_OTHER = 2
    OUT_OF_SERVICE = 3
    FIRE_SERVICE = 4
    NOT_HELD = 5
    LEVEL_NOT_SERVED = 6
    DOOR_FIRE_CLOSED = 7
    DOOR_FAULTED = 8


class FaultBit(enum.IntFlag):
    DOOR_FAULT = 0x0001
    DRIVE_FAULT = 0x0002
    CONTROLLER_FAULT = 0x0004


FAULT_WORDS = {
    FaultBit.DOOR_FAULT: "door jammed or failed",
    FaultBit.DRIVE_FAULT: "lift drive fault",
    FaultBit.CONTROLLER_FAULT: "controller could not carry out a command",
}


def describe_faults(bits: int) -> str:
    words = {int(bit): text for bit, text in FAULT_WORDS.items()}
    return ", ".join(words.get(1 << i, f"fault bit {i}") for i in range(16) if bits & (1 << i))


# -- codecs -------------------------------------------------------------------------------------

def to_register(value: int) -> int:
    """An int16 (or uint16) value as the register's 16 bits; ValueError outside -32768..65535."""
    if not -0x8000 <= value <= 0xFFFF:
        raise ValueError(f"{value} does not fit a 16-bit register")
    return value & 0xFFFF


def to_int16(register: int) -> int:
    return register - 0x10000 if register & 0x8000 else register


# -- errors -------------------------------------------------------------------------------------

class ModbusBuildingError(DeviceError):
    """Base of this driver's errors."""


class ControllerTimeout(ModbusBuildingError, DeviceTimeout):
    """The controller (or its gateway) did not answer within the bounded timeout."""

    def __init__(self, device: str, reason: str, *, unit: int, gateway: str) -> None:
        super().__init__(device, reason)
        self.unit = unit
        self.gateway = gateway


class ControllerError(ModbusBuildingError):
    """The controller answered with a Modbus exception (bad address, bad value)."""


class ControllerFault(ModbusBuildingError, DeviceFault):
    """The controller reports a fault, or did not act on a command."""


class ControllerFrozen(ControllerFault):
    """The heartbeat stopped advancing: the registers are a stale image."""


class BadRegisterValue(ModbusBuildingError):
    """A register holds a value outside its documented range."""


_EXCEPTION_WORDS = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
                    4: "device failure", 6: "device busy", 10: "gateway path unavailable",
                    11: "gateway target failed to respond"}
_GATEWAY_NO_ANSWER = {10, 11}


class ModbusLink:
    """One gateway connection. Not thread-safe: one device owns it."""

    def __init__(self, device: str, host: str, port: int, *, timeout_s: float, retries: int) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.device = device
        self.gateway = f"{host}:{port}"
        self.timeout_s = timeout_s
        self.retries = retries
        self._client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=retries)
        self._request_ids = itertools.cycle(range(1, 0x10000))
        self.requests = 0

    @property
    def bound_s(self) -> float:
        """The longest one request can take before it is reported as a timeout."""
        return self.timeout_s * (1 + self.retries)

    def next_request_id(self) -> int:
        return next(self._request_ids)

    def close(self) -> None:
        self._client.close()

    def read_inputs(self, unit: int, count: int) -> list[int]:
        """IR 0..count-1 of `unit`."""
        return self._call(unit, "read IR 0.." + str(count - 1),
                          lambda: self._client.read_input_registers(0, count=count, device_id=unit), count)

    def command(self, unit: int, values: Sequence[int]) -> tuple[int, int]:
        """Write HR 0..3 and read HR 4..5 in one transaction (FC 23): (RESULT_REQUEST_ID, RESULT)."""
        registers = [to_register(v) for v in values]
        answer = self._call(
            unit, "write HR 0..3 / read HR 4..5",
            lambda: self._client.readwrite_registers(
                read_address=HR_RESULT_REQUEST_ID, read_count=2, write_address=HR_COMMAND, values=registers,
                device_id=unit),
            2)
        return answer[0], answer[1]

    def _call(self, unit: int, what: str, request: Callable[[], ModbusPDU], count: int) -> list[int]:
        self.requests += 1
        try:
            response = request()
        except (ModbusException, OSError) as exc:  # no reply, connection refused, reset or lost
            self._client.close()  # a late answer must never be taken for the next request's
            raise ControllerTimeout(
                self.device, f"unit {unit} at {self.gateway} did not answer ({what}) within {self.bound_s:g} s: "
                f"{exc}", unit=unit, gateway=self.gateway) from None
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            words = _EXCEPTION_WORDS.get(code, f"exception {code}")
            if code in _GATEWAY_NO_ANSWER:
                raise ControllerTimeout(self.device, f"unit {unit} at {self.gateway}: {words} ({what})",
                                        unit=unit, gateway=self.gateway)
            raise ControllerError(self.device, f"unit {unit} at {self.gateway}: {words} ({what})")
        registers = list(response.registers)
        if len(registers) < count:
            raise ControllerError(self.device, f"unit {unit} at {self.gateway}: {len(registers)} registers "
                                  f"answered, {count} asked ({what})")
        return registers[:count]


# -- reading a unit's input registers ----------------------------------------------------------

E = TypeVar("E", bound=enum.IntEnum)


class UnitReader:
    """Reads a unit's input registers and checks what every unit shares: its kind, the map
    version and a heartbeat that advances (stuck for `heartbeat_timeout_s` on `clock`:
    `ControllerFrozen`)."""

    def __init__(self, link: ModbusLink, clock: Clock, *, heartbeat_timeout_s: float) -> None:
        self.link = link
        self.clock = clock
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self._beats: dict[int, tuple[int, float]] = {}  # unit -> (heartbeat, first seen at)

    def identify(self, unit: int, kind: DeviceKind) -> None:
        """Check IR 0..1 alone (a unit of another kind may have fewer registers than `kind`)."""
        self._check_identity(unit, kind, self.link.read_inputs(unit, 2))

    def read(self, unit: int, kind: DeviceKind) -> list[int]:
        registers = self.link.read_inputs(unit, INPUT_COUNT[kind])
        self._check_identity(unit, kind, registers)
        self._check_heartbeat(unit, registers[IR_HEARTBEAT])
        return registers

    def _check_identity(self, unit: int, kind: DeviceKind, registers: list[int]) -> None:
        device_kind, version = registers[IR_DEVICE_KIND], registers[IR_MAP_VERSION]
        if device_kind != kind:
            raise BadRegisterValue(self.link.device, f"unit {unit} at {self.link.gateway}: IR {IR_DEVICE_KIND} "
                                   f"DEVICE_KIND = {device_kind}, expected {int(kind)} ({kind.name.lower()})")
        if version != MAP_VERSION:
            raise BadRegisterValue(self.link.device, f"unit {unit} at {self.link.gateway}: IR {IR_MAP_VERSION} "
                                   f"MAP_VERSION = {version}, this driver speaks {MAP_VERSION}")

    def _check_heartbeat(self, unit: int, heartbeat: int) -> None:
        now_s = self.clock.now_s()
        seen = self._beats.get(unit)
        if seen is None or seen[0] != heartbeat:
            self._beats[unit] = (heartbeat, now_s)
            return
        stuck_s = now_s - seen[1]
        if stuck_s > self.heartbeat_timeout_s:
            raise ControllerFrozen(self.link.device, f"unit {unit} at {self.link.gateway}: heartbeat stuck at "
                                   f"{heartbeat} for {stuck_s:g} s (limit {self.heartbeat_timeout_s:g} s)")

    def decode(self, unit: int, kind: DeviceKind, registers: list[int], index: int, enum_type: type[E]) -> E:
        """The enum value of input register `index`, or `BadRegisterValue` naming the register."""
        value = registers[index]
        try:
            return enum_type(value)
        except ValueError:
            allowed = ", ".join(f"{int(m)} {m.name.lower()}" for m in enum_type)
            raise BadRegisterValue(
                self.link.device, f"unit {unit} at {self.link.gateway}: IR {index} {INPUT_NAMES[kind][index]} = "
                f"{value}, expected one of {allowed}") from None

    def flag(self, unit: int, kind: DeviceKind, registers: list[int], index: int) -> bool:
        value = registers[index]
        if value not in (0, 1):
            raise BadRegisterValue(self.link.device, f"unit {unit} at {self.link.gateway}: IR {index} "
                                   f"{INPUT_NAMES[kind][index]} = {value}, expected 0 or 1")
        return value == 1
