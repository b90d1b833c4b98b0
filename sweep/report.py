"""The report folder of a sweep: a PNG per KPI and axis (the mean over seeds with its 95 %
confidence interval), and index.html with the recommendation, the table of points and the runs
that failed."""

from __future__ import annotations

import html
import itertools
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, the same output everywhere
import matplotlib.pyplot as plt

from sweep.kpis import BUILTIN_KPIS
from sweep.spec import KpiTarget, SweepSpec
from sweep.stats import PointStat, Recommendation, _fmt, kpi_stat, point_stats, recommend

#: beyond this many combinations of the other axes a plot pools them instead of a line each
MAX_LINES = 6


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")


def kpi_label(name: str, target: KpiTarget) -> str:
    if name in BUILTIN_KPIS and target.path is None:
        what, unit, _ = BUILTIN_KPIS[name]
        return f"{what} ({unit})"
    return f"{name} ({target.path})"


def plot(spec: SweepSpec, rows: list[dict[str, Any]], kpi: str, axis: str, path: Path) -> None:
    target = spec.targets()[kpi]
    others = [k for k in spec.axes if k != axis]
    combos = list(itertools.product(*(spec.axes[k] for k in others)))
    pooled = len(combos) > MAX_LINES
    if pooled:
        combos = [()]
    values = spec.axes[axis]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    xs_all = [float(v) for v in values] if numeric else list(range(len(values)))
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for combo in combos:
        xs, ys, errs = [], [], []
        for x, value in zip(xs_all, values, strict=True):
            picked = [r for r in rows if r["status"] == "ok" and str(r[axis]) == str(value) and r.get(kpi) is not None
                      and (pooled or all(str(r[k]) == str(c) for k, c in zip(others, combo, strict=True)))]
            stat = kpi_stat([float(r[kpi]) for r in picked], target, spec.judge)
            if stat.mean is not None:
                xs.append(x)
                ys.append(stat.mean)
                errs.append(stat.half_width or 0.0)
        label = ("all other axes pooled" if pooled else
                 ", ".join(f"{k}={c}" for k, c in zip(others, combo, strict=True)) or None)
        if xs:
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=4, label=label)
    for bound, style in ((target.min, "min"), (target.max, "max")):
        if bound is not None:
            ax.axhline(bound, color="tab:red", linestyle="--", linewidth=1, label=f"target {style} {bound:g}")
    if not numeric:
        ax.set_xticks(xs_all, [str(v) for v in values])
    elif all(isinstance(v, int) for v in values):
        ax.set_xticks(xs_all)
    ax.set_xlabel(axis)
    ax.set_ylabel(kpi)
    ax.set_title(f"{kpi_label(kpi, target)}\nmean over seeds, 95 % CI", fontsize=9)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(spec: SweepSpec, rows: list[dict[str, Any]], folder: Path) -> Path:
    """Plots and index.html for the rows of this sweep (rows of other sweeps in the file ignored)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [r for r in rows if r.get("sweep") == spec.name and all(k in r for k in spec.axes)]
    plots = []
    for kpi in spec.kpis:
        for axis in spec.axes:
            name = f"{_safe(kpi)}--{_safe(axis)}.png"
            plot(spec, rows, kpi, axis, folder / name)
            plots.append((kpi, axis, name))
    stats = point_stats(spec, rows)
    recs = recommend(spec, stats)
    (folder / "index.html").write_text(_page(spec, rows, stats, recs, plots), encoding="utf-8")
    return folder / "index.html"


def recommendation_text(spec: SweepSpec, recs: list[Recommendation]) -> list[str]:
    if all(t.min is None and t.max is None for t in spec.targets().values()):
        return ["No KPI of the sweep file has a target: there is nothing to recommend a fleet on."]
    lines = []
    for rec in recs:
        where = ", ".join(f"{k}={v}" for k, v in rec.context.items())
        prefix = f"With {where}: " if where else ""
        if rec.best is not None:
            fleet = ", ".join(f"{k}={v}" for k, v in rec.best.point.items() if k not in rec.context)
            line = f"{prefix}the smallest fleet meeting every target is {fleet} ({rec.best.fleet_size} robots in all)."
            line = line[0].upper() + line[1:]
            close = _uncertain(spec, rec.best)
            if close:
                line += (f" Its 95 % confidence interval over the seeds crosses the target of {', '.join(close)}: "
                         "more seeds would settle it.")
            lines.append(line)
        else:
            closest = rec.closest
            why = "" if closest is None else f" Closest: {closest.point} — {closest.why_not(spec.targets())}."
            lines.append(f"{prefix}NO fleet in this sweep meets every target.{why}")
    return lines


def _recommendation_table(spec: SweepSpec, recs: list[Recommendation]) -> str:
    """One row per combination of the axes that are not robot counts: the smallest fleet meeting
    every target, or that none does and what the closest point missed."""
    e = html.escape
    context_keys = list(recs[0].context) if recs else []
    head = "".join(f"<th>{e(k)}</th>" for k in context_keys)
    rows = []
    for rec in recs:
        cells = "".join(f"<td>{e(str(v))}</td>" for v in rec.context.values())
        if rec.best is not None:
            fleet = ", ".join(f"{k}={v}" for k, v in rec.best.point.items() if k not in rec.context)
            close = _uncertain(spec, rec.best)
            note = f"CI crosses the target of {', '.join(close)}" if close else "every target met"
            rows.append(f"<tr>{cells}<td class='yes'>{e(fleet)}</td><td>{rec.best.fleet_size}</td>"
                        f"<td>{e(note)}</td></tr>")
        else:
            why = "" if rec.closest is None else f"closest {rec.closest.point}: {rec.closest.why_not(spec.targets())}"
            rows.append(f"<tr>{cells}<td class='no'>none in this sweep</td><td>—</td><td>{e(why)}</td></tr>")
    return (f"<table><tr>{head}<th>smallest fleet meeting every target</th><th>robots in all</th><th>note</th></tr>"
            + "".join(rows) + "</table>")


def _uncertain(spec: SweepSpec, stat: PointStat) -> list[str]:
    """KPIs whose confidence interval reaches past a bound of their target."""
    out = []
    for name, target in spec.targets().items():
        s = stat.kpis[name]
        if s.mean is None or s.half_width is None:
            continue
        low, high = s.mean - s.half_width, s.mean + s.half_width
        if (target.max is not None and high > target.max) or (target.min is not None and low < target.min):
            out.append(name)
    return out


def _page(spec: SweepSpec, rows: list[dict[str, Any]], stats: list[PointStat], recs: list[Recommendation],
          plots: list[tuple[str, str, str]]) -> str:
    e = html.escape
    targets = spec.targets()
    ok = sum(1 for r in rows if r["status"] == "ok")
    failed = [r for r in rows if r["status"] != "ok"]
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>Sweep {e(spec.name)}</title>",
           "<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}.no{color:#b00}.yes{color:#070}"
           "img{max-width:48%}</style></head><body>",
           f"<h1>Sweep {e(spec.name)}</h1><p>{e(spec.description)}</p>",
           f"<p>Scenario <b>{e(spec.scenario)}</b>, {spec.hours:g} simulated hours per run; {len(rows)} runs "
           f"({ok} ok, {len(failed)} failed); targets judged on the {e(spec.judge)} over seeds.</p>",
           "<h2>Recommendation</h2>"]
    out += [f"<p>{e(line)}</p>" for line in recommendation_text(spec, recs)]
    if any(t.min is not None or t.max is not None for t in targets.values()):
        out.append(_recommendation_table(spec, recs))
    out.append("<div style='overflow-x:auto'><table><tr><th>point</th><th>robots</th><th>runs</th>" + "".join(
        f"<th>{e(k)}<br><small>target {e(targets[k].describe())}</small></th>" for k in spec.kpis) +
        "<th>meets all</th></tr>")
    for stat in stats:
        cells = []
        for name in spec.kpis:
            s = stat.kpis[name]
            ci = "" if s.half_width is None else f" ± {_fmt(s.half_width)}"
            cls = {True: "yes", False: "no"}.get(s.met, "") if s.met is not None else ""
            cells.append(f"<td class='{cls}'>{e(_fmt(s.mean) + ci)}</td>")
        point = ", ".join(f"{k}={v}" for k, v in stat.point.items())
        runs = f"{stat.runs}" + (f" ({stat.failed} failed)" if stat.failed else "")
        verdict = "<span class='yes'>yes</span>" if stat.meets_all else "<span class='no'>no</span>"
        out.append(f"<tr><td>{e(point)}</td><td>{stat.fleet_size}</td><td>{e(runs)}</td>{''.join(cells)}"
                   f"<td>{verdict}</td></tr>")
    out.append("</table></div><p><small>mean ± half-width of the 95 % confidence interval over seeds "
               "(Student's t).</small></p>")
    empty = [k for k in spec.kpis if not any(r.get(k) is not None for r in rows if r["status"] == "ok")]
    if empty:
        out.append(f"<p class='no'>No run has a value for: {e(', '.join(empty))} (see the missing_kpis column).</p>")
    out.append("<h2>Plots</h2>")
    out += [f"<img src='{e(name)}' alt='{e(kpi)} against {e(axis)}'>" for kpi, axis, name in plots]
    if failed:
        out.append("<h2>Failed runs</h2>")
        for row in failed:
            point = ", ".join(f"{k}={row[k]}" for k in spec.axes)
            out.append(f"<h3>{e(str(row['run_id']))}: {e(point)}, seed {row['seed']} "
                       f"({row['attempts']} attempts)</h3><pre>{e(str(row['error']))}</pre>")
    out.append("</body></html>\n")
    return "\n".join(out)
