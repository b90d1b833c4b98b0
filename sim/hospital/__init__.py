"""The simulated hospital around the robots: what *happens* — patients, orders arriving, the
worklist's content, stock being used, incidents — never what is *decided* (that is `fleet/`).

A part is a module `sim/hospital/<name>.py` exposing `build(ctx, settings) -> HospitalPart`; the
scenario's `hospital: {<name>: {settings}}` names the parts a run has. Each part offers the
information the fleet's demand sources read (`information()`: the ward census, the drug chart, the
kitchen's list, the worklist...) — in a real hospital these come from the information systems
(`his/`). A person asking for something (a visitor wanting guidance, a nurse calling a porter)
goes through the fleet's request topic like any other client (`ctx.request_task`).
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

#: publish a `tasks/request` body (telemetry/schemas/task_request.json) to the fleet
RequestTask = Callable[[dict[str, Any]], None]
#: the building's fire panel: (active, reason)
FirePanel = Callable[[bool, str], None]


@dataclass
class HospitalContext:
    world: World
    census: PatientCensus
    env: SimEnvironment
    clock: SimClock
    seed: int
    start_s: float
    end_s: float
    robots: list[RobotPlacement]
    request_task: RequestTask
    fire_panel: FirePanel

    def rng(self, name: str) -> np.random.Generator:
        """A random stream of its own per part, stable for the seed."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, *name.encode()]))


class HospitalPart(Protocol):
    def step(self, now_s: float) -> None:
        """Called once per tick before the fleet and the robots step."""
        ...

    def on_event(self, event: MissionEvent) -> None:
        """Every mission event of every robot, for its physical consequences (goods delivered go
        into the ward's stock, a sample handed over leaves the station)."""
        ...

    def information(self) -> dict[str, Any]:
        """What the fleet's demand sources may read, by name (`fleet.demand.DemandContext.hospital`)."""
        ...

    def summary(self) -> dict[str, Any]:
        """Figures for summary.json (deterministic)."""
        ...


class HospitalError(ValueError):
    pass


HospitalFactory = Callable[[HospitalContext, Mapping[str, Any]], HospitalPart]


def load_hospital_factory(name: str) -> HospitalFactory:
    try:
        module = importlib.import_module(f"sim.hospital.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"sim.hospital.{name}":
            raise HospitalError(f"hospital.{name}: no such part of the simulated hospital") from None
        raise
    factory: HospitalFactory = module.build
    return factory
