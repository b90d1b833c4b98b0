"""Simulated cargo compartments and their keypad (badge + PIN) reader.

Loading and unloading complete after a handling time: the staff member who unlocked puts in (or
takes out) what the manifest says and shuts the door. `force_open` injects a break-in (the
tamper switch latches). The keypad is the compartments' own badge reader (model
``logistics-keypad``); it checks scans against the logistics world's staff directory.
"""

from __future__ import annotations

from hal.badge_reader import BadgeReader, BadgeScan
from hal.clock import Clock
from hal.compartments import CompartmentHandle, Compartments, CompartmentState
from hal.device import DeviceError, DeviceHealth
from hal.handle import Handle, HandleStatus, ResolvedHandle
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.logistics_world import Presentation, logistics_world


class SimCompartmentsConfig(DeviceConfig):
    compartment_ids: tuple[str, ...] = ("C1", "C2", "C3", "C4")
    load_s: float = 45.0
    unload_s: float = 30.0


class _CompartmentHandle(ResolvedHandle[CompartmentState, str]):
    """Applies the contents change when it completes (not before: a cancelled unload leaves the
    goods inside, locked)."""

    def __init__(self, owner: SimCompartments, compartment_id: str, contents: dict[str, int]) -> None:
        super().__init__(owner.clock.now_s)
        self._owner = owner
        self._compartment_id = compartment_id
        self._contents = contents

    def poll(self) -> HandleStatus:
        before = self._status
        status = super().poll()
        if before is HandleStatus.RUNNING and status is HandleStatus.SUCCEEDED:
            self._owner._contents[self._compartment_id] = dict(self._contents)
            self._result = self._owner.state(self._compartment_id)
        return status


class SimCompartments(Compartments):
    def __init__(
        self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimCompartmentsConfig
    ) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self._contents: dict[str, dict[str, int]] = {c: {} for c in config.compartment_ids}
        self._tampered: dict[str, bool] = {c: False for c in config.compartment_ids}
        self.log: list[tuple[float, str, str, str | None]] = []  # (stamp_s, compartment, action, by)

    def compartment_ids(self) -> list[str]:
        return list(self._contents)

    def _check(self, compartment_id: str) -> None:
        self._require_open()
        if compartment_id not in self._contents:
            raise DeviceError(self.name, f"unknown compartment {compartment_id!r} (have {', '.join(self._contents)})")

    def state(self, compartment_id: str) -> CompartmentState:
        self._check(compartment_id)
        return CompartmentState(
            compartment_id, True, False, dict(self._contents[compartment_id]), self._tampered[compartment_id],
            self.clock.now_s(),
        )

    def start_loading(self, compartment_id: str, manifest: dict[str, int], *, authorised_by: str) -> CompartmentHandle:
        self._start(compartment_id, "load", authorised_by)
        if self._contents[compartment_id]:
            raise DeviceError(self.name, f"compartment {compartment_id} is not empty")
        handle = _CompartmentHandle(self, compartment_id, manifest)
        handle.succeed_at(self.clock.now_s() + self.config.load_s, self.state(compartment_id))
        return handle

    def start_unloading(self, compartment_id: str, *, authorised_by: str) -> CompartmentHandle:
        self._start(compartment_id, "unload", authorised_by)
        handle = _CompartmentHandle(self, compartment_id, {})
        handle.succeed_at(self.clock.now_s() + self.config.unload_s, self.state(compartment_id))
        return handle

    def _start(self, compartment_id: str, action: str, authorised_by: str) -> None:
        self._check(compartment_id)
        self.sim.raise_on_fault()
        if not authorised_by:
            raise DeviceError(self.name, f"{action} needs an authenticated member of staff")
        if self._tampered[compartment_id]:
            raise DeviceError(self.name, f"compartment {compartment_id} tamper switch latched")
        self.log.append((self.clock.now_s(), compartment_id, action, authorised_by))

    def clear_tamper(self, compartment_id: str, *, authorised_by: str) -> None:
        self._check(compartment_id)
        self._tampered[compartment_id] = False
        self.log.append((self.clock.now_s(), compartment_id, "clear_tamper", authorised_by))

    # -- input injection ---------------------------------------------------------------------

    def force_open(self, compartment_id: str, take: dict[str, int] | None = None) -> None:
        """Someone forces the locked door (and takes `take` out of it)."""
        self._check(compartment_id)
        self._tampered[compartment_id] = True
        for item, quantity in (take or {}).items():
            left = self._contents[compartment_id].get(item, 0) - quantity
            if left > 0:
                self._contents[compartment_id][item] = left
            else:
                self._contents[compartment_id].pop(item, None)
        self.log.append((self.clock.now_s(), compartment_id, "forced", None))

    def health(self) -> DeviceHealth:
        return self.sim.health()


class SimKeypadConfig(DeviceConfig):
    min_response_s: float = 10.0
    max_response_s: float = 60.0
    entry_s: float = 8.0  # a scripted scan + PIN takes this long
    place_radius_m: float = 3.0


class SimKeypad(BadgeReader):
    """Whoever stands at the robot's place scans: a scripted presentation first (tests inject
    wrong PINs that way), else the first staff member there with the role after a seeded
    response time. Nobody with the role there → nobody comes (the caller's deadline decides)."""

    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody, config: SimKeypadConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.scans: list[BadgeScan] = []

    def place(self) -> str | None:
        pose = self.sim.body.pose
        near = self.sim.env.world.nearest_place(
            pose.x_m, pose.y_m, max_distance_m=self.config.place_radius_m, level=pose.level
        )
        return near.name if near is not None else None

    def start_authentication(self, *, required_role: str, purpose: str) -> Handle[BadgeScan, str]:
        self._require_open()
        self.sim.raise_on_fault()
        handle: ResolvedHandle[BadgeScan, str] = ResolvedHandle(self.clock.now_s)
        place = self.place()
        if place is None:
            return handle  # nobody here: stays RUNNING until the caller's deadline
        world = logistics_world(self.sim.env)
        now_s = self.clock.now_s()
        scripted = world.next_scripted(place)
        if scripted is not None:
            due_s = now_s + self.config.entry_s
        else:
            here = [s for s in world.staff_at(place) if s.role == required_role]
            if not here:
                return handle
            scripted = Presentation(here[0].staff_ref)
            due_s = now_s + float(self.sim.rng().uniform(self.config.min_response_s, self.config.max_response_s))
        handle.succeed_at(due_s, self._check(scripted, required_role, due_s))
        return handle

    def _check(self, presented: Presentation, required_role: str, stamp_s: float) -> BadgeScan:
        member = logistics_world(self.sim.env).staff_member(presented.staff_ref)
        if member is None:
            scan = BadgeScan(False, None, None, "unknown badge", stamp_s)
        elif presented.pin is not None and presented.pin != member.pin:
            scan = BadgeScan(False, member.staff_ref, member.role, "wrong pin", stamp_s)
        elif member.role != required_role:
            scan = BadgeScan(False, member.staff_ref, member.role, f"role {member.role} is not {required_role}",
                             stamp_s)
        else:
            scan = BadgeScan(True, member.staff_ref, member.role, "", stamp_s)
        self.scans.append(scan)
        return scan

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimCompartmentsConfig, ctx: BuildContext) -> SimCompartments:
    env, body = sim_context(ctx)
    return SimCompartments(name, ctx.clock, env, body, config)


def build_keypad(name: str, config: SimKeypadConfig, ctx: BuildContext) -> SimKeypad:
    env, body = sim_context(ctx)
    return SimKeypad(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("compartments", "sim", SimCompartmentsConfig, build)
    registry.register("badge_reader", "logistics-keypad", SimKeypadConfig, build_keypad)
