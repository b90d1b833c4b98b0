"""A sweep file turned into its runs: every point of the axes x every seed, each a `RunTask` whose
id is a digest of its point and what the run simulates (scenario, world, seed, hours), so a resumed
sweep recognises the runs it has already done — and does again any whose configuration changed."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hal.registry import ConfigError
from sim.scenario import load_scenario
from sweep.overrides import Planner, PointSettings, draw_faults, validate
from sweep.spec import SweepSpec, points
from sweep.task import RunTask


@dataclass(frozen=True)
class SweepPlan:
    spec: SweepSpec
    scenario_name: str
    tasks: list[RunTask]


def plan(spec: SweepSpec) -> SweepPlan:
    from sweep.results import RESERVED

    for name in spec.kpis:
        if name in spec.axes or name in RESERVED:
            raise ConfigError(spec.source, f"kpis.{name}", "is also the name of an axis or of a column of the results "
                                                          f"({', '.join(sorted(RESERVED))}): rename the KPI")
    try:
        scenario = load_scenario(spec.scenario_ref())
    except ConfigError as exc:
        raise ConfigError(spec.source, "scenario", str(exc)) from None
    planner = Planner(scenario, spec.source)
    world_digest = hashlib.sha256(scenario.world_path().read_bytes()).hexdigest()
    fixed = [("set", key, value) for key, value in spec.set.items()]
    kpis = {name: target.path for name, target in spec.targets().items()}
    tasks = []
    for point in points(spec):
        settings = planner.apply([("set", "hours", spec.hours), *fixed,
                                  *(("axes", key, value) for key, value in point.values)])
        robots = settings.scenario["robots"]
        by_kind = dict(sorted(Counter(str(r["kind"]) for r in robots).items()))
        for seed in spec.seed_list():
            data = _with_faults(settings, seed, spec)
            run_id = _run_id(point.as_dict(), data, settings.world, world_digest, seed, spec.hours)
            tasks.append(RunTask(run_id=run_id, label=f"sweep {spec.name} run {run_id}", seed=seed, hours=spec.hours,
                                 point=point.as_dict(), scenario=data, world=settings.world, kpis=kpis,
                                 fleet_size=len(robots), robots_by_kind=by_kind,
                                 timeout_s=spec.run_timeout_s))
    return SweepPlan(spec, scenario.name, tasks)


def _with_faults(settings: PointSettings, seed: int, spec: SweepSpec) -> dict[str, Any]:
    if not settings.fault_rates:
        return settings.scenario
    data = dict(settings.scenario)
    data["faults"] = [*data.get("faults", []), *draw_faults(
        data, settings.fault_rates, seed, duration_min=spec.faults.duration_min, reason=spec.faults.reason)]
    validate(PointSettings(data, settings.world), spec.source)
    return data


def _run_id(point: dict[str, Any], scenario: dict[str, Any], world: dict[str, Any] | None, world_digest: str, seed: int,
            hours: float) -> str:
    # the point too: two points may simulate the same day (a fault rate that drew no fault) and are
    # still two rows
    what = {"point": point, "scenario": scenario, "world": world if world is not None else world_digest,
            "seed": seed, "hours": hours}
    text = json.dumps(what, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
