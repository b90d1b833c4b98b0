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
from typing import Any, Protocol, TypeVar

import numpy as np
import pydantic

from fleet.demand._common import parse_settings as _parse_settings
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


M = TypeVar("M", bound=pydantic.BaseModel)


def parse_settings(model: type[M], part: str, settings: Mapping[str, Any]) -> M:
    """A part's settings, the first bad field named (``hospital.lab.stations.0: ...``): the demand
    sources' check (`fleet.demand._common.parse_settings`) with the hospital's section and error."""
    return _parse_settings(model, part, settings, section="hospital", error=HospitalError)


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
