"""Collects what happened in a simulated run into a deterministic `summary.json`."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from missions.events import MissionEvent

SEVERITIES = ("critical", "high", "medium", "low", "info")


@dataclass
class RobotTally:
    kind: str
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)


class RunCollector:
    """Listens to every robot's mission events."""

    def __init__(self) -> None:
        self.robots: dict[str, RobotTally] = {}
        self.records: dict[str, dict[str, Any]] = {}  # record_id -> data (dedupes re-emitted records)
        self.records_by_type: Counter[str] = Counter()
        self.skipped: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        self.alert_positions: list[tuple[float, float, str]] = []
        self.events_by_kind: Counter[str] = Counter()

    def add_robot(self, robot_id: str, kind: str) -> None:
        self.robots[robot_id] = RobotTally(kind)

    def on_event(self, event: MissionEvent) -> None:
        self.events_by_kind[event.kind] += 1
        tally = self.robots[event.robot_id]
        if event.kind in ("mission.succeeded", "mission.failed", "mission.cancelled"):
            outcome = event.kind.split(".", 1)[1]
            tally.outcomes[f"{event.mission_kind}:{outcome}"] += 1
            if outcome == "failed":
                tally.failures.append({"mission_id": event.mission_id, "reason": event.reason})
        elif event.kind == "clinical.record":
            record = dict(event.data)
            if str(record["record_id"]) not in self.records:
                self.records_by_type[str(record.get("record_type"))] += 1
            self.records.setdefault(str(record["record_id"]), record)
        elif event.kind == "patient.skipped":
            self.skipped.append({"robot": event.robot_id, "mission_id": event.mission_id,
                                 "bed_id": event.data.get("bed_ref"), "reason": event.reason})
        elif event.kind == "alert":
            alert = {"robot": event.robot_id, "severity": event.data.get("severity"),
                     "category": event.data.get("category"), "summary": event.data.get("summary"),
                     "bed_id": event.data.get("bed_ref"), "stamp_s": event.stamp_s}
            self.alerts.append(alert)
            where = event.data.get("where") or {}
            if "x_m" in where and "y_m" in where:
                self.alert_positions.append((float(where["x_m"]), float(where["y_m"]), str(alert["severity"])))

    def first_news2_alert_by_bed(self) -> dict[str, float]:
        first: dict[str, float] = {}
        for alert in self.alerts:
            if alert["category"] == "news2" and alert["bed_id"] is not None:
                first.setdefault(str(alert["bed_id"]), float(alert["stamp_s"]))
        return first

    def summary(self, *, header: dict[str, Any], robots_extra: dict[str, dict[str, Any]],
                deterioration: dict[str, Any], total_beds: int, telemetry_counts: dict[str, int]) -> dict[str, Any]:
        per_robot: dict[str, Any] = {}
        for robot_id in sorted(self.robots):
            tally = self.robots[robot_id]
            done = sum(n for k, n in tally.outcomes.items() if k.endswith(":succeeded"))
            failed = sum(n for k, n in tally.outcomes.items() if k.endswith(":failed"))
            cancelled = sum(n for k, n in tally.outcomes.items() if k.endswith(":cancelled"))
            per_robot[robot_id] = {
                "kind": tally.kind,
                "missions_done": done,
                "missions_failed": failed,
                "missions_cancelled": cancelled,
                "missions_by_kind": dict(sorted(tally.outcomes.items())),
                "failures": tally.failures,
                **robots_extra.get(robot_id, {}),
            }
        news2_alerts = {s: 0 for s in SEVERITIES}
        for alert in self.alerts:
            if alert["category"] == "news2":
                news2_alerts[str(alert["severity"])] += 1
        vitals = [r for r in self.records.values() if r.get("record_type") == "vitals"]  # observation sets
        measured_beds = sorted({str(r.get("bed_ref")) for r in vitals})
        by_bed: dict[str, int] = defaultdict(int)
        for record in vitals:
            by_bed[str(record.get("bed_ref"))] += 1
        return {
            **header,
            "robots": per_robot,
            "patients": {
                "beds": total_beds,
                "beds_measured": len(measured_beds),
                "patients_measured": len({r.get("patient_ref") for r in vitals}),
                "observation_sets": len(vitals),
                "observation_sets_by_bed": dict(sorted(by_bed.items())),
                "skipped": self.skipped,
            },
            "news2_alerts": news2_alerts,
            "deteriorating_patients": deterioration,
            "clinical_records_by_type": dict(sorted(self.records_by_type.items())),
            "alerts_by_category": dict(sorted(
                Counter(f"{a['category']}:{a['severity']}" for a in self.alerts).items())),
            "alerts": self.alerts,
            "events_by_kind": dict(sorted(self.events_by_kind.items())),
            "telemetry_messages": dict(sorted(telemetry_counts.items())),
        }
