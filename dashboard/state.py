"""The fleet as the dashboard knows it, built only from telemetry messages (a third-party view).

`FleetState.ingest(topic, envelope, retained)` folds one message in; `snapshot(clinical=...)` gives
a browser everything at once; `drain()` hands the broadcaster what changed since the last drain
(robots coalesced, so a 5 Hz pose stream costs one update per push). Thread-safe: paho's network
thread ingests while the web server's loop reads.

Times shown are the robots' own stamps (simulated time in the simulator), so "last seen" is
measured against the newest stamp seen from the fleet, not against the wall clock.

The fleet service publishes under the reserved robot id ``fleet`` (`telemetry.topics.FLEET_ID`):
its messages go to the task board (`dashboard.tasks`), its alerts to the alert list and its
connection to a service badge — never into the robot list, for ``fleet`` is not a robot.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter, OrderedDict, defaultdict, deque
from datetime import datetime
from typing import Any

from dashboard.media import MediaAssembler, MediaObject
from dashboard.tasks import TaskBoard, redact_task, redact_text
from telemetry.envelope import iso_timestamp
from telemetry.topics import FLEET_ID, Channel, TopicParts, parse_topic
from telemetry.validate import PayloadError, checker_for

log = logging.getLogger(__name__)

SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
#: state error level -> alert severity for device faults
_FAULT_SEVERITY = {"WARNING": "low", "URGENT": "medium", "CRITICAL": "high", "FATAL": "critical"}
OUTCOMES = {"mission.succeeded": "succeeded", "mission.failed": "failed", "mission.cancelled": "cancelled"}
#: a gap between two states longer than this is an outage, not time spent busy or idle
_UTILISATION_MAX_GAP_S = 60.0
_PATIENT_REF = re.compile(r"pt-[0-9a-f]{6,}")


def parse_stamp_s(header: dict[str, Any]) -> float | None:
    try:
        return datetime.fromisoformat(str(header["timestamp"])).timestamp()
    except (KeyError, ValueError):
        return None


def redact_alert(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert as a non-clinical user sees it: no patient reference, no clinical detail."""
    return {**alert, "summary": _PATIENT_REF.sub("pt-••••", alert["summary"]), "data": {}}


class FleetState:
    def __init__(self, *, max_alerts: int = 500, max_clinical: int = 500, max_commands: int = 500,
                 max_finished_tasks: int = 500) -> None:
        self._lock = threading.RLock()
        self.robots: dict[str, dict[str, Any]] = {}
        self.alerts: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.commands: OrderedDict[str, dict[str, Any]] = OrderedDict()  # sent by this dashboard
        # answers to commands other consoles sent — under a fleet service, every dispatch it makes: kept
        # apart, so that their stream can neither bury nor evict an operator's own commands
        self.other_commands: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.clinical: deque[dict[str, Any]] = deque(maxlen=max_clinical)
        self.media = MediaAssembler()
        self.board = TaskBoard(max_finished=max_finished_tasks)
        #: site -> the fleet service's connection ({"connection": ONLINE | OFFLINE | ..., "session"})
        self.fleet_services: dict[str, dict[str, Any]] = {}
        self.fleet_time_s: float | None = None
        self.broker_connected = False
        self._max_alerts = max_alerts
        self._max_commands = max_commands
        self._missions: dict[str, Counter[str]] = defaultdict(Counter)  # kind -> outcome -> n
        self._seen_outcomes: set[tuple[str, str, str]] = set()
        self._busy_s: Counter[str] = Counter()
        self._observed_s: Counter[str] = Counter()
        self._alerts_by_hour: dict[int, Counter[str]] = defaultdict(Counter)
        self._dirty: set[str] = set()
        self._outbox: list[dict[str, Any]] = []
        self._kpis_dirty = False
        self.ignored = 0  # messages that were not of the contract

    # -- ingest (paho thread) ----------------------------------------------------------------

    def ingest(self, topic: str, envelope: dict[str, Any] | None, retained: bool = False) -> None:
        try:
            parts = parse_topic(topic)
        except ValueError:
            self.ignored += 1
            return
        if envelope is None or not isinstance(envelope.get("body"), dict):
            self.ignored += 1
            return
        body: dict[str, Any] = envelope["body"]
        stamp_s = parse_stamp_s(envelope.get("header", {}))
        if stamp_s is None:
            self.ignored += 1
            return
        key = f"{parts.site}/{parts.robot_id}"
        with self._lock:
            # the connection channel is stamped by the MQTT publisher's wall clock, everything else by
            # the robot's own clock (simulated time in the simulator): only the latter is fleet time
            if (not retained and parts.channel is not Channel.CONNECTION
                    and (self.fleet_time_s is None or stamp_s > self.fleet_time_s)):
                self.fleet_time_s = stamp_s
            if parts.robot_id == FLEET_ID:
                self._ingest_fleet(topic, parts, envelope, body, stamp_s)
                return
            handler = _HANDLERS.get(parts.channel)
            if handler is not None:
                handler(self, key, parts.site, parts.robot_id, body, stamp_s, retained)

    def _ingest_fleet(self, topic: str, parts: TopicParts, envelope: dict[str, Any], body: dict[str, Any],
                      stamp_s: float) -> None:
        """The fleet service's own topics. Its task requests (``tasks/request``) are not kept: a
        submit's params may name a patient, and the fleet's answer arrives on ``tasks`` anyway."""
        if parts.channel is Channel.TASKS:
            try:  # operators act on these: a body the contract does not allow is not shown at all
                checker_for(Channel.TASKS)(envelope, topic)
            except PayloadError as exc:
                self.ignored += 1
                log.warning("dashboard: ignored a tasks message: %s", exc)
                return
            task, robots, answered = self.board.apply(parts.site, body, int(envelope["header"]["seq"]))
            if task is None:
                return
            self._outbox.append({"type": "task", "task": dict(task)})
            self._outbox.extend({"type": "task_request", "request": dict(e)} for e in answered)
            for robot_key in robots:
                robot = self.robots.get(robot_key)
                if robot is not None:  # a task naming a robot that never spoke does not invent one
                    robot["tasks"] = self.board.robot_tasks(robot_key)
                    self._dirty.add(robot_key)
        elif parts.channel is Channel.ALERTS:
            self._add_alert(f"{parts.site}/{FLEET_ID}", parts.site, FLEET_ID, body, stamp_s, "alerts")
        elif parts.channel is Channel.CONNECTION:
            state, session = body.get("state"), body.get("session")
            last = self.fleet_services.get(parts.site, {}).get("session")
            # as for robots: the Last Will of an older session than the current one is stale
            if state == "CONNECTION_BROKEN" and isinstance(last, int) and isinstance(session, int) and session < last:
                return
            service = {"site": parts.site, "connection": state, "session": session}
            self.fleet_services[parts.site] = service
            self._outbox.append({"type": "fleet_service", "service": dict(service)})

    def _robot(self, key: str, site: str, robot_id: str) -> dict[str, Any]:
        robot = self.robots.get(key)
        if robot is None:
            robot = {"key": key, "site": site, "robot_id": robot_id, "kind": None, "capabilities": [],
                     "mission_kinds": [], "connection": "UNKNOWN", "session": None, "pose": None, "battery": None,
                     "operating_mode": None, "safety": None, "mission": None, "errors": [], "devices": {},
                     "last_seen": None, "last_seen_s": None, "utilisation": None,
                     "tasks": self.board.robot_tasks(key)}
            self.robots[key] = robot
        return robot

    def _seen(self, robot: dict[str, Any], stamp_s: float, retained: bool) -> None:
        if retained:
            return  # a retained message may be hours old: it says nothing about the robot now
        if robot["last_seen_s"] is None or stamp_s >= robot["last_seen_s"]:
            robot["last_seen_s"] = stamp_s
            robot["last_seen"] = iso_timestamp(stamp_s)
        self._dirty.add(robot["key"])

    def _on_connection(self, key: str, site: str, robot_id: str, body: dict[str, Any], stamp_s: float,
                       retained: bool) -> None:
        robot = self._robot(key, site, robot_id)
        state, session = body.get("state"), body.get("session")
        last = robot["session"]
        # a Last Will from an older session than the robot's current one is stale (Sparkplug bdSeq)
        if state == "CONNECTION_BROKEN" and isinstance(last, int) and isinstance(session, int) and session < last:
            return
        robot["connection"], robot["session"] = state, session
        self._dirty.add(key)  # not "seen": this stamp is the publisher's wall clock, not the robot's

    def _on_factsheet(self, key: str, site: str, robot_id: str, body: dict[str, Any], stamp_s: float,
                      retained: bool) -> None:
        robot = self._robot(key, site, robot_id)
        robot["kind"] = body.get("kind")
        robot["capabilities"] = list(body.get("capabilities", []))
        # the mission kinds it accepts (their params schemas stay with the fleet): the task form's hints
        robot["mission_kinds"] = sorted(body.get("missions") or {})
        self._dirty.add(key)

    def _on_state(self, key: str, site: str, robot_id: str, body: dict[str, Any], stamp_s: float,
                  retained: bool) -> None:
        robot = self._robot(key, site, robot_id)
        if robot["last_seen_s"] is not None and stamp_s < robot["last_seen_s"]:
            return  # QoS 0 reordering: an older state must not overwrite a newer one
        self._account_utilisation(robot, body, stamp_s)
        self._device_fault_alerts(robot, body.get("errors", []), stamp_s)
        for field_name in ("pose", "battery", "operating_mode", "safety", "mission", "errors", "devices"):
            robot[field_name] = body.get(field_name)
        if robot["connection"] == "UNKNOWN":
            robot["connection"] = "ONLINE"  # a robot that talks is online, whatever was retained
        self._seen(robot, stamp_s, retained)

    def _on_viz(self, key: str, site: str, robot_id: str, body: dict[str, Any], stamp_s: float,
                retained: bool) -> None:
        robot = self._robot(key, site, robot_id)
        if robot["last_seen_s"] is not None and stamp_s < robot["last_seen_s"]:
            return
        robot["pose"] = body.get("pose")
        self._seen(robot, stamp_s, retained)

    def _on_events(self, key: str, site: str, robot_id: str, body: dict[str, Any], stamp_s: float,
                   retained: bool) -> None:
        robot = self._robot(key, site, robot_id)
        self._seen(robot, stamp_s, retained)
        event = str(body.get("event", ""))
        outcome = OUTCOMES.get(event)
        if outcome is None:
            return
        once = (key, str(body.get("mission_id")), event)
        if once in self._seen_outcomes:
            return  # QoS 1 redelivery
        self._seen_outcomes.add(once)
        self._missions[str(body.get("mission_kind"))][outcome] += 1
        self._kpis_dirty = True
        if outcome == "failed":
            self._add_alert(key, site, robot_id, {
                "alert_id": f"{body.get('mission_id')}.failed", "severity": "medium", "category": "mission.failed",
                "summary": f"{body.get('mission_kind')} {body.get('mission_id')} failed: {body.get('reason')}",
                "where": None, "evidence_ref": None, "data": {"step": body.get("step")}}, stamp_s, "events")

    def _on_alerts(self, key: str, site: str, robot_id: str, body: dict[str, Any], stamp_s: float,
                   retained: bool) -> None:
        robot = self._robot(key, site, robot_id)
        self._seen(robot, stamp_s, retained)
        self._add_alert(key, site, robot_id, body, stamp_s, "alerts")

    def _on_clinical(self, key: str, site: str, robot_id: str, body: dict[str, Any], stamp_s: float,
                     retained: bool) -> None:
        robot = self._robot(key, site, robot_id)
        self._seen(robot, stamp_s, retained)
        news2 = body.get("news2") or {}
        record = {"record_id": body.get("record_id"), "robot_id": robot_id, "record_type": body.get("record_type"),
                  "patient_ref": body.get("patient_ref"), "bed_ref": body.get("bed_ref"),
                  "observations": body.get("observations", {}), "news2_total": news2.get("total"),
                  "news2_risk": news2.get("risk"), "at": iso_timestamp(stamp_s), "at_s": stamp_s}
        self.clinical.appendleft(record)
        self._outbox.append({"type": "clinical", "record": record})

    def _on_media(self, key: str, site: str, robot_id: str, body: dict[str, Any], stamp_s: float,
                  retained: bool) -> None:
        item = self.media.add_chunk(body)
        if item is None:
            return
        for alert in self.alerts.values():
            if alert["media_url"] is None and self.media.resolve(alert["evidence_ref"]) is item:
                alert["media_url"] = f"/media/{item.sha256}"
                self._outbox.append({"type": "alert", "alert": alert})

    def _on_ack(self, key: str, site: str, robot_id: str, body: dict[str, Any], stamp_s: float,
                retained: bool) -> None:
        command_id = body.get("command_id")
        if not isinstance(command_id, str):
            return
        command = self.commands.get(command_id) or self.other_commands.get(command_id)
        if command is None:  # sent by another console (the fleet service, mostly): still worth showing
            command = self._new_command(command_id, key, str(body.get("command")), {}, None, ours=False)
        command.update(status=body.get("status"), reason=body.get("reason"), result=body.get("result", {}),
                       duplicate=bool(body.get("duplicate")), answered_at=iso_timestamp(stamp_s))
        self._outbox.append({"type": "command", "command": dict(command)})

    # -- derived facts -----------------------------------------------------------------------

    def _add_alert(self, key: str, site: str, robot_id: str, body: dict[str, Any], stamp_s: float,
                   source: str) -> None:
        alert_key = f"{key}/{body.get('alert_id')}"
        if alert_key in self.alerts:
            return  # QoS 1 redelivery: already shown (and maybe acknowledged)
        media = self.media.resolve(body.get("evidence_ref"))
        alert = {"key": alert_key, "robot_id": robot_id, "site": site,
                 "alert_id": body.get("alert_id"), "severity": body.get("severity", "info"),
                 "category": body.get("category", ""), "summary": str(body.get("summary", "")),
                 "where": body.get("where"), "evidence_ref": body.get("evidence_ref"),
                 "media_url": None if media is None else f"/media/{media.sha256}",
                 "data": body.get("data", {}), "at": iso_timestamp(stamp_s), "at_s": stamp_s, "source": source,
                 "acked_by": None, "acked_at": None}
        self.alerts[alert_key] = alert
        while len(self.alerts) > self._max_alerts:
            self.alerts.popitem(last=False)
        self._alerts_by_hour[int(stamp_s // 3600)][alert["severity"]] += 1
        self._kpis_dirty = True
        self._outbox.append({"type": "alert", "alert": alert})

    def _device_fault_alerts(self, robot: dict[str, Any], errors: list[dict[str, Any]], stamp_s: float) -> None:
        before = {(e.get("device"), e.get("reason")) for e in robot["errors"] or []}
        for error in errors:
            if (error.get("device"), error.get("reason")) in before:
                continue
            self._add_alert(robot["key"], robot["site"], robot["robot_id"], {
                "alert_id": f"device.{error.get('device')}.{int(stamp_s)}",
                "severity": _FAULT_SEVERITY.get(str(error.get("level")), "low"), "category": "device.fault",
                "summary": f"{error.get('device')}: {error.get('reason')} ({error.get('level')})",
                "where": None, "evidence_ref": None, "data": {}}, stamp_s, "state")

    def _account_utilisation(self, robot: dict[str, Any], body: dict[str, Any], stamp_s: float) -> None:
        key = robot["key"]
        if robot["last_seen_s"] is not None:
            gap_s = stamp_s - robot["last_seen_s"]
            if 0 < gap_s <= _UTILISATION_MAX_GAP_S:
                self._observed_s[key] += gap_s
                if robot["mission"] is not None:
                    self._busy_s[key] += gap_s
                robot["utilisation"] = round(self._busy_s[key] / self._observed_s[key], 3)
                self._kpis_dirty = True

    # -- operator actions (web thread) -------------------------------------------------------

    def _new_command(self, command_id: str, robot_key: str, command: str, params: dict[str, Any],
                     user: str | None, *, ours: bool = True) -> dict[str, Any]:
        entry = {"command_id": command_id, "robot_key": robot_key, "command": command, "params": params,
                 "user": user, "sent_at": None, "status": "sent", "reason": None, "result": {},
                 "duplicate": False, "answered_at": None, "ours": ours}
        kept = self.commands if ours else self.other_commands
        kept[command_id] = entry
        while len(kept) > self._max_commands:
            kept.popitem(last=False)
        return entry

    def record_command(self, command_id: str, robot_key: str, command: str, params: dict[str, Any], user: str,
                       sent_at: str) -> dict[str, Any]:
        with self._lock:
            entry = self._new_command(command_id, robot_key, command, params, user)
            entry["sent_at"] = sent_at
            self._outbox.append({"type": "command", "command": dict(entry)})
            return dict(entry)

    def command_failed(self, command_id: str, reason: str) -> None:
        with self._lock:
            entry = self.commands.get(command_id)
            if entry is not None:
                entry.update(status="error", reason=reason)
                self._outbox.append({"type": "command", "command": dict(entry)})

    def acknowledge_alert(self, alert_key: str, user: str, at: str) -> dict[str, Any] | None:
        """Record who acknowledged an alert and when; the first acknowledgement stands."""
        with self._lock:
            alert = self.alerts.get(alert_key)
            if alert is None:
                return None
            if alert["acked_by"] is None:
                alert["acked_by"], alert["acked_at"] = user, at
                self._outbox.append({"type": "alert", "alert": alert})
            return dict(alert)

    def record_task_request(self, request_id: str, site: str, action: str, task_id: str, kind: str | None,
                            user: str, sent_at: str) -> dict[str, Any]:
        with self._lock:
            entry = self.board.record_request(request_id, site, action, task_id, kind, user, sent_at)
            self._outbox.append({"type": "task_request", "request": dict(entry)})
            return dict(entry)

    def task_request_failed(self, request_id: str, reason: str) -> None:
        with self._lock:
            entry = self.board.request_failed(request_id, reason)
            if entry is not None:
                self._outbox.append({"type": "task_request", "request": dict(entry)})

    def sites(self) -> list[str]:
        """Every site this dashboard has heard of (where a task request may go)."""
        with self._lock:
            return sorted({r["site"] for r in self.robots.values()} | set(self.fleet_services)
                          | {t["site"] for t in self.board.tasks.values()})

    def set_broker_connected(self, connected: bool) -> None:
        with self._lock:
            self.broker_connected = connected
            self._outbox.append({"type": "link", "broker_connected": connected})

    def media_item(self, sha256: str) -> MediaObject | None:
        with self._lock:
            return self.media.get(sha256)

    # -- views -------------------------------------------------------------------------------

    def kpis(self) -> dict[str, Any]:
        with self._lock:
            utilisation = {k: r["utilisation"] for k, r in sorted(self.robots.items()) if r["utilisation"] is not None}
            hours = sorted(self._alerts_by_hour)
            return {
                "missions": {kind: dict(c) for kind, c in sorted(self._missions.items())},
                "utilisation": utilisation,
                "alerts_by_hour": [{"hour": iso_timestamp(h * 3600.0), **self._alerts_by_hour[h]} for h in hours[-24:]],
            }

    def snapshot(self, *, clinical: bool) -> dict[str, Any]:
        with self._lock:
            alerts = [dict(a) if clinical else redact_alert(a) for a in self.alerts.values()]
            return {
                "type": "snapshot",
                "broker_connected": self.broker_connected,
                "fleet_time": None if self.fleet_time_s is None else iso_timestamp(self.fleet_time_s),
                "fleet_time_s": self.fleet_time_s,
                "robots": [dict(r) for _, r in sorted(self.robots.items())],
                "alerts": alerts,
                "commands": [dict(c) for c in (*self.other_commands.values(), *self.commands.values())],
                "tasks": [dict(t) if clinical else redact_task(t) for t in self.board.tasks.values()],
                "task_requests": [dict(r) if clinical else {**r, "reason": redact_text(r["reason"])}
                                  for r in self.board.requests.values()],
                "fleet_services": [dict(s) for _, s in sorted(self.fleet_services.items())],
                "clinical": list(self.clinical) if clinical else None,
                "kpis": self.kpis(),
            }

    def drain(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None, float | None]:
        """(changed robots, events since the last drain, KPIs if they changed, fleet time)."""
        with self._lock:
            robots = [dict(self.robots[k]) for k in sorted(self._dirty)]
            events, self._outbox = self._outbox, []
            self._dirty.clear()
            kpis = self.kpis() if self._kpis_dirty else None
            self._kpis_dirty = False
            return robots, events, kpis, self.fleet_time_s


_HANDLERS = {
    Channel.CONNECTION: FleetState._on_connection,
    Channel.FACTSHEET: FleetState._on_factsheet,
    Channel.STATE: FleetState._on_state,
    Channel.VIZ: FleetState._on_viz,
    Channel.EVENTS: FleetState._on_events,
    Channel.ALERTS: FleetState._on_alerts,
    Channel.CLINICAL: FleetState._on_clinical,
    Channel.MEDIA: FleetState._on_media,
    Channel.COMMANDS_ACK: FleetState._on_ack,
}
