"""Per point of a sweep: each KPI's mean over the seeds with a 95 % confidence interval (Student's t),
its worst seed, whether it meets its target; and the recommendation — the smallest fleet meeting
every target, for each combination of the axes that are not robot counts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sweep.overrides import ROBOTS
from sweep.spec import KpiTarget, SweepSpec

#: two-sided 95 % Student's t quantiles by degrees of freedom (n seeds - 1); 1.96 beyond
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
        20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t95(df: int) -> float:
    return next((_T95[k] for k in sorted(_T95) if k >= df), 1.96)


@dataclass(frozen=True)
class KpiStat:
    n: int  # seeds with a value
    mean: float | None
    half_width: float | None  # of the 95 % confidence interval of the mean (None: fewer than 2 values)
    worst: float | None  # the seed furthest on the wrong side of the target (max for a max target)
    met: bool | None  # None: no target, or no value to judge it on
    targeted: bool


@dataclass(frozen=True)
class PointStat:
    point: dict[str, Any]
    fleet_size: int
    runs: int
    failed: int
    kpis: dict[str, KpiStat]

    @property
    def meets_all(self) -> bool:
        """No run failed and every KPI with a target meets it (one without data does not)."""
        return self.failed == 0 and all(s.met is True for s in self.kpis.values() if s.targeted)

    def why_not(self, targets: dict[str, KpiTarget]) -> str:
        if self.failed:
            return f"{self.failed} of {self.runs} runs failed"
        misses = [f"{name} {_fmt(s.mean)} (target {targets[name].describe()})" for name, s in self.kpis.items()
                  if s.met is False]
        gaps = [f"{name}: no data" for name, s in self.kpis.items() if s.targeted and s.met is None]
        return "; ".join(misses + gaps)


def kpi_stat(values: list[float], target: KpiTarget, judge: str) -> KpiStat:
    targeted = target.min is not None or target.max is not None
    if not values:
        return KpiStat(0, None, None, None, None, targeted)
    n = len(values)
    mean = sum(values) / n
    half = None
    if n > 1:
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
        half = t95(n - 1) * sd / math.sqrt(n)
    worst = max(values) if target.max is not None else min(values)
    met = target.met_by(mean if judge == "mean" else worst)
    if target.min is not None and target.max is not None and judge == "worst":
        met = all(target.met_by(v) for v in values)
    return KpiStat(n, mean, half, worst, met, targeted)


def point_stats(spec: SweepSpec, rows: list[dict[str, Any]]) -> list[PointStat]:
    """The sweep's points in the file's order, from the rows of this sweep's runs."""
    targets = spec.targets()
    by_point: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        by_point.setdefault(tuple(row[k] for k in spec.axes), []).append(row)
    stats = []
    for key in sorted(by_point, key=lambda k: tuple(_order(spec, i, v) for i, v in enumerate(k))):
        group = by_point[key]
        ok = [r for r in group if r["status"] == "ok"]
        kpis = {name: kpi_stat([float(r[name]) for r in ok if r.get(name) is not None], target, spec.judge)
                for name, target in targets.items()}
        stats.append(PointStat(dict(zip(spec.axes, key, strict=True)), int(group[0]["fleet_size"]), len(group),
                               len(group) - len(ok), kpis))
    return stats


def _order(spec: SweepSpec, index: int, value: Any) -> int:
    values = [str(v) for v in list(spec.axes.values())[index]]
    return values.index(str(value)) if str(value) in values else len(values)


@dataclass(frozen=True)
class Recommendation:
    context: dict[str, Any]  # the values of the axes that are not robot counts
    best: PointStat | None  # the smallest fleet meeting every target; None: no point does
    closest: PointStat | None  # without a best: the point missing the fewest targets


def recommend(spec: SweepSpec, stats: list[PointStat]) -> list[Recommendation]:
    others = [k for k in spec.axes if not k.startswith(ROBOTS)]
    groups: dict[tuple[Any, ...], list[PointStat]] = {}
    for stat in stats:
        groups.setdefault(tuple(stat.point[k] for k in others), []).append(stat)
    out = []
    for key, group in groups.items():
        meeting = [s for s in group if s.meets_all]
        # smallest fleet first; among equals the one with fewer of the swept kinds, in file order
        best = min(meeting, key=lambda s: (s.fleet_size, tuple(s.point[k] for k in spec.axes if k.startswith(ROBOTS))),
                   default=None)
        closest = None
        if best is None and group:
            closest = min(group, key=lambda s: (s.failed > 0, sum(1 for k in s.kpis.values() if k.met is False),
                                                -s.fleet_size))
        out.append(Recommendation(dict(zip(others, key, strict=True)), best, closest))
    return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
