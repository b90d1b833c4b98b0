"""Simulated badge/PIN reader: the staff at the robot's place present themselves.

Who presents comes from the logistics world: a scripted presentation for this place first
(tests and scenarios inject wrong PINs that way), else the first authorised staff member there
taps a badge after a seeded response time. Nobody authorised there → nobody comes (the
mission's deadline decides). The PIN check stands in for the hospital's staff directory.
"""

from __future__ import annotations

from collections.abc import Sequence

from hal.badge_reader import Authentication, AuthenticationHandle, AuthMethod, BadgeReader
from hal.clock import Clock
from hal.device import DeviceHealth
from hal.handle import ResolvedHandle
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.logistics_world import Presentation, logistics_world


class SimBadgeReaderConfig(DeviceConfig):
    min_response_s: float = 10.0
    max_response_s: float = 60.0
    #: a scripted PIN entry or badge tap takes this long
    entry_s: float = 8.0
    place_radius_m: float = 3.0


class SimBadgeReader(BadgeReader):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimBadgeReaderConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.presented: list[Authentication] = []

    def place(self) -> str | None:
        pose = self.sim.body.pose
        near = self.sim.env.world.nearest_place(
            pose.x_m, pose.y_m, max_distance_m=self.config.place_radius_m, level=pose.level
        )
        return near.name if near is not None else None

    def start_authentication(self, authorised: Sequence[str], *, allow_pin: bool = True) -> AuthenticationHandle:
        self._require_open()
        self.sim.raise_on_fault()
        handle: ResolvedHandle[Authentication, str] = ResolvedHandle(self.clock.now_s)
        place = self.place()
        if place is None:
            return handle  # nobody to present: stays RUNNING until the caller's deadline
        world = logistics_world(self.sim.env)
        now_s = self.clock.now_s()
        scripted = world.next_scripted(place)
        if scripted is not None:
            due_s = now_s + self.config.entry_s
            handle.succeed_at(due_s, self._check(scripted, authorised, allow_pin, due_s))
            return handle
        here = [s for s in world.staff_at(place) if s.staff_ref in authorised]
        if not here:
            return handle
        cfg = self.config
        due_s = now_s + float(self.sim.rng().uniform(cfg.min_response_s, cfg.max_response_s))
        handle.succeed_at(due_s, self._check(Presentation("badge", here[0].staff_ref), authorised, allow_pin, due_s))
        return handle

    def _check(
        self, presented: Presentation, authorised: Sequence[str], allow_pin: bool, stamp_s: float
    ) -> Authentication:
        world = logistics_world(self.sim.env)
        member = world.staff_member(presented.staff_ref)
        method: AuthMethod = "pin" if presented.method == "pin" else "badge"
        if member is None:
            result = Authentication(False, method, None, "unknown badge or staff reference", stamp_s)
        elif method == "pin" and not allow_pin:
            result = Authentication(False, method, member.staff_ref, "PIN not accepted here: badge needed", stamp_s)
        elif method == "pin" and presented.pin != member.pin:
            result = Authentication(False, method, member.staff_ref, "wrong pin", stamp_s)
        elif member.staff_ref not in authorised:
            result = Authentication(False, method, member.staff_ref, "not authorised for this hand-over", stamp_s)
        else:
            result = Authentication(True, method, member.staff_ref, "", stamp_s)
        self.presented.append(result)
        return result

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimBadgeReaderConfig, ctx: BuildContext) -> SimBadgeReader:
    env, body = sim_context(ctx)
    return SimBadgeReader(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("badge_reader", "sim", SimBadgeReaderConfig, build)
