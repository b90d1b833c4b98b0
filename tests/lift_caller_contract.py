"""What every `LiftCaller` backend does, as one test class (DESIGN principle 3).

A backend's tests subclass `LiftCallerContract` and give a `site` fixture returning a `LiftSite`:
the caller under test, set up, over a building with a lift `lift` serving `low` and `high`, and
the building operator's hand (`tick`, `take_out_of_service`). The sim backend runs it in
tests/sim/test_sim_lift_caller.py; the Modbus backend can run it the same way.
"""

from __future__ import annotations

from typing import Any, Protocol

import pytest

from hal.handle import Handle, HandleStatus
from hal.lift_caller import LiftCaller, LiftFailureKind, LiftHandle, LiftMode, NoLiftRoute


class LiftSite(Protocol):
    @property
    def caller(self) -> LiftCaller: ...

    @property
    def lift(self) -> str: ...

    @property
    def low(self) -> int: ...

    @property
    def high(self) -> int: ...

    def tick(self) -> None:
        """One step of the building (and whatever carries its state to the caller)."""
        ...

    def take_out_of_service(self, lift: str) -> None: ...


def run(site: LiftSite, handle: Handle[Any, Any], max_steps: int = 600) -> HandleStatus:
    for _ in range(max_steps):
        if handle.poll().done:
            return handle.poll()
        site.tick()
    raise AssertionError(f"handle still running after {max_steps} steps (feedback {handle.feedback})")


class LiftCallerContract:
    def test_route_names_the_places_of_both_floors(self, site: LiftSite) -> None:
        route = site.caller.route(site.low, site.high, avoid=self.other_lifts(site))
        assert (route.lift, route.from_level, route.to_level) == (site.lift, site.low, site.high)
        assert route.board_at and route.car_from and route.car_to and route.leave_at
        assert route.expected_wait_s >= 0.0
        assert route.lobby_at(site.low) == route.board_at and route.lobby_at(site.high) == route.leave_at

    def test_route_avoiding_every_lift_is_no_route(self, site: LiftSite) -> None:
        with pytest.raises(NoLiftRoute):
            site.caller.route(site.low, site.high, avoid=[site.lift, *self.other_lifts(site)])

    def test_call_travel_and_release(self, site: LiftSite) -> None:
        route = site.caller.route(site.low, site.high, avoid=self.other_lifts(site))
        call = site.caller.start_call(route)
        assert run(site, call) is HandleStatus.SUCCEEDED, call.error
        assert call.result is not None and call.result.level == site.low
        state = site.caller.status(site.lift)
        assert state.held and state.open_at == site.low
        ride = site.caller.start_travel(route)
        assert run(site, ride) is HandleStatus.SUCCEEDED, ride.error
        assert ride.result is not None and ride.result.level == site.high
        assert site.caller.status(site.lift).open_at == site.high
        site.caller.release(site.lift)
        site.caller.release(site.lift)  # harmless when nothing is held
        site.tick()
        state = site.caller.status(site.lift)
        assert not state.held and state.free

    def test_out_of_service_mid_ride_fails_where_the_car_stands_open(self, site: LiftSite) -> None:
        route = site.caller.route(site.low, site.high, avoid=self.other_lifts(site))
        assert run(site, site.caller.start_call(route)) is HandleStatus.SUCCEEDED
        ride: LiftHandle = site.caller.start_travel(route)
        for _ in range(600):  # until the car moves
            site.tick()
            if ride.poll().done or site.caller.status(site.lift).motion.value != "idle":
                break
        site.take_out_of_service(site.lift)
        assert run(site, ride) is HandleStatus.FAILED
        assert ride.failure is not None and ride.failure.kind is LiftFailureKind.OUT_OF_SERVICE
        assert ride.failure.level is not None and site.caller.status(site.lift).open_at == ride.failure.level
        assert site.caller.status(site.lift).mode is LiftMode.OUT_OF_SERVICE
        site.caller.release(site.lift)

    def other_lifts(self, site: LiftSite) -> list[str]:
        """Lifts besides `site.lift` serving both floors (avoided so the test uses `site.lift`)."""
        return []
