"""The simulated lift caller over the building model: the backend contract, plus what only the
simulator shows (the body rides along; a call to a held car waits; fire service refuses)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hal.clock import SimClock
from hal.device import DeviceError
from hal.handle import HandleStatus
from hal.lift_caller import LiftFailureKind, LiftUnavailable
from sim.body import SimBody
from sim.building_model import BuildingModel, building_model
from sim.devices.lift_caller import SimLiftCaller, SimLiftCallerConfig
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.scenario import WORLDS_DIR
from sim.world import World, load_world
from tests.lift_caller_contract import LiftCallerContract, LiftSite, run

START_S = 1000.0
DT_S = 0.5


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(WORLDS_DIR / "default_hospital.yaml")


@dataclass
class SimSite:
    env: SimEnvironment
    body: SimBody
    caller: SimLiftCaller
    lift: str = "lift-1"
    low: int = -1
    high: int = 1

    @property
    def model(self) -> BuildingModel:
        return building_model(self.env)

    def tick(self) -> None:
        now_s = self.env.clock.now_s() + DT_S
        self.env.clock.set(now_s)
        self.model.step(now_s)

    def take_out_of_service(self, lift: str) -> None:
        self.model.take_out_of_service(lift, self.env.clock.now_s())


@pytest.fixture
def site(world: World) -> SimSite:
    clock = SimClock(START_S)
    env = SimEnvironment(world, PatientCensus(1, world.beds(), START_S), clock, 1)
    body = env.add_robot("r1", "lift-1-car-B1")
    caller = SimLiftCaller("lifts", clock, env, body, SimLiftCallerConfig())
    caller.setup()
    return SimSite(env, body, caller)


class TestSimLiftCaller(LiftCallerContract):
    def other_lifts(self, site: LiftSite) -> list[str]:
        return ["lift-2"]


def test_the_body_in_the_car_rides_along(site: SimSite, world: World) -> None:
    route = site.caller.route(-1, 1, avoid=["lift-2"])
    assert run(site, site.caller.start_call(route)) is HandleStatus.SUCCEEDED
    assert run(site, site.caller.start_travel(route)) is HandleStatus.SUCCEEDED
    car = world.places[route.car_to]
    assert (site.body.pose.x_m, site.body.pose.y_m, site.body.pose.level) == (car.x_m, car.y_m, 1)


def test_route_prefers_the_car_with_the_shorter_wait(site: SimSite) -> None:
    other = site.model.session_for("someone")
    site.model.hall_call("lift-1", 1, other)  # lift-1 is busy for someone else
    assert site.caller.route(-1, 1).lift == "lift-2"


def test_a_call_to_a_held_car_waits_until_it_is_free(site: SimSite) -> None:
    other = site.model.session_for("someone")
    site.model.hall_call("lift-1", 1, other)
    route = site.caller.route(-1, 1, avoid=["lift-2"])
    call = site.caller.start_call(route)
    for _ in range(100):
        site.tick()
        assert call.poll() is HandleStatus.RUNNING
    site.model.release("lift-1", other)
    assert run(site, call) is HandleStatus.SUCCEEDED


def test_fire_service_refuses_routes_and_calls(site: SimSite) -> None:
    route = site.caller.route(-1, 1)
    site.model.set_fire_alarm(True)
    with pytest.raises(LiftUnavailable) as caught:
        site.caller.route(-1, 1)
    assert caught.value.kind is LiftFailureKind.FIRE_SERVICE and caught.value.reason == "fire alarm: no lift rides"
    with pytest.raises(LiftUnavailable) as refused:
        site.caller.start_call(route)
    assert refused.value.kind is LiftFailureKind.FIRE_SERVICE


def test_travel_needs_the_robot_in_the_car(site: SimSite, world: World) -> None:
    site.body.pose = world.places["lift-1-lobby-B1"].pose
    route = site.caller.route(-1, 1, avoid=["lift-2"])
    assert run(site, site.caller.start_call(route)) is HandleStatus.SUCCEEDED
    with pytest.raises(DeviceError, match="not in the car"):
        site.caller.start_travel(route)
