"""KPIs from a run's summary.json (sim/summary.py, sim/runner.py): the built-in ones a hospital asks
about, and any number of the summary by its dotted path.

A KPI is None when the run has nothing to measure it on (no patient became urgent, no drug round
was due): a gap in the data, never a zero."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Summary = dict[str, Any]


def _cases(summary: Summary) -> list[dict[str, Any]]:
    return [c for c in summary["deteriorating_patients"]["cases"] if c["urgent_from_min"] is not None]


def _alert_delays_min(summary: Summary) -> list[float]:
    """Per patient who crossed NEWS2 5: minutes until the first NEWS2 alert for their bed. One never
    alerted counts until the end of the run (censored: the least it would have been), so a fleet
    that misses patients cannot look better than one that alerts late."""
    run_min = float(summary["hours"]) * 60.0
    return [float(c["alert_delay_min"]) if c["alert_delay_min"] is not None
            else max(0.0, run_min - float(c["urgent_from_min"])) for c in _cases(summary)]


def alert_delay_mean(summary: Summary) -> float | None:
    delays = _alert_delays_min(summary)
    return None if not delays else round(sum(delays) / len(delays), 2)


def alert_delay_max(summary: Summary) -> float | None:
    delays = _alert_delays_min(summary)
    return None if not delays else max(delays)


def urgent_not_alerted(summary: Summary) -> float | None:
    cases = _cases(summary)
    return None if not cases else float(sum(1 for c in cases if c["alert_delay_min"] is None))


def _on_time_of_requested(kind: str) -> Callable[[Summary], float | None]:
    """The share of the tasks of `kind` requested during the run that were done by their deadline.
    The fleet's own `on_time_share` is over the tasks done; every task of these kinds has a
    deadline, so on time of requested = on_time_share x done / requested (failed, cancelled and
    still-open tasks count as late)."""

    def kpi(summary: Summary) -> float | None:
        figures = summary.get("fleet", {}).get("by_kind", {}).get(kind)
        if not figures or not figures["requested"]:
            return None
        on_time = round((figures["on_time_share"] or 0.0) * figures["done"])
        return round(on_time / figures["requested"], 4)

    return kpi


def _done_of_requested(kind: str) -> Callable[[Summary], float | None]:
    def kpi(summary: Summary) -> float | None:
        figures = summary.get("fleet", {}).get("by_kind", {}).get(kind)
        if not figures or not figures["requested"]:
            return None
        return round(figures["done"] / figures["requested"], 4)

    return kpi


def samples_within_stability(summary: Summary) -> float | None:
    """Sample pick-ups at the lab by their deadline, the deadline being the stability window of the
    oldest tube in the rack (fleet/demand/lab_pickups.py)."""
    return _on_time_of_requested("sample_pickup")(summary)


def observation_sets(summary: Summary) -> float | None:
    return float(summary["patients"]["observation_sets"])


def unassignable_reports(summary: Summary) -> float | None:
    return float(summary.get("fleet", {}).get("unassignable_reports", 0))


#: name -> (what it measures, unit, extractor)
BUILTIN_KPIS: dict[str, tuple[str, str, Callable[[Summary], float | None]]] = {
    "deterioration_to_alert_mean_min": ("time from deterioration (true NEWS2 >= 5) to alert, mean", "min",
                                        alert_delay_mean),
    "deterioration_to_alert_max_min": ("time from deterioration (true NEWS2 >= 5) to alert, worst patient", "min",
                                       alert_delay_max),
    "urgent_not_alerted": ("patients who crossed NEWS2 5 and were never alerted", "patients", urgent_not_alerted),
    "drug_rounds_on_time": ("drug rounds done on time, of those due", "share", _on_time_of_requested(
        "medication_round")),
    "ward_rounds_done": ("observation rounds done, of those due", "share", _done_of_requested("nursing_round")),
    "samples_within_stability": ("sample pick-ups at the lab within the stability window, of those due", "share",
                                 samples_within_stability),
    "deliveries_on_time": ("supply deliveries on time, of those due", "share", _on_time_of_requested(
        "supply_delivery")),
    "observation_sets": ("bedside observation sets recorded", "sets", observation_sets),
    "unassignable_reports": ("tasks reported as having no robot that can take them", "reports",
                             unassignable_reports),
}


class KpiPathError(LookupError):
    pass


def at_path(summary: Summary, path: str) -> float | None:
    """The number at a dotted path of the summary (`fleet.by_kind.lab_run.wait_p50_s`); None where
    the summary has a null there. A path that leads nowhere, or to something other than a number,
    raises KpiPathError naming the first missing part."""
    node: Any = summary
    walked: list[str] = []
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            here = ".".join(walked) or "the summary's top level"
            keys = sorted(node)[:20] if isinstance(node, dict) else []
            raise KpiPathError(f"{path}: no {part!r} under {here}" + (f" (there: {', '.join(keys)})" if keys else ""))
        walked.append(part)
    if node is None:
        return None
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise KpiPathError(f"{path}: is a {type(node).__name__}, not a number")
    return float(node)


def collect(summary: Summary, kpis: dict[str, str | None]) -> tuple[dict[str, float | None], list[str]]:
    """Each KPI (name -> summary path, None for a built-in) of one run's summary, and why any path
    KPI found nothing: a summary has a section only for what happened in the run (no lab run, no
    `fleet.by_kind.lab_run`), so a missing path is no data for this run, not a failed run. The
    report names a KPI that no run had."""
    out: dict[str, float | None] = {}
    missing: list[str] = []
    for name, path in kpis.items():
        if path is not None:
            try:
                out[name] = at_path(summary, path)
            except KpiPathError as exc:
                if "not a number" in str(exc):
                    raise
                out[name] = None
                missing.append(f"{name}: {exc}")
        else:
            value = BUILTIN_KPIS[name][2](summary)
            out[name] = None if value is None else float(value)
    return out, missing
