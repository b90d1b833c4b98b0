"""Simulated tube handler (gripper over the lab robot's racks) and the label camera that looks at
the gripped tube.

The racks live in the simulation's lab state (`sim.lab_samples.lab_site(env).cell(robot)`), which
the centrifuge and the analyzers see too. A pick or place changes the racks only when its handle
completes, so a cancelled move leaves the tube where it was.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

from hal.camera import Camera, Frame
from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth
from hal.handle import Handle, HandleStatus, ResolvedHandle
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from hal.tube_handler import RackStatus, TubeHandler, TubeMove
from missions.lab.reference import Specimen
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.lab_samples import Handover, LabCell, lab_site, render_tube_frame

T = TypeVar("T")

DEFAULT_AREAS = {"input": 12, "carrier": 12, "centrifuge": 8, "chem": 12, "haem": 8, "reject": 8, "hold": 24,
                 "qc": 4, "balance": 1, "waste": 400}


class CallbackHandle(ResolvedHandle[T, str]):
    """Succeeds at its due time and only then applies its effect (a cancel before that: none)."""

    def __init__(self, now_fn: Callable[[], float], on_success: Callable[[], None]) -> None:
        super().__init__(now_fn)
        self._on_success = on_success

    def poll(self) -> HandleStatus:
        before = self._status
        status = super().poll()
        if before is HandleStatus.RUNNING and status is HandleStatus.SUCCEEDED:
            self._on_success()
        return status


class SimTubeHandlerConfig(DeviceConfig):
    areas: dict[str, int] = DEFAULT_AREAS
    move_s: float = 4.0  # one pick or one place
    rotate_s: float = 1.0
    handover_s: float = 60.0  # the nurse loads the carrier and closes it
    station_reach_m: float = 2.0
    stock_controls: bool = True  # QC material in the fridge, a balance tube on the bench


class SimTubeHandler(TubeHandler):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody,
                 config: SimTubeHandlerConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.cell: LabCell = lab_site(env).cell(body.robot_id, dict(config.areas))
        if config.stock_controls:
            lab_site(env).stock_controls(body.robot_id)
        self.moves_done = 0
        self.handovers: list[tuple[str, str, float]] = []  # (area, staff_ref, when)

    def areas(self) -> list[str]:
        return list(self.cell.areas)

    def rack(self, area: str) -> RackStatus:
        self._require_open()
        if area not in self.cell.areas:
            raise DeviceError(self.name, f"unknown rack area {area!r} (areas: {', '.join(self.cell.areas)})")
        positions = tuple(f"{area}:{i}" for i in range(1, len(self.cell.areas[area]) + 1))
        occupied = frozenset(p for p, t in zip(positions, self.cell.areas[area], strict=True) if t is not None)
        return RackStatus(area, positions, occupied, self.clock.now_s())

    def holding(self) -> str | None:
        return self.cell.gripper[0] if self.cell.gripper is not None else None

    def start_pick(self, position: str) -> Handle[TubeMove, str]:
        self._check_position(position)
        handle: CallbackHandle[TubeMove] = CallbackHandle(self.clock.now_s, lambda: self._picked(position))
        due_s = self.clock.now_s() + self.config.move_s
        fault = self.sim.fault()
        if fault is not None:
            handle.fail_at(self.clock.now_s(), f"gripper fault: {fault}")
        elif self.cell.gripper is not None:
            handle.fail_at(self.clock.now_s(), f"gripper already holds the tube from {self.cell.gripper[0]}")
        elif self.cell.tube_at(position) is None:
            handle.fail_at(due_s, f"no tube at {position}")
        else:
            handle.succeed_at(due_s, TubeMove(position, due_s))
        return handle

    def start_place(self, position: str) -> Handle[TubeMove, str]:
        self._check_position(position)
        handle: CallbackHandle[TubeMove] = CallbackHandle(self.clock.now_s, lambda: self._placed(position))
        due_s = self.clock.now_s() + self.config.move_s
        fault = self.sim.fault()
        if fault is not None:
            handle.fail_at(self.clock.now_s(), f"gripper fault: {fault}")
        elif self.cell.gripper is None:
            handle.fail_at(self.clock.now_s(), "the gripper holds no tube")
        elif self.cell.tube_at(position) is not None:
            handle.fail_at(due_s, f"position {position} is occupied")
        else:
            handle.succeed_at(due_s, TubeMove(position, due_s))
        return handle

    def start_handover(self, area: str, *, authorised_by: str) -> Handle[RackStatus, str]:
        """At a nurse station, the nurse puts every collection waiting there into the free
        positions (up to the carrier's size) and closes the lid after `handover_s`."""
        self._require_open()
        rack = self.rack(area)
        handle: CallbackHandle[RackStatus] = CallbackHandle(self.clock.now_s, lambda: self._loaded(area))
        due_s = self.clock.now_s() + self.config.handover_s
        fault = self.sim.fault()
        if fault is not None:
            handle.fail_at(self.clock.now_s(), f"carrier lock fault: {fault}")
        elif not authorised_by:
            handle.fail_at(self.clock.now_s(), "the carrier opens only for authenticated staff")
        else:
            handle.succeed_at(due_s, rack)
        self.handovers.append((area, authorised_by, self.clock.now_s()))
        return handle

    def _loaded(self, area: str) -> None:
        station = self._station_here()
        if station is None:
            return
        site = lab_site(self.sim.env)
        waiting = site.hand_over(station)
        free = self.cell.free_positions(area)
        for position_name, tube in zip(free, waiting, strict=False):
            self.cell.put(position_name, tube)
        if len(waiting) > len(free):  # what did not fit waits for the next run
            site.pending.setdefault(station, []).insert(0, Handover(station, waiting[len(free):], []))

    def _station_here(self) -> str | None:
        pose = self.sim.body.pose
        for place in self.sim.env.world.places.values():
            if place.kind == "nurse_station" and place.level == pose.level and math.hypot(
                    place.x_m - pose.x_m, place.y_m - pose.y_m) <= self.config.station_reach_m:
                return place.name
        return None

    def start_rotate(self) -> Handle[TubeMove, str]:
        self._require_open()
        handle: CallbackHandle[TubeMove] = CallbackHandle(self.clock.now_s, lambda: None)
        due_s = self.clock.now_s() + self.config.rotate_s
        if self.cell.gripper is None:
            handle.fail_at(due_s, "the gripper holds no tube")
        else:
            handle.succeed_at(due_s, TubeMove("gripper", due_s))
        return handle

    def _check_position(self, position: str) -> None:
        self._require_open()
        area, _, index = position.rpartition(":")
        if area not in self.cell.areas or not index.isdigit() or not 1 <= int(index) <= len(self.cell.areas[area]):
            raise DeviceError(self.name, f"unknown position {position!r} (areas: {', '.join(self.cell.areas)})")

    def _picked(self, position: str) -> None:
        tube = self.cell.tube_at(position)
        if tube is not None and self.cell.gripper is None:
            self.cell.put(position, None)
            self.cell.gripper = (position, tube)
            self.moves_done += 1

    def _placed(self, position: str) -> None:
        if self.cell.gripper is not None and self.cell.tube_at(position) is None:
            self.cell.put(position, self.cell.gripper[1])
            self.cell.gripper = None
            self.moves_done += 1

    def health(self) -> DeviceHealth:
        return self.sim.health()


# ---- the label camera ---------------------------------------------------------------------------


class SimLabelCameraConfig(DeviceConfig):
    width_px: int = 480
    height_px: int = 360
    blur_sigma_px: float = 1.2
    noise_sigma: float = 5.0
    occluded_probability: float = 0.08  # per frame: label turned away, finger over the code
    frame_id: str = "label_camera"


class SimLabelCamera(Camera):
    """Looks at whatever tube the robot's gripper holds, label towards it (else the empty rack)."""

    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody,
                 config: SimLabelCameraConfig) -> None:
        super().__init__(name, clock)
        self.sim = SimLink(self, env, body)
        self.config = config
        self.frames_rendered = 0

    def read(self) -> Frame:
        self._require_open()
        self.sim.raise_on_fault()
        cfg, rng = self.config, self.sim.rng()
        cell = lab_site(self.sim.env).cell(self.sim.robot_id)
        tube = cell.gripper[1] if cell.gripper is not None else None
        occluded = bool(rng.random() < cfg.occluded_probability)
        image = render_tube_frame(
            tube.label if tube is not None else None, rng,
            specimen=tube.specimen if tube is not None else Specimen.SERUM,
            width_px=cfg.width_px, height_px=cfg.height_px, blur_sigma_px=cfg.blur_sigma_px,
            noise_sigma=cfg.noise_sigma, occluded=occluded, damaged=tube is not None and tube.label_damaged,
        )
        self.frames_rendered += 1
        return Frame(image, self.clock.now_s(), cfg.frame_id)

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimTubeHandlerConfig, ctx: BuildContext) -> SimTubeHandler:
    env, body = sim_context(ctx)
    return SimTubeHandler(name, ctx.clock, env, body, config)


def build_label_camera(name: str, config: SimLabelCameraConfig, ctx: BuildContext) -> SimLabelCamera:
    env, body = sim_context(ctx)
    return SimLabelCamera(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("tube_handler", "sim", SimTubeHandlerConfig, build)
    registry.register("camera", "sim_tube_label", SimLabelCameraConfig, build_label_camera)
