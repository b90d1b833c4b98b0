"""Workloads: what the hospital asks of each robot kind during a simulated day.

The ward's observation chart for nursing robots, the radiology worklist for imaging, test orders
for the lab, patrol rounds for security, delivery requests for logistics, outbreak cases for the
epidemiological survey. A workload module is named after the robot kind (`sim/workloads/<kind>.py`)
and exposes `build(ctx, robots, settings) -> Workload`; the runner finds it by that name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from hal.clock import SimClock
from missions.events import MissionEvent
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.scenario import RobotPlacement
from sim.world import World

#: dispatch(robot_id, mission_kind, params, priority, mission_id)
Dispatch = Callable[[str, str, dict[str, Any], int, str], None]


@dataclass
class WorkloadContext:
    world: World
    census: PatientCensus
    env: SimEnvironment
    clock: SimClock
    seed: int
    start_s: float
    end_s: float
    dispatch: Dispatch

    def rng(self, name: str) -> np.random.Generator:
        """A random stream of its own per workload, stable for the seed."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, *name.encode()]))


class Workload(Protocol):
    def step(self, now_s: float) -> None:
        """Called once per tick before the robots step; dispatches what falls due."""
        ...

    def on_event(self, event: MissionEvent) -> None:
        """Every mission event of every robot (to book follow-ups, track outcomes)."""
        ...

    def summary(self) -> dict[str, Any]:
        """Kind-specific figures for summary.json (deterministic)."""
        ...


class WorkloadError(ValueError):
    pass


WorkloadFactory = Callable[[WorkloadContext, list[RobotPlacement], Mapping[str, Any]], Workload]


def load_workload_factory(kind: str) -> WorkloadFactory | None:
    """The workload module for a robot kind, or None when the kind has no workload (it then
    only acts on missions dispatched to it by an operator)."""
    try:
        module = importlib.import_module(f"sim.workloads.{kind}")
    except ModuleNotFoundError as exc:
        if exc.name == f"sim.workloads.{kind}":
            return None
        raise
    factory: WorkloadFactory = module.build
    return factory
