"""Fleet KPIs from what the data center stored: missions, alerts, utilisation, charge cycles.

- missions per kind and outcome: the final lifecycle event of each mission (succeeded / failed /
  cancelled) on the events channel;
- alerts per severity and category, and response times: from an alert to the first event that
  answers it (an ``alert.*`` event whose ``data.alert_id`` names it — the dashboard's acknowledge
  command produces those); alerts without one are counted as unanswered;
- utilisation per robot: the share of time between its first and last state message with a mission
  running (time-weighted over state messages), and the share spent charging;
- charge cycles: charging sessions started (``battery.charging`` false -> true);
- fleet tasks (`fleet_task_kpis`): per task kind from the fleet service's ``tasks`` messages (the
  newest state per task id), plus the fleet-wide re-allocations, tasks lost and tasks run twice.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from datacenter.store import Store, iso_to_ms
from telemetry.topics import FLEET_ID

FINAL_EVENTS = {"mission.succeeded": "succeeded", "mission.failed": "failed", "mission.cancelled": "cancelled"}


def fleet_kpis(store: Store, *, site: str | None = None) -> dict[str, Any]:
    """The KPIs of one site, or (``site=None``) of every site stored pooled together — a group's
    roll-up, robots keyed ``<site>/<robot_id>`` (each site names its own robots)."""
    missions: dict[str, Counter[str]] = defaultdict(Counter)
    # ids are a site's own: two sites may both have an alert-0001, a nurse-01
    answered: dict[tuple[str, str], int] = {}
    for m in store.messages("events", site=site):
        event = m.body["event"]
        if event in FINAL_EVENTS:
            missions[m.body["mission_kind"]][FINAL_EVENTS[event]] += 1
        alert_id = m.body.get("data", {}).get("alert_id")
        if event.startswith("alert.") and isinstance(alert_id, str):
            answered.setdefault((m.site, alert_id), m.stamp_ms)
    alerts_by_severity: Counter[str] = Counter()
    alerts_by_category: Counter[str] = Counter()
    response_s: list[float] = []
    unanswered = 0
    seen_alerts: set[tuple[str, str]] = set()
    for m in store.messages("alerts", site=site):
        key = (m.site, m.body["alert_id"])
        if key in seen_alerts:
            continue  # a journal re-emit after a restart is the same alert
        seen_alerts.add(key)
        alerts_by_severity[m.body["severity"]] += 1
        alerts_by_category[m.body["category"]] += 1
        if key in answered:
            response_s.append((answered[key] - m.stamp_ms) / 1000.0)
        else:
            unanswered += 1
    robots: dict[str, dict[str, Any]] = {}
    last: dict[str, tuple[int, bool, bool]] = {}
    busy_ms: Counter[str] = Counter()
    charging_ms: Counter[str] = Counter()
    first_ms: dict[str, int] = {}
    cycles: Counter[str] = Counter()
    for m in store.messages("state", site=site):
        rid = m.robot_id if site is not None else f"{m.site}/{m.robot_id}"
        busy = m.body.get("mission") is not None
        charging = bool(m.body["battery"]["charging"])
        stamp = m.stamp_ms
        first_ms.setdefault(rid, stamp)
        if rid in last:
            prev_stamp, prev_busy, prev_charging = last[rid]
            span = max(0, stamp - prev_stamp)
            busy_ms[rid] += span if prev_busy else 0
            charging_ms[rid] += span if prev_charging else 0
            if charging and not prev_charging:
                cycles[rid] += 1
        last[rid] = (stamp, busy, charging)
    for rid in sorted(last):
        total = max(1, last[rid][0] - first_ms[rid])
        robots[rid] = {
            "observed_h": round(total / 3_600_000, 3),
            "utilisation_fraction": round(busy_ms[rid] / total, 3),
            "charging_fraction": round(charging_ms[rid] / total, 3),
            "charge_cycles": cycles[rid],
        }
    response_s.sort()
    return {
        "missions": {kind: dict(sorted(c.items())) for kind, c in sorted(missions.items())},
        "alerts": {
            "total": sum(alerts_by_severity.values()),
            "by_severity": dict(sorted(alerts_by_severity.items())),
            "by_category": dict(sorted(alerts_by_category.items())),
            "answered": len(response_s),
            "unanswered": unanswered,
            "response_s": {
                "median": response_s[len(response_s) // 2] if response_s else None,
                "max": response_s[-1] if response_s else None,
            },
        },
        "robots": robots,
        "fleet": fleet_task_kpis(store, site=site),
        "messages": store.counts_by_channel(site=site),
    }


OPEN_TASK_STATES = frozenset({"waiting", "assigned", "dispatched", "running"})
#: outcomes that say nothing about meeting a deadline: nobody wanted the work done any more, or it was
#: never accepted
_NO_DEADLINE_VERDICT = frozenset({"cancelled", "rejected"})


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (a value that occurred, never an interpolation); None for no values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class _TaskHistory:
    """What the stored ``tasks`` messages say about one task."""

    last: dict[str, Any]
    order: tuple[int, int, int]  # (updated ms, stamp ms, seq) of ``last``
    first_ms: int  # the first message about it: its creation, when ``created`` is missing
    started_ms: int | None = None  # its first start
    reallocations: int = 0
    reasons: list[str] = field(default_factory=list)

    def fold(self, body: dict[str, Any], order: tuple[int, int, int]) -> None:
        if order >= self.order:  # messages come in stamp order; ``updated`` decides, a redelivery cannot
            self.last, self.order = body, order
        # the first start counts, not a restart after a re-queue: the wait is how long the requester waited
        started = iso_to_ms(body["started"]) if body.get("started") else (
            order[0] if body["state"] == "running" else None)
        if started is not None and (self.started_ms is None or started < self.started_ms):
            self.started_ms = started
        # a counter the fleet only increases: the highest seen stands, whatever order messages came in
        self.reallocations = max(self.reallocations, int(body.get("reallocations") or 0))


def _new_kind_row() -> dict[str, Any]:
    return {"requested": 0, "done": 0, "failed": 0, "cancelled": 0, "rejected": 0, "open": 0,
            "failed_reasons": Counter(), "waits_s": [], "on_time": 0, "late": 0, "reallocations": 0}


def fleet_task_kpis(store: Store, *, site: str | None = None) -> dict[str, Any]:
    """Per task kind and fleet-wide, from the stored fleet topics (robot_id ``fleet``) and robot events.

    - ``requested``: distinct task ids the fleet published (a rejected request included); ``done``,
      ``failed`` (with ``failed_reasons``), ``cancelled``, ``rejected``, ``open``: by the newest state;
    - ``wait_s``: first start minus when the task became due (``created``, or ``earliest_start`` when
      later: a round booked at 08:00 for 14:00 has not waited six hours), p50 and p99 by nearest rank;
    - ``on_time_share``: of tasks with a deadline whose verdict is in — done (on time if ``finished`` is
      not after ``deadline``), failed (late), or still open past the deadline (late, measured at the
      newest ``tasks`` message) — the on-time part; cancelled and rejected tasks have no verdict;
    - ``reallocations``: the tasks' own counters (highest seen per task), per kind and in total;
    - ``tasks_lost``: task ids submitted on ``tasks/request`` that the fleet never published on
      ``tasks`` (neither accepted nor rejected: the request vanished);
    - ``tasks_duplicated``: task ids more than one mission finished successfully (``mission.succeeded``
      events naming the task from distinct robot/mission ids): work that ran twice.
    """
    histories: dict[tuple[str, str], _TaskHistory] = {}
    end_ms: int | None = None  # the newest moment the tasks messages speak of
    for m in store.messages("tasks", robot_id=FLEET_ID, site=site):
        body = m.body
        order = (iso_to_ms(body["updated"]), m.stamp_ms, m.seq)
        end_ms = max(order[0], m.stamp_ms) if end_ms is None else max(end_ms, order[0], m.stamp_ms)
        key = (m.site, body["task_id"])
        history = histories.get(key)
        if history is None:
            history = histories[key] = _TaskHistory(body, order, m.stamp_ms)
        history.fold(body, order)

    kinds: dict[str, dict[str, Any]] = defaultdict(_new_kind_row)
    for history in histories.values():
        last = history.last
        row = kinds[last["kind"]]
        state = last["state"]
        row["requested"] += 1
        row["open" if state in OPEN_TASK_STATES else state] += 1
        if state == "failed":
            row["failed_reasons"][last.get("reason") or "no reason given"] += 1
        if history.started_ms is not None:
            created_ms = iso_to_ms(last["created"]) if last.get("created") else history.first_ms
            due_ms = max(created_ms, iso_to_ms(last["earliest_start"])) if last.get("earliest_start") else created_ms
            row["waits_s"].append(max(0, history.started_ms - due_ms) / 1000.0)
        row["reallocations"] += history.reallocations
        if last.get("deadline") and state not in _NO_DEADLINE_VERDICT:
            deadline_ms = iso_to_ms(last["deadline"])
            if state == "done":
                finished_ms = iso_to_ms(last["finished"]) if last.get("finished") else history.order[0]
                row["on_time" if finished_ms <= deadline_ms else "late"] += 1
            elif state == "failed" or (end_ms is not None and end_ms > deadline_ms):
                row["late"] += 1

    submitted: set[tuple[str, str]] = set()
    for m in store.messages("tasks/request", robot_id=FLEET_ID, site=site):
        if m.body["action"] == "submit":
            submitted.add((m.site, m.body["task"]["task_id"]))
    succeeded: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for m in store.messages("events", site=site):
        task_id = m.body.get("task_id")
        if m.body["event"] == "mission.succeeded" and task_id:
            succeeded[(m.site, task_id)].add((m.robot_id, m.body["mission_id"]))  # a redelivery is one

    per_kind: dict[str, dict[str, Any]] = {}
    for kind, row in sorted(kinds.items()):
        waits = sorted(row.pop("waits_s"))
        judged = row["on_time"] + row["late"]
        per_kind[kind] = {**row, "failed_reasons": dict(sorted(row["failed_reasons"].items())),
                          "wait_s": {"p50": percentile(waits, 50), "p99": percentile(waits, 99), "n": len(waits)},
                          "on_time_share": round(row["on_time"] / judged, 3) if judged else None}
    return {
        "tasks": per_kind,
        "requested": len(histories),
        "reallocations": sum(r["reallocations"] for r in per_kind.values()),
        "tasks_lost": len(submitted - set(histories)),
        "tasks_duplicated": sum(1 for missions in succeeded.values() if len(missions) > 1),
    }


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} s"


def render_report(kpis: dict[str, Any]) -> str:
    """The KPIs as a plain-text report for the terminal."""
    lines = ["Missions (kind: outcome counts)"]
    for kind, outcomes in kpis["missions"].items() or [("-", {})]:
        lines.append(f"  {kind:<24} " + ", ".join(f"{k} {v}" for k, v in outcomes.items()))
    a = kpis["alerts"]
    lines += [f"Alerts: {a['total']} ({', '.join(f'{k} {v}' for k, v in a['by_severity'].items()) or 'none'})",
              f"  answered {a['answered']}, unanswered {a['unanswered']}, "
              f"median response {a['response_s']['median']} s"]
    lines.append("Robots (utilisation, charging, charge cycles)")
    for rid, r in kpis["robots"].items():
        lines.append(f"  {rid:<24} {r['utilisation_fraction']:>6.1%} busy  {r['charging_fraction']:>6.1%} charging"
                     f"  {r['charge_cycles']} cycles over {r['observed_h']} h")
    f = kpis["fleet"]
    lines.append("Fleet tasks (kind: outcomes; wait from due to start p50 / p99; on time; re-allocations)")
    for kind, t in f["tasks"].items():
        share = "–" if t["on_time_share"] is None else f"{t['on_time_share']:.1%} of {t['on_time'] + t['late']}"
        lines.append(f"  {kind:<24} requested {t['requested']}, done {t['done']}, failed {t['failed']}, "
                     f"cancelled {t['cancelled']}, rejected {t['rejected']}, open {t['open']}; "
                     f"wait {_seconds(t['wait_s']['p50'])} / {_seconds(t['wait_s']['p99'])}; on time {share}; "
                     f"re-allocations {t['reallocations']}")
        for reason, n in t["failed_reasons"].items():
            lines.append(f"  {'':<24}   failed {n}x: {reason}")
    if not f["tasks"]:
        lines.append("  none (no fleet service's tasks stored)")
    lines.append(f"  fleet-wide: re-allocations {f['reallocations']}, tasks lost {f['tasks_lost']}, "
                 f"tasks run twice {f['tasks_duplicated']}")
    lines.append("Messages stored: " + ", ".join(f"{k} {v}" for k, v in kpis["messages"].items()))
    return "\n".join(lines)


# -- a hospital group: every site side by side, and the group pooled ---------------------------------

GROUP_ROW = "(group)"


def site_summary(kpis: dict[str, Any]) -> dict[str, Any]:
    """One line of figures from a site's (or the group's) KPIs: what a group manager compares."""
    robots = list(kpis["robots"].values())
    outcomes: Counter[str] = Counter()
    for by_outcome in kpis["missions"].values():
        outcomes.update(by_outcome)
    tasks = list(kpis["fleet"]["tasks"].values())
    on_time, late = sum(t["on_time"] for t in tasks), sum(t["late"] for t in tasks)
    return {
        "robots": len(robots),
        "utilisation_fraction": round(sum(r["utilisation_fraction"] for r in robots) / len(robots), 3)
        if robots else None,
        "missions_succeeded": outcomes["succeeded"],
        "missions_failed": outcomes["failed"],
        "alerts": kpis["alerts"]["total"],
        "alerts_unanswered": kpis["alerts"]["unanswered"],
        "tasks_requested": kpis["fleet"]["requested"],
        "tasks_done": sum(t["done"] for t in tasks),
        "tasks_failed": sum(t["failed"] for t in tasks),
        "on_time_share": round(on_time / (on_time + late), 3) if on_time + late else None,
        "tasks_lost": kpis["fleet"]["tasks_lost"],
        "tasks_duplicated": kpis["fleet"]["tasks_duplicated"],
        "messages": sum(kpis["messages"].values()),
    }


def group_kpis(store: Store, sites: list[str] | None = None) -> dict[str, Any]:
    """Per site (``sites``, default every site stored) and the group pooled.

    ``group`` is :func:`fleet_kpis` over every stored site at once — not a sum of the sites' figures:
    percentiles and shares are taken over the group's tasks, robots are keyed ``<site>/<robot_id>``.
    ``table`` has one :func:`site_summary` row per site and a last row ``(group)``.
    """
    names = store.sites() if sites is None else sites
    per_site = {site: fleet_kpis(store, site=site) for site in names}
    group = fleet_kpis(store)
    table = [{"site": site, **site_summary(k)} for site, k in per_site.items()]
    table.append({"site": GROUP_ROW, **site_summary(group)})
    return {"sites": per_site, "group": group, "table": table}


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def render_group_report(kpis: dict[str, Any]) -> str:
    """The group's table (a line per site, then the group), then the group's pooled report."""
    head = (f"{'site':<24} {'robots':>6} {'busy':>6} {'missions ok/failed':>18} {'alerts (unans.)':>15} "
            f"{'tasks req/done/failed':>21} {'on time':>7} {'lost':>4} {'twice':>5} {'messages':>9}")
    lines = ["Sites", head]
    for row in kpis["table"]:
        lines.append(
            f"{row['site']:<24} {row['robots']:>6} {_share(row['utilisation_fraction']):>6} "
            f"{row['missions_succeeded']:>9}/{row['missions_failed']:<8} "
            f"{row['alerts']:>8} ({row['alerts_unanswered']:>4}) "
            f"{row['tasks_requested']:>9}/{row['tasks_done']}/{row['tasks_failed']:<6} "
            f"{_share(row['on_time_share']):>7} {row['tasks_lost']:>4} {row['tasks_duplicated']:>5} "
            f"{row['messages']:>9}")
    lines += ["", "Group (every site pooled)", render_report(kpis["group"])]
    return "\n".join(lines)
