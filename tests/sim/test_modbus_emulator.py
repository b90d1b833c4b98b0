"""The building's Modbus gateway emulator, seen by a plain pymodbus client over loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from hal.drivers import modbus_map as mm
from sim.building_controllers import DoorPosition, LiftMode
from sim.emulators.modbus_building import ModbusBuildingEmulator
from tests.building_fake import FakeBuilding, two_lifts_two_doors

pytestmark = pytest.mark.timeout(30)

LIFT_A, LIFT_B, DOOR_1 = 1, 2, 101


@pytest.fixture
def building() -> FakeBuilding:
    return two_lifts_two_doors()


@pytest.fixture
def emulator(building: FakeBuilding) -> Iterator[ModbusBuildingEmulator]:
    with ModbusBuildingEmulator(lifts=building, doors=building) as emu:
        yield emu


@pytest.fixture
def client(emulator: ModbusBuildingEmulator) -> Iterator[ModbusTcpClient]:
    host, port = emulator.address
    c = ModbusTcpClient(host, port=port, timeout=1.0, retries=0)
    yield c
    c.close()


def inputs(client: ModbusTcpClient, unit: int, count: int = mm.LIFT_INPUT_COUNT) -> list[int]:
    response = client.read_input_registers(0, count=count, device_id=unit)
    assert not response.isError(), response
    return list(response.registers)


def command(client: ModbusTcpClient, unit: int, values: list[int]) -> list[int]:
    response = client.readwrite_registers(read_address=mm.HR_RESULT_REQUEST_ID, read_count=2,
                                          write_address=0, values=[mm.to_register(v) for v in values],
                                          device_id=unit)
    assert not response.isError(), response
    return list(response.registers)


def exception_code(response: ModbusPDU) -> int:
    assert isinstance(response, ExceptionResponse), response
    return int(response.exception_code)


def test_units_are_numbered_lifts_from_1_doors_from_101(emulator: ModbusBuildingEmulator) -> None:
    assert emulator.units == {"lift-a": 1, "lift-b": 2, "door-1": 101, "door-2": 102}


def test_identification_and_state_of_a_lift_unit(client: ModbusTcpClient) -> None:
    r = inputs(client, LIFT_B)
    assert r[mm.IR_DEVICE_KIND] == mm.DeviceKind.LIFT_CAR
    assert r[mm.IR_MAP_VERSION] == mm.MAP_VERSION
    assert mm.to_int16(r[mm.IR_CAR_LEVEL]) == 1
    assert r[mm.IR_CAR_DOOR] == DoorPosition.OPEN
    assert r[mm.IR_SESSION] == 0
    assert mm.to_int16(r[mm.IR_TARGET_LEVEL]) == mm.NO_TARGET
    d = inputs(client, DOOR_1, mm.DOOR_INPUT_COUNT)
    assert d[mm.IR_DEVICE_KIND] == mm.DeviceKind.DOOR
    assert d[mm.IR_DOOR_POSITION] == DoorPosition.CLOSED


def test_heartbeat_advances_once_per_sync(emulator: ModbusBuildingEmulator, client: ModbusTcpClient) -> None:
    before = inputs(client, LIFT_A)[mm.IR_HEARTBEAT]
    emulator.sync(1.0)
    emulator.sync(2.0)
    assert inputs(client, LIFT_A)[mm.IR_HEARTBEAT] == before + 2


def test_a_command_is_applied_at_once_and_its_result_answered_in_the_same_transaction(
    building: FakeBuilding, client: ModbusTcpClient
) -> None:
    assert command(client, LIFT_A, [mm.LiftCommand.HALL_CALL, 2, 7, 41]) == [41, mm.Result.OK]
    r = inputs(client, LIFT_A)  # no sync in between: the write refreshed the unit
    assert r[mm.IR_SESSION] == 7
    assert mm.to_int16(r[mm.IR_TARGET_LEVEL]) == 2
    assert r[mm.IR_LAST_REQUEST_ID] == 41
    assert building.calls == [("hall_call", "lift-a", 7)]


def test_write_then_read_without_fc23_works_too(client: ModbusTcpClient) -> None:
    assert not client.write_registers(0, [mm.LiftCommand.HALL_CALL, 1, 9, 5], device_id=LIFT_B).isError()
    r = inputs(client, LIFT_B)
    assert (r[mm.IR_LAST_REQUEST_ID], r[mm.IR_LAST_RESULT], r[mm.IR_SESSION]) == (5, mm.Result.OK, 9)
    held = client.read_holding_registers(0, count=mm.HOLDING_COUNT, device_id=LIFT_B)
    assert list(held.registers) == [mm.LiftCommand.HALL_CALL, 1, 9, 5, 5, mm.Result.OK]


def test_parameters_alone_do_not_execute(building: FakeBuilding, client: ModbusTcpClient) -> None:
    assert not client.write_registers(1, [1, 9, 5], device_id=LIFT_B).isError()
    assert building.calls == []


def test_a_refusal_is_a_result_code_from_the_controllers_state(client: ModbusTcpClient) -> None:
    command(client, LIFT_A, [mm.LiftCommand.HALL_CALL, 0, 7, 1])
    assert command(client, LIFT_A, [mm.LiftCommand.HALL_CALL, 1, 8, 2]) == [2, mm.Result.HELD_BY_OTHER]
    assert command(client, LIFT_A, [mm.LiftCommand.CAR_CALL, 1, 8, 3]) == [3, mm.Result.HELD_BY_OTHER]
    assert command(client, LIFT_B, [mm.LiftCommand.CAR_CALL, 0, 8, 4]) == [4, mm.Result.NOT_HELD]
    assert command(client, LIFT_B, [mm.LiftCommand.HALL_CALL, 3, 8, 5]) == [5, mm.Result.LEVEL_NOT_SERVED]
    assert command(client, LIFT_A, [mm.LiftCommand.RELEASE, 0, 8, 6]) == [6, mm.Result.OK]  # not held: harmless


def test_out_of_service_and_fire_service_codes(building: FakeBuilding, client: ModbusTcpClient) -> None:
    building.take_out_of_service("lift-a")
    assert command(client, LIFT_A, [mm.LiftCommand.HALL_CALL, 0, 7, 1]) == [1, mm.Result.OUT_OF_SERVICE]
    building.cars["lift-b"].mode = LiftMode.FIRE_SERVICE
    assert command(client, LIFT_B, [mm.LiftCommand.HALL_CALL, 0, 7, 2]) == [2, mm.Result.FIRE_SERVICE]


def test_negative_levels_cross_as_int16(building: FakeBuilding, client: ModbusTcpClient,
                                        emulator: ModbusBuildingEmulator) -> None:
    building.cars["lift-a"].levels.add(-1)
    command(client, LIFT_A, [mm.LiftCommand.HALL_CALL, -1, 7, 1])
    building.step(100.0)
    emulator.sync(100.0)
    r = inputs(client, LIFT_A)
    assert r[mm.IR_CAR_LEVEL] == 0xFFFF
    assert mm.to_int16(r[mm.IR_CAR_LEVEL]) == -1


def test_protocol_errors_are_modbus_exceptions(client: ModbusTcpClient) -> None:
    bad_command = client.readwrite_registers(read_address=4, read_count=2, write_address=0, values=[9, 0, 7, 1],
                                             device_id=LIFT_A)
    assert exception_code(bad_command) == 3
    no_session = client.readwrite_registers(read_address=4, read_count=2, write_address=0, values=[1, 0, 0, 1],
                                            device_id=LIFT_A)
    assert exception_code(no_session) == 3
    assert exception_code(client.write_registers(4, [1, 0], device_id=LIFT_A)) == 2
    assert exception_code(client.read_input_registers(0, count=40, device_id=LIFT_A)) == 2
    assert exception_code(client.read_input_registers(0, count=2, device_id=77)) == 0x0A


def test_a_door_opens_on_command_and_reports_fire_closed(building: FakeBuilding, client: ModbusTcpClient,
                                                         emulator: ModbusBuildingEmulator) -> None:
    assert command(client, DOOR_1, [mm.DoorCommand.OPEN, 0, 7, 1]) == [1, mm.Result.OK]
    assert inputs(client, DOOR_1, mm.DOOR_INPUT_COUNT)[mm.IR_DOOR_POSITION] == DoorPosition.OPENING
    building.step(building.open_s)
    emulator.sync(building.open_s)
    assert inputs(client, DOOR_1, mm.DOOR_INPUT_COUNT)[mm.IR_DOOR_POSITION] == DoorPosition.OPEN
    building.doors["door-2"].fire_closed = True
    assert command(client, 102, [mm.DoorCommand.OPEN, 0, 7, 2]) == [2, mm.Result.DOOR_FIRE_CLOSED]
    assert inputs(client, 102, mm.DOOR_INPUT_COUNT)[mm.IR_FIRE_CLOSED] == 1


def test_a_door_fault_is_a_fault_bit(building: FakeBuilding, client: ModbusTcpClient,
                                     emulator: ModbusBuildingEmulator) -> None:
    building.doors["door-1"].fault = True
    emulator.sync(1.0)
    assert inputs(client, DOOR_1, mm.DOOR_INPUT_COUNT)[mm.IR_FAULT] == mm.FaultBit.DOOR_FAULT


def test_a_silenced_unit_gets_no_reply_and_answers_again_after(emulator: ModbusBuildingEmulator,
                                                               client: ModbusTcpClient) -> None:
    emulator.silence(LIFT_A)
    with pytest.raises(ModbusIOException):
        client.read_input_registers(0, count=mm.LIFT_INPUT_COUNT, device_id=LIFT_A)
    client.close()  # as the driver does after a failed request
    assert inputs(client, LIFT_B)[mm.IR_DEVICE_KIND] == mm.DeviceKind.LIFT_CAR  # the others still answer
    emulator.answer(LIFT_A)
    assert inputs(client, LIFT_A)[mm.IR_DEVICE_KIND] == mm.DeviceKind.LIFT_CAR


def test_a_silenced_unit_behind_a_gateway_is_exception_0b(emulator: ModbusBuildingEmulator,
                                                          client: ModbusTcpClient) -> None:
    emulator.silence(LIFT_A, gateway_reply=True)
    assert exception_code(client.read_input_registers(0, count=2, device_id=LIFT_A)) == 0x0B


def test_a_frozen_unit_keeps_its_image_and_does_not_act(building: FakeBuilding, emulator: ModbusBuildingEmulator,
                                                        client: ModbusTcpClient) -> None:
    emulator.freeze(LIFT_A)
    before = inputs(client, LIFT_A)
    emulator.sync(1.0)
    assert inputs(client, LIFT_A) == before
    assert command(client, LIFT_A, [mm.LiftCommand.HALL_CALL, 1, 7, 33]) == [0, 0]  # stored, not executed
    assert building.calls == []
    emulator.thaw(LIFT_A)
    emulator.sync(2.0)
    assert inputs(client, LIFT_A)[mm.IR_HEARTBEAT] == before[mm.IR_HEARTBEAT] + 1


def test_poked_and_fault_values_are_served(emulator: ModbusBuildingEmulator, client: ModbusTcpClient) -> None:
    emulator.poke_input(DOOR_1, mm.IR_DOOR_POSITION, 7)
    emulator.set_fault(LIFT_A, mm.FaultBit.DRIVE_FAULT)
    assert inputs(client, DOOR_1, mm.DOOR_INPUT_COUNT)[mm.IR_DOOR_POSITION] == 7
    assert inputs(client, LIFT_A)[mm.IR_FAULT] == mm.FaultBit.DRIVE_FAULT
    emulator.unpoke(DOOR_1)
    assert inputs(client, DOOR_1, mm.DOOR_INPUT_COUNT)[mm.IR_DOOR_POSITION] == 0


def test_unit_ids_are_checked() -> None:
    building = two_lifts_two_doors()
    with pytest.raises(ValueError, match="already used"):
        ModbusBuildingEmulator(lifts=building, doors=building, lift_units={"lift-a": 5, "lift-b": 6},
                               door_units={"door-1": 5, "door-2": 7})
    with pytest.raises(ValueError, match="no unit id for lift 'lift-b'"):
        ModbusBuildingEmulator(lifts=building, lift_units={"lift-a": 5})
    with pytest.raises(ValueError, match=r"outside 1\.\.247"):
        ModbusBuildingEmulator(lifts=building, lift_units={"lift-a": 5, "lift-b": 300})


def test_start_on_a_busy_port_fails_clearly_and_stop_is_idempotent(emulator: ModbusBuildingEmulator) -> None:
    second = ModbusBuildingEmulator(lifts=two_lifts_two_doors(), port=emulator.address[1])
    with pytest.raises(RuntimeError, match="did not start"):
        second.start()
    second.stop()
    emulator.stop()
    emulator.stop()


def test_advance_steps_the_model_then_syncs(building: FakeBuilding, emulator: ModbusBuildingEmulator,
                                            client: ModbusTcpClient) -> None:
    command(client, LIFT_B, [mm.LiftCommand.HALL_CALL, 0, 7, 1])
    before = inputs(client, LIFT_B)[mm.IR_HEARTBEAT]
    emulator.advance(building.travel_s_per_level, building.step)
    r = inputs(client, LIFT_B)
    assert (mm.to_int16(r[mm.IR_CAR_LEVEL]), r[mm.IR_HEARTBEAT]) == (0, before + 1)


def test_a_single_register_write_of_the_command_uses_the_stored_parameters(building: FakeBuilding,
                                                                           client: ModbusTcpClient) -> None:
    assert not client.write_registers(1, [1, 9, 12], device_id=LIFT_B).isError()  # level, session, request id
    assert not client.write_register(0, mm.LiftCommand.HALL_CALL, device_id=LIFT_B).isError()  # FC 6
    r = inputs(client, LIFT_B)
    assert (r[mm.IR_LAST_REQUEST_ID], r[mm.IR_LAST_RESULT], r[mm.IR_SESSION]) == (12, mm.Result.OK, 9)
    assert building.calls == [("hall_call", "lift-b", 9)]
