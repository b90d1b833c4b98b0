"""What the Modbus lift caller and door opener share: link and unit configuration, one reader
per gateway, sending a command, per-unit health, checking units at setup."""

from __future__ import annotations

import enum
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pydantic

from hal.clock import Clock
from hal.device import DeviceError
from hal.drivers import modbus_map as mm
from hal.registry import DeviceConfig


class Position(enum.IntEnum):
    """A door's position register (a lift car's CAR_DOOR, a door unit's DOOR_POSITION)."""

    CLOSED = 0
    OPENING = 1
    OPEN = 2
    CLOSING = 3


class ModbusLinkConfig(DeviceConfig):
    host: str = "127.0.0.1"
    port: int = pydantic.Field(502, ge=1, le=65535)
    session: int | None = pydantic.Field(None, ge=1, le=65535)  # None: derived from the robot id
    timeout_s: float = pydantic.Field(0.5, gt=0, le=10)  # per try
    retries: int = pydantic.Field(1, ge=0, le=5)
    heartbeat_timeout_s: float = pydantic.Field(5.0, gt=0)


class ModbusUnitConfig(DeviceConfig):
    unit: int = pydantic.Field(ge=1, le=247)
    host: str | None = None  # another gateway than the device's
    port: int | None = pydantic.Field(None, ge=1, le=65535)


def default_session(robot_id: str) -> int:
    """A stable session number from the robot id (1..65535); configure `session` to be sure two
    robots of one building never share one."""
    return zlib.crc32(robot_id.encode()) % 0xFFFF + 1


class Gateways:
    """One `UnitReader` (and link) per gateway the units name."""

    def __init__(self, device: str, clock: Clock, config: ModbusLinkConfig) -> None:
        self._device, self._clock, self._config = device, clock, config
        self._readers: dict[tuple[str, int], mm.UnitReader] = {}

    def reader(self, unit: ModbusUnitConfig) -> mm.UnitReader:
        key = (unit.host or self._config.host, unit.port or self._config.port)
        if key not in self._readers:
            link = mm.ModbusLink(self._device, key[0], key[1], timeout_s=self._config.timeout_s,
                                 retries=self._config.retries)
            self._readers[key] = mm.UnitReader(link, self._clock,
                                               heartbeat_timeout_s=self._config.heartbeat_timeout_s)
        return self._readers[key]

    def close(self) -> None:
        for reader in self._readers.values():
            reader.link.close()

    @property
    def requests(self) -> int:
        return sum(r.link.requests for r in self._readers.values())


def send_command(reader: mm.UnitReader, unit: int, session: int, command: int, argument: int = 0) -> mm.Result:
    """One command; its result code. `ControllerFault` when the unit did not act on it."""
    request_id = reader.link.next_request_id()
    echoed, code = reader.link.command(unit, [command, argument, session, request_id])
    if echoed != request_id:
        raise mm.ControllerFault(reader.link.device, f"unit {unit} at {reader.link.gateway} did not acknowledge "
                                 f"request {request_id} (its last is {echoed}): not acting on commands")
    try:
        return mm.Result(code)
    except ValueError:
        raise mm.BadRegisterValue(reader.link.device, f"unit {unit} at {reader.link.gateway}: HR {mm.HR_RESULT} "
                                  f"RESULT = {code}, not a result code") from None


class UnitHealth:
    """The last problem of each lift or door (a link error, a frozen heartbeat, fault bits)."""

    def __init__(self) -> None:
        self._problems: dict[str, str] = {}

    def track(self, name: str, problem: DeviceError | str | None) -> None:
        if problem is None:
            self._problems.pop(name, None)
        else:
            self._problems[name] = problem.reason if isinstance(problem, DeviceError) else problem

    @property
    def error(self) -> str | None:
        return "; ".join(self._problems[name] for name in sorted(self._problems)) or None


def identify_units(gateways: Gateways, units: Mapping[str, ModbusUnitConfig], kind: mm.DeviceKind,
              problem: UnitHealth) -> None:
    """At setup: every configured unit must be of `kind` (else the configuration is wrong and
    this raises); a unit not answering yet is only recorded (health says so, calls retry)."""
    for name in sorted(units):
        try:
            gateways.reader(units[name]).identify(units[name].unit, kind)
        except mm.BadRegisterValue:
            raise
        except DeviceError as exc:
            problem.track(name, exc)



class ModbusUnits:
    """One device's units: their gateways, each unit's last problem, and the error tracking both
    the lift caller and the door opener wrap around every read and command."""

    def __init__(self, device: str, clock: Clock, config: ModbusLinkConfig) -> None:
        self.gateways = Gateways(device, clock, config)
        self.problems = UnitHealth()

    @contextmanager
    def tracking(self, name: str) -> Iterator[None]:
        """A `DeviceError` inside is recorded as `name`'s problem (health says so) and re-raised."""
        try:
            yield
        except DeviceError as exc:
            self.problems.track(name, exc)
            raise

    def note_faults(self, name: str, label: str, faults: int) -> None:
        """A read that answered: its fault bits become `name`'s problem, or clear it."""
        self.problems.track(name, f"{label}: {mm.describe_faults(faults)}" if faults else None)

    def command(self, name: str, unit: ModbusUnitConfig, session: int, command: int, argument: int = 0) -> mm.Result:
        with self.tracking(name):
            return send_command(self.gateways.reader(unit), unit.unit, session, command, argument)

    def identify(self, units: Mapping[str, ModbusUnitConfig], kind: mm.DeviceKind) -> None:
        identify_units(self.gateways, units, kind, self.problems)

    @property
    def error(self) -> str | None:
        return self.problems.error

    def close(self) -> None:
        self.gateways.close()
