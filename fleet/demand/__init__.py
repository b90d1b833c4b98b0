"""Demand sources: the hospital's standing work, turned into fleet tasks.

A source is a module `fleet/demand/<name>.py` exposing `build(ctx, settings) -> DemandSource`;
the fleet's config names the sources it runs (`demand: {<name>: {settings}}`). A source never picks
a robot: it submits `TaskRequest`s (kind, params, priority, window, robot kinds, zone) and the
allocator decides. It hears what robots report (through the contract: events, clinical records,
alerts) and how its tasks ended, to book follow-ups (a NEWS2 re-check, the meal list for the
kitchen, a lab batch once samples arrive).

What a source needs to know about the hospital (who lies in which bed, the drug chart, the
worklist) comes through a narrow protocol of its own, implemented by the hospital's information
systems — `his/` on a real site, the simulated hospital in `medbot sim` — never by importing them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fleet.site import SiteMap
from fleet.tasks import Task, TaskRequest

Submit = Callable[[TaskRequest], None]


@dataclass(frozen=True)
class RobotMessage:
    """One message a robot published, as the contract defines it (the envelope's body)."""

    robot_id: str
    #: "events", "clinical", "alerts" (telemetry.topics.Channel values)
    channel: str
    body: dict[str, Any]
    stamp_s: float
    #: the fleet task the message belongs to (from the event's task_id or the fleet's own mission
    #: bookkeeping); None for messages not about a fleet task
    task_id: str | None = None


@dataclass
class DemandContext:
    site: SiteMap
    #: the seed for anything a source randomises (the simulator's; `medbot fleet run` passes 0, and a
    #: source on a real site should decide from what the hospital tells it, not from chance)
    seed: int
    start_s: float
    #: the end of a bounded run (a simulated day), None for a service that runs until stopped
    end_s: float | None
    submit: Submit
    #: the hospital's information systems, by what each source asks for (`ward_census`, `mar`, ...)
    hospital: Mapping[str, Any] = field(default_factory=dict)

    def rng(self, name: str) -> np.random.Generator:
        """A random stream of its own per source, stable for the seed."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, *name.encode()]))


class DemandSource(Protocol):
    name: str

    def step(self, now_s: float) -> None:
        """Called on every fleet step; submits what falls due (through ctx.submit)."""
        ...

    def on_message(self, message: RobotMessage) -> None:
        """Every events / clinical / alerts message of every robot."""
        ...

    def on_task_finished(self, task: Task) -> None:
        """One of this source's tasks ended (done, failed or cancelled)."""
        ...

    def summary(self) -> dict[str, Any]:
        """Source-specific figures for summary.json (deterministic)."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """JSON-able state the fleet persists, so that a restarted service carries on (due re-checks)."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what `snapshot` returned before a restart."""
        ...


class DemandError(ValueError):
    """Bad settings for a source; the message names the field."""


DemandFactory = Callable[[DemandContext, Mapping[str, Any]], DemandSource]


def load_demand_factory(name: str) -> DemandFactory:
    try:
        module = importlib.import_module(f"fleet.demand.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"fleet.demand.{name}":
            raise DemandError(f"demand.{name}: no such demand source (fleet/demand/{name}.py)") from None
        raise
    factory: DemandFactory = module.build
    return factory
