"""Simulated room interlocks: read from the imaging room model (door, staff, warning light)."""

from __future__ import annotations

from hal.clock import Clock
from hal.device import DeviceHealth
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from hal.room_interlocks import InterlockState, RoomInterlocks
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.devices.xray import bind_room
from sim.environment import SimEnvironment
from sim.imaging_patients import ImagingRoom


class SimRoomInterlocksConfig(DeviceConfig):
    room: str = "radiology-xray"


class SimRoomInterlocks(RoomInterlocks):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, room: ImagingRoom,
                 config: SimRoomInterlocksConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.room_model = room
        self.config = config

    @property
    def room(self) -> str:
        return self.config.room

    def state(self) -> InterlockState:
        self._require_open()
        self.sim.raise_on_fault()
        r = self.room_model
        r.advance(self.clock.now_s())
        return InterlockState(r.name, r.door_closed, r.staff_present == 0, r.warning_light_on, self.clock.now_s())

    def set_warning_light(self, on: bool) -> None:
        self._require_open()
        self.sim.raise_on_fault()
        self.room_model.warning_light_on = on

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimRoomInterlocksConfig, ctx: BuildContext) -> SimRoomInterlocks:
    env, body = sim_context(ctx)
    return SimRoomInterlocks(name, ctx.clock, env, body, bind_room(ctx, env, body, config.room), config)


def register(registry: DeviceRegistry) -> None:
    registry.register("room_interlocks", "sim", SimRoomInterlocksConfig, build)
