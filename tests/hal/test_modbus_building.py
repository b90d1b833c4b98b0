"""The Modbus lift caller and door opener against the real pymodbus server (the building emulator)
over loopback, on a hand-stepped building and sim clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from hal.clock import SimClock
from hal.device import DeviceError, DeviceTimeout, HealthStatus
from hal.drivers import modbus_map as mm
from hal.drivers.modbus_building import (
    ModbusDoorOpener,
    ModbusDoorOpenerConfig,
    ModbusLiftCaller,
    ModbusLiftCallerConfig,
    default_session,
)
from hal.handle import Handle, HandleStatus
from hal.lift_caller import LiftFailureKind, LiftMode, LiftUnavailable, NoLiftRoute
from hal.registry import BuildContext, ConfigError, DeviceRegistry
from sim.building_controllers import LiftMode as ModelMode
from sim.emulators.modbus_building import ModbusBuildingEmulator
from tests.building_fake import FakeBuilding, two_lifts_two_doors

pytestmark = pytest.mark.timeout(30)

SESSION = 7
STEP_S = 0.5


@dataclass
class Site:
    building: FakeBuilding
    emulator: ModbusBuildingEmulator
    clock: SimClock
    lifts: ModbusLiftCaller
    doors: ModbusDoorOpener

    def tick(self, dt_s: float = STEP_S) -> None:
        """One simulator step: clock, building, then the gateway's registers."""
        now_s = self.clock.advance(dt_s)
        self.building.step(now_s)
        self.emulator.sync(now_s)

    def run(self, handle: Handle[Any, Any], *, max_steps: int = 200) -> HandleStatus:
        for _ in range(max_steps):
            if handle.poll().done:
                return handle.poll()
            self.tick()
        raise AssertionError(f"handle still running after {max_steps} steps (feedback {handle.feedback})")


def lift_config(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "port": port, "session": SESSION, "timeout_s": 0.5, "retries": 1, "heartbeat_timeout_s": 3.0,
        "lifts": {
            "lift-a": {"unit": 1, "levels": {lvl: {"lobby": f"lobby-a-{lvl}", "car": f"car-a-{lvl}"}
                                             for lvl in (0, 1, 2, 3)}},
            "lift-b": {"unit": 2, "levels": {lvl: {"lobby": f"lobby-b-{lvl}", "car": f"car-b-{lvl}"}
                                             for lvl in (0, 1)}},
        },
        "places": {"ward-3": 3, "pharmacy": 0},
        **extra,
    }


def door_config(port: int) -> dict[str, Any]:
    return {
        "port": port, "session": SESSION, "timeout_s": 0.5, "retries": 1, "heartbeat_timeout_s": 3.0,
        "doors": {"door-1": {"unit": 101}, "door-2": {"unit": 102}},
        "routes": {"ward-3": [["door-1", "door-2"], ["door-2"]], "pharmacy": [[]]},
    }


@pytest.fixture
def site() -> Iterator[Site]:
    building = two_lifts_two_doors()
    clock = SimClock(0.0)
    with ModbusBuildingEmulator(lifts=building, doors=building) as emulator:
        port = emulator.address[1]
        lifts = ModbusLiftCaller("lifts", clock, ModbusLiftCallerConfig.model_validate(lift_config(port)),
                                 session=SESSION)
        doors = ModbusDoorOpener("doors", clock, ModbusDoorOpenerConfig.model_validate(door_config(port)),
                                 session=SESSION)
        with lifts, doors:
            yield Site(building, emulator, clock, lifts, doors)


# -- lifts -------------------------------------------------------------------------------------------

def test_call_ride_and_release(site: Site) -> None:
    route = site.lifts.route(0, 3)
    assert (route.lift, route.board_at, route.car_from, route.car_to, route.leave_at) == (
        "lift-a", "lobby-a-0", "car-a-0", "car-a-3", "lobby-a-3")
    call = site.lifts.start_call(route)
    assert site.run(call) is HandleStatus.SUCCEEDED  # the car was at 0 with its doors open
    assert call.result is not None and call.result.level == 0
    assert site.lifts.status("lift-a").held
    ride = site.lifts.start_travel(route)
    assert site.run(ride) is HandleStatus.SUCCEEDED, ride.error
    assert ride.result is not None and ride.result.level == 3
    state = site.lifts.status("lift-a")
    assert (state.car_level, state.open_at, state.held) == (3, 3, True)
    site.lifts.hold_door("lift-a")
    site.lifts.release("lift-a")
    assert site.lifts.status("lift-a").free
    site.lifts.release("lift-a")  # again: harmless
    assert site.lifts.health().status is HealthStatus.OK


def test_a_call_waits_for_the_car_and_feedback_shows_it_coming(site: Site) -> None:
    route = site.lifts.route(1, 0)  # lift-b stands at 1: no wait
    assert route.lift == "lift-b"
    route = site.lifts.route(3, 0)
    call = site.lifts.start_call(route)
    assert call.poll() is HandleStatus.RUNNING
    site.tick()
    call.poll()
    assert call.feedback is not None and call.feedback.target_level == 3
    assert site.run(call) is HandleStatus.SUCCEEDED


def test_place_levels_and_routes(site: Site) -> None:
    assert site.lifts.place_level("ward-3") == 3
    assert site.lifts.place_level("lobby-b-1") == 1
    with pytest.raises(DeviceError, match="unknown place 'nowhere'"):
        site.lifts.place_level("nowhere")
    with pytest.raises(NoLiftRoute, match="no lift serves both"):
        site.lifts.route(0, 7)
    with pytest.raises(NoLiftRoute, match="avoided"):
        site.lifts.route(0, 3, avoid={"lift-a"})
    with pytest.raises(DeviceError, match="unknown lift 'lift-z'"):
        site.lifts.status("lift-z")


def test_a_car_held_by_another_robot_refuses_in_words_and_a_call_waits_for_it(site: Site) -> None:
    site.building.hall_call("lift-a", 0, 99)
    site.tick()
    route = site.lifts.route(0, 3)  # only lift-a reaches 3
    with pytest.raises(LiftUnavailable, match=r"car held by another robot \(session 99\)") as refused:
        site.lifts.start_travel(route)
    assert refused.value.kind is LiftFailureKind.REFUSED and refused.value.lift == "lift-a"
    call = site.lifts.start_call(route)  # capacity one: the call waits for the car
    for _ in range(3):
        site.tick()
        assert call.poll() is HandleStatus.RUNNING
    assert call.feedback is not None and not call.feedback.held and not call.feedback.free
    site.building.release("lift-a", 99)
    assert site.run(call) is HandleStatus.SUCCEEDED
    assert site.lifts.status("lift-a").held


def test_a_command_without_the_car_is_session_lost(site: Site) -> None:
    with pytest.raises(LiftUnavailable, match="does not hold the car") as not_held:
        site.lifts.start_travel(site.lifts.route(1, 0, avoid={"lift-a"}))
    assert not_held.value.kind is LiftFailureKind.SESSION_LOST
    with pytest.raises(LiftUnavailable, match="does not hold the car"):
        site.lifts.hold_door("lift-b")


def test_a_call_fails_at_once_when_the_car_goes_out_of_service(site: Site) -> None:
    call = site.lifts.start_call(site.lifts.route(3, 0))
    site.building.take_out_of_service("lift-a")
    site.tick()
    assert call.poll() is HandleStatus.FAILED
    assert call.failure is not None
    assert (call.failure.kind, call.failure.level, call.failure.leave_at) == (
        LiftFailureKind.OUT_OF_SERVICE, None, None)
    with pytest.raises(LiftUnavailable, match="car out of service") as refused:
        site.lifts.start_call(site.lifts.route(0, 1, avoid={"lift-b"}))
    assert refused.value.kind is LiftFailureKind.OUT_OF_SERVICE


def test_route_skips_a_car_out_of_service_and_says_fire_service(site: Site) -> None:
    site.building.take_out_of_service("lift-b")
    site.tick()
    assert site.lifts.route(0, 1).lift == "lift-a"
    site.building.cars["lift-a"].mode = ModelMode.FIRE_SERVICE
    site.tick()
    with pytest.raises(LiftUnavailable, match="fire service") as unavailable:
        site.lifts.route(0, 1)
    assert unavailable.value.kind is LiftFailureKind.FIRE_SERVICE


def test_a_ride_cut_short_by_out_of_service_fails_where_the_car_stands_open(site: Site) -> None:
    route = site.lifts.route(0, 3)
    assert site.run(site.lifts.start_call(route)) is HandleStatus.SUCCEEDED
    ride = site.lifts.start_travel(route)
    for _ in range(int(site.building.travel_s_per_level / STEP_S) + 1):  # past level 1
        site.tick()
    site.building.take_out_of_service("lift-a")
    site.tick()
    assert site.run(ride) is HandleStatus.FAILED
    assert ride.failure is not None
    assert (ride.failure.kind, ride.failure.level, ride.failure.leave_at) == (
        LiftFailureKind.OUT_OF_SERVICE, 1, "lobby-a-1")
    assert route.lobby_at(1) == "lobby-a-1"
    assert site.lifts.status("lift-a").mode is LiftMode.OUT_OF_SERVICE


def test_a_session_ended_by_the_controller_fails_the_call(site: Site) -> None:
    call = site.lifts.start_call(site.lifts.route(3, 0))
    site.building.release("lift-a", SESSION)
    site.building.hall_call("lift-a", 2, 42)
    site.tick()
    assert site.run(call) is HandleStatus.FAILED
    assert call.failure is not None and call.failure.kind is LiftFailureKind.SESSION_LOST
    assert "held by session 42" in (call.error or "")


def test_a_fault_bit_fails_the_ride_in_words(site: Site) -> None:
    route = site.lifts.route(0, 3)
    site.run(site.lifts.start_call(route))
    ride = site.lifts.start_travel(route)
    site.emulator.set_fault(1, mm.FaultBit.DRIVE_FAULT)
    assert site.run(ride) is HandleStatus.FAILED
    assert ride.failure is not None and ride.failure.kind is LiftFailureKind.FAULT
    assert "lift drive fault" in (ride.error or "")
    assert site.lifts.health().reason == "lift lift-a: lift drive fault"


def test_a_controller_that_stops_answering_is_a_typed_timeout_naming_unit_and_gateway(site: Site) -> None:
    host, port = site.emulator.address
    route = site.lifts.route(0, 3)
    site.emulator.silence(1)
    with pytest.raises(mm.ControllerTimeout, match=f"unit 1 at {host}:{port} did not answer") as timeout:
        site.lifts.start_call(route)
    assert isinstance(timeout.value, DeviceTimeout) and timeout.value.unit == 1
    assert site.lifts.health().status is HealthStatus.ERROR
    with pytest.raises(mm.ControllerTimeout):
        site.lifts.status("lift-a")
    with pytest.raises(LiftUnavailable, match="no lift in service: unit 1") as unavailable:
        site.lifts.route(0, 3)  # the only lift to level 3 does not answer
    assert unavailable.value.kind is LiftFailureKind.FAULT
    assert site.lifts.status("lift-b").car_level == 1  # the other unit still answers
    assert "unit 1" in site.lifts.health().reason  # lift-a's problem stays until it answers again
    site.emulator.answer(1)
    site.lifts.status("lift-a")
    assert site.lifts.health().status is HealthStatus.OK


def test_a_running_ride_fails_when_the_controller_goes_silent(site: Site) -> None:
    route = site.lifts.route(0, 3)
    site.run(site.lifts.start_call(route))
    ride = site.lifts.start_travel(route)
    site.emulator.silence(1, gateway_reply=True)
    assert ride.poll() is HandleStatus.FAILED
    assert ride.failure is not None and ride.failure.kind is LiftFailureKind.FAULT
    assert "gateway target failed to respond" in ride.failure.reason
    site.emulator.answer(1)
    site.lifts.release("lift-a")  # the mission's clean-up reaches it again
    assert site.lifts.status("lift-a").free


def test_a_frozen_heartbeat_is_a_fault_after_the_configured_time(site: Site) -> None:
    route = site.lifts.route(0, 3)
    site.run(site.lifts.start_call(route))
    ride = site.lifts.start_travel(route)
    site.emulator.freeze(1)
    steps = 0
    while ride.poll() is HandleStatus.RUNNING:
        site.tick()
        steps += 1
        assert steps < 100
    assert ride.failure is not None and ride.failure.kind is LiftFailureKind.FAULT
    assert "heartbeat stuck" in ride.failure.reason
    assert steps * STEP_S > 3.0  # not before heartbeat_timeout_s of the robot's clock
    with pytest.raises(mm.ControllerFrozen):
        site.lifts.status("lift-a")
    with pytest.raises(mm.ControllerFault, match="did not acknowledge"):
        site.lifts.release("lift-a")  # a hung controller does not act on commands


def test_bad_register_values_name_the_register(site: Site) -> None:
    site.emulator.poke_input(1, mm.IR_CAR_DOOR, 7)
    with pytest.raises(mm.BadRegisterValue, match=r"unit 1 at .*: IR 7 CAR_DOOR = 7, expected one of 0 closed"):
        site.lifts.status("lift-a")
    site.emulator.poke_input(2, mm.IR_DEVICE_KIND, 2)
    with pytest.raises(mm.BadRegisterValue, match="DEVICE_KIND = 2, expected 1"):
        site.lifts.status("lift-b")


def test_a_unit_that_is_not_a_lift_fails_setup(site: Site) -> None:
    config = lift_config(site.emulator.address[1])
    config["lifts"]["lift-a"]["unit"] = 101  # a door
    lifts = ModbusLiftCaller("lifts", site.clock, ModbusLiftCallerConfig.model_validate(config), session=SESSION)
    with pytest.raises(mm.BadRegisterValue, match="DEVICE_KIND = 2, expected 1 \\(lift_car\\)"):
        lifts.setup()
    lifts.close()


def test_a_gateway_that_goes_down_while_connected_is_a_timeout(site: Site) -> None:
    assert site.lifts.status("lift-a").car_level == 0  # connected
    site.emulator.stop()
    with pytest.raises(mm.ControllerTimeout, match="unit 1 at"):
        site.lifts.status("lift-a")
    with pytest.raises(mm.ControllerTimeout):
        site.lifts.release("lift-a")


def test_a_gateway_that_is_down_is_a_timeout_and_setup_survives_it(site: Site) -> None:
    port = site.emulator.address[1]
    site.emulator.stop()
    lifts = ModbusLiftCaller("lifts", site.clock, ModbusLiftCallerConfig.model_validate(lift_config(port)),
                             session=SESSION)
    with lifts:
        assert lifts.health().status is HealthStatus.ERROR
        with pytest.raises(mm.ControllerTimeout, match=f"at 127.0.0.1:{port}"):
            lifts.status("lift-a")


# -- doors -------------------------------------------------------------------------------------------

def test_a_door_opens(site: Site) -> None:
    assert site.doors.doors_on_route("ward-3") == ["door-1", "door-2"]
    assert site.doors.doors_on_route("ward-3", avoid={"door-1"}) == ["door-2"]
    assert site.doors.doors_on_route("ward-3", avoid={"door-2"}) is None
    assert site.doors.doors_on_route("pharmacy") == []
    assert not site.doors.state("door-1").open
    opening = site.doors.start_open("door-1")
    assert opening.poll() is HandleStatus.RUNNING
    assert opening.feedback == "opening"
    assert site.run(opening) is HandleStatus.SUCCEEDED
    assert opening.result is not None and opening.result.open
    assert site.doors.state("door-1").open


def test_a_fire_closed_or_faulted_door_fails_with_the_reason(site: Site) -> None:
    site.building.doors["door-2"].fire_closed = True
    handle = site.doors.start_open("door-2")
    assert handle.poll() is HandleStatus.FAILED
    assert handle.error == "door door-2 is fire-closed by the alarm"
    opening = site.doors.start_open("door-1")
    site.building.doors["door-1"].fault = True
    site.tick()
    assert opening.poll() is HandleStatus.FAILED
    assert opening.error == "door door-1: door jammed or failed"


def test_a_silent_door_controller_fails_the_opening_within_the_bound(site: Site) -> None:
    opening = site.doors.start_open("door-1")
    site.emulator.silence(101)
    assert opening.poll() is HandleStatus.FAILED
    assert "unit 101" in (opening.error or "") and "did not answer" in (opening.error or "")
    with pytest.raises(mm.ControllerTimeout):
        site.doors.start_open("door-1")
    assert site.doors.health().status is HealthStatus.ERROR


def test_a_frozen_door_controller_fails_the_opening_as_a_fault(site: Site) -> None:
    opening = site.doors.start_open("door-1")
    assert opening.poll() is HandleStatus.RUNNING
    site.emulator.freeze(101)  # hangs while the door is opening
    assert site.run(opening, max_steps=20) is HandleStatus.FAILED
    assert "unit 101" in (opening.error or "") and "heartbeat stuck" in (opening.error or "")
    with pytest.raises(mm.ControllerFault, match="did not acknowledge"):
        site.doors.start_open("door-1")  # stored by the gateway, never acted on


def test_a_bad_door_position_names_the_register(site: Site) -> None:
    site.emulator.poke_input(101, mm.IR_DOOR_POSITION, 7)
    with pytest.raises(mm.BadRegisterValue, match="IR 6 DOOR_POSITION = 7"):
        site.doors.state("door-1")
    site.emulator.poke_input(102, mm.IR_FIRE_CLOSED, 3)
    with pytest.raises(mm.BadRegisterValue, match="IR 7 FIRE_CLOSED = 3, expected 0 or 1"):
        site.doors.state("door-2")


def test_unknown_doors_and_places(site: Site) -> None:
    with pytest.raises(DeviceError, match="unknown door 'door-9'"):
        site.doors.start_open("door-9")
    with pytest.raises(DeviceError, match="unknown place 'roof'"):
        site.doors.doors_on_route("roof")


# -- configuration and the registry --------------------------------------------------------------

def registry() -> DeviceRegistry:
    from hal.drivers import modbus_building

    reg = DeviceRegistry()
    modbus_building.register(reg)
    return reg


def test_both_register_as_model_modbus_and_build_from_config() -> None:
    reg = registry()
    ctx = BuildContext(clock=SimClock(0.0), robot_id="tug-3")
    spec = {"kind": "lift_caller", "model": "modbus", **lift_config(5020)}
    del spec["session"]
    lifts = reg.build("lifts", spec, ctx, source="robot.yaml", field_path="devices.lifts")
    assert isinstance(lifts, ModbusLiftCaller) and lifts.session == default_session("tug-3")
    doors = reg.build("doors", {"kind": "door_opener", "model": "modbus", **door_config(5020)}, ctx,
                      source="robot.yaml", field_path="devices.doors")
    assert isinstance(doors, ModbusDoorOpener) and doors.session == SESSION


def test_config_errors_are_located() -> None:
    reg = registry()
    bad_route = {"kind": "door_opener", "model": "modbus", **door_config(5020)}
    bad_route["routes"] = {"ward-3": [["door-7"]]}
    with pytest.raises(ConfigError, match="route to 'ward-3' names unknown doors: door-7"):
        reg.validate(bad_route, source="robot.yaml", field_path="devices.doors")
    two_levels = {"kind": "lift_caller", "model": "modbus", **lift_config(5020, places={"lobby-a-0": 2})}
    with pytest.raises(ConfigError, match="'lobby-a-0' is on level 2, not 0"):
        reg.validate(two_levels, source="robot.yaml", field_path="devices.lifts")
    bad_unit = {"kind": "lift_caller", "model": "modbus", **lift_config(5020)}
    bad_unit["lifts"]["lift-a"]["unit"] = 300
    with pytest.raises(ConfigError, match=r"devices.lifts.lifts.lift-a.unit"):
        reg.validate(bad_unit, source="robot.yaml", field_path="devices.lifts")
    with pytest.raises(ConfigError, match="timeout_s"):
        reg.validate({"kind": "lift_caller", "model": "modbus", **lift_config(5020, timeout_s=0)},
                     source="robot.yaml", field_path="devices.lifts")
