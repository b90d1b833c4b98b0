"""The sweep file: which scenario, what to vary, for how long, which KPIs with which targets.

```yaml
name: nursing-fleet-size
scenario: hospital-day          # a name from sim/scenarios, or a path relative to this file
hours: 2                        # simulated hours per run (a hospital-day may be shortened)
set:                            # fixed overrides for every run (same keys as axes)
  his.enabled: false
axes:                           # every combination of these values is a point of the sweep
  robots.nursing: [1, 2, 3, 4]
seeds: [1, 2, 3]                # every point runs once per seed (or a count: 3 -> 1, 2, 3)
kpis:                           # a built-in KPI (sweep/kpis.py) or `path:` into summary.json
  deterioration_to_alert_max_min: {max: 30}
  drug_rounds_on_time: {min: 0.9}
```

An axis key is `robots.<kind>` (how many robots of that kind), `beds.<ward>` (how many of the
ward's beds are in use), `fault_rate.<device>` (device faults per robot per simulated day) or a
dotted path to a setting of the scenario (`patients.deteriorating_fraction`). What each names is
checked against the scenario when the sweep is planned (sweep/overrides.py)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml

from hal.registry import ConfigError
from sweep.kpis import BUILTIN_KPIS

#: an axis value: what a YAML scalar can be
AxisValue = bool | int | float | str


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class KpiTarget(_Strict):
    #: a dotted path to a number in summary.json (None: the KPI's name is a built-in one)
    path: str | None = pydantic.Field(None, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_:-]+)*$")
    min: float | None = None
    max: float | None = None

    @pydantic.model_validator(mode="after")
    def _range(self) -> KpiTarget:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")
        return self

    def met_by(self, value: float | None) -> bool | None:
        """Whether `value` meets the target (None: there is no target, or no value to judge)."""
        if self.min is None and self.max is None:
            return None
        if value is None:
            return None
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self) -> str:
        parts = ([f">= {self.min:g}"] if self.min is not None else []) + (
            [f"<= {self.max:g}"] if self.max is not None else [])
        return " and ".join(parts) or "—"


class FaultSettings(_Strict):
    """The device faults a `fault_rate.<device>` axis injects."""

    duration_min: float = pydantic.Field(30.0, gt=0, le=24 * 60)
    reason: str = "fault injected by the sweep"


class SweepSpec(_Strict):
    name: str = pydantic.Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    description: str = ""
    scenario: str
    hours: float = pydantic.Field(gt=0, le=24 * 7)
    set: dict[str, AxisValue | list[Any] | dict[str, Any]] = {}
    axes: dict[str, list[AxisValue]] = pydantic.Field(min_length=1)
    seeds: list[pydantic.NonNegativeInt] | pydantic.PositiveInt = [1]
    kpis: dict[str, KpiTarget | None] = pydantic.Field(min_length=1)
    faults: FaultSettings = FaultSettings()
    #: a point meets a target when the mean over its seeds does, or only when every seed does
    judge: Literal["mean", "worst"] = "mean"
    #: wall seconds one run may take before it is stopped and counted as failed (a 24 h day of the
    #: default hospital takes a few minutes on one core)
    run_timeout_s: float = pydantic.Field(3600.0, gt=0, le=7 * 24 * 3600)
    source: str = "<memory>"

    @pydantic.field_validator("axes")
    @classmethod
    def _axis_values(cls, axes: dict[str, list[AxisValue]]) -> dict[str, list[AxisValue]]:
        for key, values in axes.items():
            if not values:
                raise ValueError(f"axis {key!r} has no values")
            if len(set(map(repr, values))) != len(values):
                raise ValueError(f"axis {key!r} repeats a value: {values}")
        return axes

    @pydantic.field_validator("kpis")
    @classmethod
    def _known_kpis(cls, kpis: dict[str, KpiTarget | None]) -> dict[str, KpiTarget | None]:
        for name, target in kpis.items():
            if (target is None or target.path is None) and name not in BUILTIN_KPIS:
                raise ValueError(f"unknown KPI {name!r}: give it a `path:` into summary.json, or use a built-in "
                                 f"one ({', '.join(sorted(BUILTIN_KPIS))})")
        return kpis

    def seed_list(self) -> list[int]:
        if isinstance(self.seeds, int):
            return list(range(1, self.seeds + 1))
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(self.source, "seeds", f"a seed is repeated: {self.seeds}")
        return list(self.seeds)

    def targets(self) -> dict[str, KpiTarget]:
        return {name: target or KpiTarget() for name, target in self.kpis.items()}

    def scenario_ref(self) -> str:
        """The scenario as `sim.scenario.load_scenario` takes it: a name, or a path (relative to
        this sweep file when it names a file)."""
        if not self.scenario.endswith((".yaml", ".yml")) or self.source == "<memory>":
            return self.scenario
        path = Path(self.scenario)
        return str(path if path.is_absolute() else (Path(self.source).parent / path))


@dataclass(frozen=True)
class Point:
    """One combination of axis values (every seed of it is a run)."""

    values: tuple[tuple[str, AxisValue], ...]

    def as_dict(self) -> dict[str, AxisValue]:
        return dict(self.values)


def points(spec: SweepSpec) -> list[Point]:
    """Every combination of the axes' values, in the file's order (the first axis varies slowest)."""
    keys = list(spec.axes)
    return [Point(tuple(zip(keys, combo, strict=True))) for combo in itertools.product(*spec.axes.values())]


def load_sweep(path: Path) -> SweepSpec:
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(source, "<file>", f"cannot read sweep file: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, "<file>", f"not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(source, "<top>", "expected a mapping at the top level")
    try:
        spec = SweepSpec.model_validate({**data, "source": source})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "<top>"
        raise ConfigError(source, loc, first["msg"]) from None
    spec.seed_list()  # repeated seeds: refused here, with the file's name
    return spec
