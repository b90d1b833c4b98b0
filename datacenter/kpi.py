"""Fleet KPIs from what the data center stored: missions, alerts, utilisation, charge cycles.

- missions per kind and outcome: the final lifecycle event of each mission (succeeded / failed /
  cancelled) on the events channel;
- alerts per severity and category, and response times: from an alert to the first event that
  answers it (an ``alert.*`` event whose ``data.alert_id`` names it — the dashboard's acknowledge
  command produces those); alerts without one are counted as unanswered;
- utilisation per robot: the share of time between its first and last state message with a mission
  running (time-weighted over state messages), and the share spent charging;
- charge cycles: charging sessions started (``battery.charging`` false -> true).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from datacenter.store import Store

FINAL_EVENTS = {"mission.succeeded": "succeeded", "mission.failed": "failed", "mission.cancelled": "cancelled"}


def fleet_kpis(store: Store, *, site: str | None = None) -> dict[str, Any]:
    missions: dict[str, Counter[str]] = defaultdict(Counter)
    answered: dict[str, int] = {}
    for m in store.messages("events"):
        if site is not None and m.site != site:
            continue
        event = m.body["event"]
        if event in FINAL_EVENTS:
            missions[m.body["mission_kind"]][FINAL_EVENTS[event]] += 1
        alert_id = m.body.get("data", {}).get("alert_id")
        if event.startswith("alert.") and isinstance(alert_id, str):
            answered.setdefault(alert_id, m.stamp_ms)
    alerts_by_severity: Counter[str] = Counter()
    alerts_by_category: Counter[str] = Counter()
    response_s: list[float] = []
    unanswered = 0
    seen_alerts: set[str] = set()
    for m in store.messages("alerts"):
        if (site is not None and m.site != site) or m.body["alert_id"] in seen_alerts:
            continue  # a journal re-emit after a restart is the same alert
        seen_alerts.add(m.body["alert_id"])
        alerts_by_severity[m.body["severity"]] += 1
        alerts_by_category[m.body["category"]] += 1
        if m.body["alert_id"] in answered:
            response_s.append((answered[m.body["alert_id"]] - m.stamp_ms) / 1000.0)
        else:
            unanswered += 1
    robots: dict[str, dict[str, Any]] = {}
    last: dict[str, tuple[int, bool, bool]] = {}
    busy_ms: Counter[str] = Counter()
    charging_ms: Counter[str] = Counter()
    first_ms: dict[str, int] = {}
    cycles: Counter[str] = Counter()
    for m in store.messages("state"):
        if site is not None and m.site != site:
            continue
        rid = m.robot_id
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
        "messages": store.counts_by_channel(site=site),
    }


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
    lines.append("Messages stored: " + ", ".join(f"{k} {v}" for k, v in kpis["messages"].items()))
    return "\n".join(lines)
