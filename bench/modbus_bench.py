"""Modbus round trips over loopback: the robot's driver against the building emulator, next to
plain pymodbus (its own client reading a plain `ModbusTcpServer` of the same register layout)
measured in the same run.

- ``modbus status``: `ModbusLiftCaller.status()` (one FC 4 read of IR 0..11, checked and decoded)
  per second, against the raw client's FC 4 reads of a plain server;
- ``modbus command``: `hold_door()` (one FC 23 write+read, applied to the model) per second,
  against the raw client's FC 23 on a plain server;
- the raw client against the emulator (``detail``) separates the emulator's handler from the
  driver's own work.

The six loops run interleaved in short windows and each figure is its median window, so a load
change on the machine hits a figure and its baseline alike.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pymodbus.client import ModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from bench.common import Result
from hal.clock import WallClock
from hal.drivers import modbus_map as mm
from hal.drivers.modbus_building import ModbusLiftCaller, ModbusLiftCallerConfig
from sim.building_controllers import DoorPosition, LiftMode, LiftStatus, Motion
from sim.emulators.modbus_building import ModbusBuildingEmulator


class _StillLift:
    """One lift standing open at level 0; commands change nothing but the session."""

    def __init__(self) -> None:
        self.session = 0

    def lift_names(self) -> list[str]:
        return ["lift-a"]

    def lift_status(self, lift: str) -> LiftStatus:
        return LiftStatus(lift, 0, DoorPosition.OPEN, Motion.IDLE, LiftMode.NORMAL, self.session, None, 0.0)

    def hall_call(self, lift: str, level: int, session: int) -> None:
        self.session = session

    def car_call(self, lift: str, level: int, session: int) -> None:
        pass

    def hold_door(self, lift: str, session: int) -> None:
        pass

    def release(self, lift: str, session: int) -> None:
        self.session = 0


@contextmanager
def _plain_server() -> Iterator[int]:
    """A pymodbus server with unit 1 laid out like a lift unit and no handler of ours."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, ModbusTcpServer | int] = {}

    async def open_server() -> None:
        bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS)]
        device = SimDevice(id=1, simdata=(bits, list(bits),
                                          [SimData(0, count=mm.HOLDING_COUNT, values=0, datatype=DataType.REGISTERS)],
                                          [SimData(0, count=mm.LIFT_INPUT_COUNT, values=1,
                                                   datatype=DataType.REGISTERS)]))
        server = ModbusTcpServer([device], address=("127.0.0.1", 0))
        await server.serve_forever(background=True)
        holder["server"] = server
        holder["port"] = server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(open_server())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(5.0):
        raise RuntimeError("plain pymodbus server did not start")
    try:
        port = holder["port"]
        assert isinstance(port, int)
        yield port
    finally:
        server = holder["server"]
        assert isinstance(server, ModbusTcpServer)
        asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(5.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5.0)


def _rates(seconds: float, calls: dict[str, Callable[[], object]], *, rounds: int = 10) -> dict[str, float]:
    """Calls per second of each, interleaved in `rounds` short windows (the median window counts):
    the machine's load drifts, and every figure and its baseline then see the same drift."""
    for call in calls.values():
        call()  # connect outside the measurement
    windows: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            done = 0
            started = time.perf_counter()
            deadline = started + seconds / rounds
            while time.perf_counter() < deadline:
                call()
                done += 1
            windows[name].append(done / (time.perf_counter() - started))
    return {name: statistics.median(rates) for name, rates in windows.items()}


def measure(seconds: float = 3.0) -> list[Result]:
    with _plain_server() as plain_port, ModbusBuildingEmulator(lifts=_StillLift()) as emulator:
        raw_plain = ModbusTcpClient("127.0.0.1", port=plain_port, timeout=1.0, retries=0)
        raw_emulator = ModbusTcpClient("127.0.0.1", port=emulator.address[1], timeout=1.0, retries=0)
        config = ModbusLiftCallerConfig.model_validate({
            "port": emulator.address[1], "session": 7, "timeout_s": 1.0, "retries": 0, "heartbeat_timeout_s": 1e9,
            "lifts": {"lift-a": {"unit": 1, "levels": {0: {"lobby": "lobby-0", "car": "car-0"}}}}})
        lifts = ModbusLiftCaller("lifts", WallClock(), config, session=7)
        write = [mm.LiftCommand.HOLD_DOOR, 0, 7, 1]
        try:
            lifts.setup()
            lifts.start_call(lifts.route(0, 0))
            rate = _rates(seconds, {
                "raw_reads": lambda: raw_plain.read_input_registers(0, count=mm.LIFT_INPUT_COUNT, device_id=1),
                "emulator_reads": lambda: raw_emulator.read_input_registers(0, count=mm.LIFT_INPUT_COUNT, device_id=1),
                "driver_reads": lambda: lifts.status("lift-a"),
                "raw_commands": lambda: raw_plain.readwrite_registers(
                    read_address=mm.HR_RESULT_REQUEST_ID, read_count=2, write_address=0, values=write, device_id=1),
                "emulator_commands": lambda: raw_emulator.readwrite_registers(
                    read_address=mm.HR_RESULT_REQUEST_ID, read_count=2, write_address=0, values=write, device_id=1),
                "driver_commands": lambda: lifts.hold_door("lift-a"),
            })
        finally:
            lifts.close()
            raw_plain.close()
            raw_emulator.close()
    return [
        Result("modbus status (driver, FC 4)", rate["driver_reads"], "reads/s", rate["raw_reads"],
               "raw pymodbus reads/s", detail={"raw_client_on_emulator_per_s": round(rate["emulator_reads"], 1)}),
        Result("modbus command (driver, FC 23)", rate["driver_commands"], "commands/s", rate["raw_commands"],
               "raw pymodbus FC 23/s", detail={"raw_client_on_emulator_per_s": round(rate["emulator_commands"], 1)}),
    ]
