"""Security patrol: walk a route of checkpoints; at each, stand still, look and sniff, and report.

Per checkpoint (the table below): NAVIGATE there → CAPTURE (settle, then a burst of camera frames
while standing still, one thermal frame, the smoke/CO and floor-moisture readings) → ANALYSE
(`missions.security.assess`: fire, smoke, water leak, hot spot, intrusion when the area is closed,
door left open) → COMMIT (journal first, then the alerts with their evidence JPEGs; a fire sounds
the siren). An incident never ends the patrol. A hazard already reported (in this mission, or
handed in as `open_incidents` by the security desk) is reported again only when it got worse.

Device faults: a sensor that fails raises one `device` alert per mission and the checks that need
it are skipped at that checkpoint (recorded in `checks_skipped`); the patrol goes on. An
unreachable checkpoint is skipped with a low `patrol` alert. A restart resumes at the first
checkpoint not committed, and never re-raises a committed alert (outbox).
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hal.air_quality import AirQualitySensor
from hal.device import DeviceError
from hal.geometry import Pose2D
from hal.leak_sensor import LeakSensor
from hal.navigator import NavigationResult
from hal.siren import Siren, SirenPattern
from hal.thermal_camera import ThermalCamera
from missions import events as ev
from missions.base import Mission
from missions.journal import CommittedStep
from missions.journey import go_to
from missions.security import vision
from missions.security.assess import Capture, Finding, assess, is_worse, summaries
from missions.security.routes import Checkpoint, route
from missions.timing import Attempts, Deadline, OpStatus


class Step(enum.Enum):
    CHOOSE_CHECKPOINT = "choose_checkpoint"
    NAVIGATE = "navigate"
    CAPTURE = "capture"
    ANALYSE = "analyse"
    COMMIT = "commit"
    SKIP_CHECKPOINT = "skip_checkpoint"
    RETURN_HOME = "return_home"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [s for s in Step if s not in (Step.DONE, Step.ABANDONED)]

# trigger              source                                   destination
STEP_TABLE = (
    ("next_checkpoint",  Step.CHOOSE_CHECKPOINT,                     Step.NAVIGATE),
    ("all_done",         Step.CHOOSE_CHECKPOINT,                     Step.RETURN_HOME),
    ("finish",           Step.CHOOSE_CHECKPOINT,                     Step.DONE),      # return_to_dock: false
    ("arrived",          Step.NAVIGATE,                              Step.CAPTURE),
    ("captured",         Step.CAPTURE,                               Step.ANALYSE),
    ("analysed",         Step.ANALYSE,                               Step.COMMIT),
    ("committed",        [Step.COMMIT, Step.SKIP_CHECKPOINT],        Step.CHOOSE_CHECKPOINT),
    ("home",             Step.RETURN_HOME,                           Step.DONE),
    # fault: each step's defined fallback
    ("fault",            Step.NAVIGATE,                              Step.SKIP_CHECKPOINT),  # unreachable
    ("fault",            Step.CAPTURE,                               Step.ANALYSE),   # with what was captured
    ("fault",            Step.ANALYSE,                               Step.COMMIT),    # recorded incomplete
    ("fault",            [Step.CHOOSE_CHECKPOINT, Step.COMMIT, Step.SKIP_CHECKPOINT, Step.RETURN_HOME],
                                                                     Step.ABANDONED),  # mission fails
    ("abandon",          WORKING,                                    Step.ABANDONED),  # cancelled / failed
    ("restart",          WORKING,                                    "="),             # after pause / e-stop
)  # fmt: skip


class OpenIncident(BaseModel):
    """A hazard the security desk already knows about (not re-alerted unless worse)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    checkpoint: str
    category: str
    severity: ev.Severity
    magnitude: float = 0.0


class SecurityPatrolParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    route: str | None = Field(default=None, description="a named route (missions.security.routes), or")
    checkpoints: list[Checkpoint] | None = Field(default=None, min_length=1, max_length=100)
    laps: int = Field(default=1, ge=1, le=50)
    return_to_dock: bool = True
    open_incidents: list[OpenIncident] = Field(default_factory=list)
    #: local time = UTC + this (closed hours are local)
    site_utc_offset_h: float = Field(default=0.0, ge=-14, le=14)
    settle_s: float = Field(default=1.0, ge=0)
    capture_frames: int = Field(default=10, ge=4, le=60)
    frame_interval_s: float = Field(default=0.5, gt=0)
    capture_timeout_s: float = Field(default=30.0, gt=0)
    thermal_camera: str = "thermal"
    siren_duration_s: float = Field(default=120.0, gt=0)
    nav_timeout_s: float = Field(default=600.0, gt=0)
    nav_attempts: int = Field(default=2, ge=1, le=10)
    nav_retry_wait_s: float = Field(default=5.0, ge=0)

    @model_validator(mode="after")
    def _one_route(self) -> SecurityPatrolParams:
        if (self.route is None) == (self.checkpoints is None):
            raise ValueError("give exactly one of route (a name) or checkpoints (a list)")
        if self.route is not None:
            route(self.route)  # unknown names fail validation, listing the known ones
        names = [c.name for c in self.plan()]
        if len(set(names)) != len(names):
            raise ValueError("checkpoints: names must be unique")
        return self

    def plan(self) -> list[Checkpoint]:
        return list(self.checkpoints) if self.checkpoints is not None else route(self.route or "")


@dataclass
class Visit:
    """The checkpoint being worked on (lost on restart: nothing here is committed)."""

    lap: int
    checkpoint: Checkpoint
    pose: Pose2D | None = None
    capture: Capture = field(default_factory=Capture)
    problems: dict[str, str] = field(default_factory=dict)  # device kind → why it was not used
    skip_reason: str | None = None
    findings: list[Finding] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)

    @property
    def key(self) -> str:
        return f"{self.lap}:{self.checkpoint.name}"


CHECKS_NEEDING = {
    "camera": ("intrusion", "door_open", "flames", "puddle"),
    "thermal_camera": ("hot_spot",),
    "air_quality": ("smoke_sensor",),
    "leak_sensor": ("leak_probe",),
}


class SecurityPatrol(Mission):
    kind = "security_patrol"
    waits_for_goal_spot = False  # it looks from beside a robot at work; it never needs the spot itself
    Params = SecurityPatrolParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.CHOOSE_CHECKPOINT
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})
    resumable_after_restart = True

    params: SecurityPatrolParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plan = self.params.plan()
        self._done: dict[str, dict[str, Any]] = {}  # "<lap>:<checkpoint>" → committed outcome
        self._visit: Visit | None = None
        self._nav: Attempts[Any] | None = None
        self._capture_deadline: Deadline | None = None
        self._next_frame: Deadline | None = None
        #: (checkpoint, category) → (severity, magnitude) of what has been reported
        self._known: dict[tuple[str, str], tuple[str, float]] = {
            (i.checkpoint, i.category): (i.severity.value, i.magnitude) for i in self.params.open_incidents
        }
        self._device_alerted: set[str] = set()

    # ---- the step handlers ------------------------------------------------------------------

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        return {
            Step.CHOOSE_CHECKPOINT: self._choose,
            Step.NAVIGATE: self._navigate,
            Step.CAPTURE: self._capture,
            Step.ANALYSE: self._analyse,
            Step.COMMIT: self._commit_visit,
            Step.SKIP_CHECKPOINT: self._skip,
            Step.RETURN_HOME: self._return_home,
        }

    def _advance(self, now_s: float) -> None:
        self._step_handler()(now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        self._nav = None
        self._capture_deadline = None
        self._next_frame = None
        if step is Step.CAPTURE and self._visit is not None:
            self._visit.capture = Capture()  # a capture interrupted by an e-stop starts afresh
            self._visit.problems = {}

    def _on_fault(self, reason: str) -> None:
        visit = self._visit
        if visit is None:
            return
        if self.step is Step.NAVIGATE:
            visit.skip_reason = reason
        else:
            visit.problems.setdefault(self.step.name.lower(), reason)

    def _choose(self, now_s: float) -> None:
        for lap in range(1, self.params.laps + 1):
            for checkpoint in self._plan:
                if f"{lap}:{checkpoint.name}" not in self._done:
                    self._visit = Visit(lap, checkpoint)
                    self._go("next_checkpoint")
                    return
        self._visit = None
        if self.params.return_to_dock:
            self._go("all_done")
        else:
            self._go("finish")
            self._succeed()

    def _navigate(self, now_s: float) -> None:
        visit = self._current()
        self._nav = self._nav or self._go_to(visit.checkpoint.place)
        status = self._nav.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            result = self._nav.result
            visit.pose = result.final_pose if isinstance(result, NavigationResult) else None
            self._go("arrived")
        elif status is OpStatus.FAILED:
            self._step_fault(f"checkpoint not reached: {self._nav.reason}")

    def _capture(self, now_s: float) -> None:
        visit, p = self._current(), self.params
        if self._capture_deadline is None:
            self._capture_deadline = Deadline.after(now_s, p.settle_s + p.capture_timeout_s)
            self._next_frame = Deadline.after(now_s, p.settle_s)  # let the body stop rocking
            return
        assert self._next_frame is not None
        if self._capture_deadline.expired(now_s):
            visit.problems.setdefault("camera", f"capture timed out after {p.capture_timeout_s:g} s")
            self._go("captured")
            return
        if not self._next_frame.expired(now_s):
            return
        cap = visit.capture
        if not cap.frames and not visit.problems:  # the point sensors: once, at the start
            cap.thermal = self._read("thermal_camera", visit, lambda: self._thermal().read())
            cap.air = self._read("air_quality", visit, lambda: self.ctx.devices.require(AirQualitySensor).read())
            cap.leak = self._read("leak_sensor", visit, lambda: self.ctx.devices.require(LeakSensor).read())
        if "camera" not in visit.problems:
            frame = self._read("camera", visit, lambda: self._require(self.ctx.devices.camera, "camera").read())
            if frame is not None:
                cap.frames.append(frame.image_bgr)
        if len(cap.frames) >= p.capture_frames or "camera" in visit.problems:
            self._go("captured")
            return
        self._next_frame = Deadline.after(now_s, p.frame_interval_s)

    def _analyse(self, now_s: float) -> None:
        visit = self._current()
        cp = visit.checkpoint
        hour = ((now_s + self.params.site_utc_offset_h * 3600.0) % 86400.0) / 3600.0
        findings, checked = assess(visit.capture, cp.place, closed=cp.closed_at(hour), check_door=cp.check_door)
        visit.findings, visit.checked = findings, checked
        self._go("analysed")

    def _commit_visit(self, now_s: float) -> None:
        visit = self._current()
        cp = visit.checkpoint
        where = self._where(visit)
        alerts: list[dict[str, Any]] = []
        repeated: list[str] = []
        for finding in visit.findings:
            known = self._known.get((cp.name, finding.category))
            if known is not None and not is_worse(finding.severity, finding.magnitude, *known):
                repeated.append(finding.category)
                continue
            alerts.append(self._alert(visit, finding, where, worse=known is not None))
        cleared = sorted(c for (name, c) in self._known if name == cp.name and c in visit.checked
                         and c not in {f.category for f in visit.findings})
        for category in cleared:  # gone: if it comes back it is a new incident
            del self._known[(cp.name, category)]
        alerts.extend(self._device_alerts(visit, where))
        siren = None
        if any(f.category == "fire" for f in visit.findings):
            siren = self._sound_siren(visit, where, alerts)
        skipped = [{"device": kind, "checks": list(CHECKS_NEEDING.get(kind, ())), "reason": why}
                   for kind, why in sorted(visit.problems.items())]
        self._record(visit, {
            "outcome": "checked", "lap": visit.lap, "checkpoint": cp.name, "place": cp.place,
            "findings": summaries(visit.findings), "repeated": repeated, "cleared": cleared,
            "checks_done": sorted(visit.checked), "checks_skipped": skipped, "siren": siren, "alerts": alerts,
        })
        self._go("committed")

    def _skip(self, now_s: float) -> None:
        visit = self._current()
        reason = visit.skip_reason or "checkpoint not reached"
        alert = _alert(f"{self.mission_id}.{visit.lap}.{visit.checkpoint.name}.unreached", ev.Severity.LOW,
                       "patrol", self._where(visit), f"Patrol could not check {visit.checkpoint.place} ({reason})")
        self._record(visit, {"outcome": "skipped", "lap": visit.lap, "checkpoint": visit.checkpoint.name,
                             "place": visit.checkpoint.place, "reason": reason, "alerts": [alert]})
        self._go("committed")

    def _return_home(self, now_s: float) -> None:
        self._nav = self._nav or self._go_to(self.ctx.home_dock)
        status = self._nav.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._go("home")
            self._succeed()
        elif status is OpStatus.FAILED:
            self._step_fault(f"return to dock failed: {self._nav.reason}")

    # ---- alerts -----------------------------------------------------------------------------

    def _alert(self, visit: Visit, finding: Finding, where: dict[str, Any], *, worse: bool) -> dict[str, Any]:
        cp = visit.checkpoint
        evidence_ref = None
        if finding.evidence is not None:
            item = self.ctx.media.put(vision.jpeg(finding.evidence), content_type="image/jpeg",
                                      label=f"{finding.category} at {cp.place}", stamp_s=self.ctx.clock.now_s())
            evidence_ref = item.ref
        summary = finding.summary + (" (worse than reported)" if worse else "")
        self._known[(cp.name, finding.category)] = (finding.severity.value, finding.magnitude)
        return _alert(f"{self.mission_id}.{visit.lap}.{cp.name}.{finding.category}", finding.severity,
                      finding.category, where, summary, evidence_ref=evidence_ref, checkpoint=cp.name,
                      lap=visit.lap, magnitude=finding.magnitude, **finding.data)

    def _device_alerts(self, visit: Visit, where: dict[str, Any]) -> list[dict[str, Any]]:
        alerts = []
        for kind, why in sorted(visit.problems.items()):
            if kind in self._device_alerted:
                continue
            self._device_alerted.add(kind)
            checks = ", ".join(CHECKS_NEEDING.get(kind, ())) or kind
            alerts.append(_alert(f"{self.mission_id}.device.{kind}", ev.Severity.MEDIUM, "device", where,
                                 f"{kind} failed at {visit.checkpoint.place} ({why}) - patrolling without: {checks}",
                                 device=kind, checkpoint=visit.checkpoint.name))
        return alerts

    def _sound_siren(self, visit: Visit, where: dict[str, Any], alerts: list[dict[str, Any]]) -> bool:
        try:
            siren = self.ctx.devices.require(Siren)
            siren.sound(SirenPattern.FIRE, duration_s=self.params.siren_duration_s)
            return True
        except DeviceError as exc:
            visit.problems["siren"] = exc.reason
            alerts.extend(self._device_alerts(visit, where))
            return False

    # ---- outbox, restore, result ------------------------------------------------------------

    def _record(self, visit: Visit, outcome: dict[str, Any]) -> None:
        self._done[visit.key] = outcome
        self._commit(f"cp:{visit.key}", outcome)
        self._visit = None

    def _publish(self, step: str, data: dict[str, Any]) -> None:
        where = "commit" if data.get("outcome") == "checked" else "skip_checkpoint"
        for alert in data.get("alerts", []):
            self._emit(ev.ALERT, step=where, reason=alert["summary"], data=dict(alert))

    def _restore(self, committed: Sequence[CommittedStep]) -> None:
        for item in committed:
            if not item.step.startswith("cp:"):
                continue
            self._done[item.step.removeprefix("cp:")] = item.data
            for alert in item.data.get("alerts", []):
                if alert["category"] == "device":
                    self._device_alerted.add(str(alert.get("device")))
                elif alert["category"] != "patrol":
                    self._known[(alert["checkpoint"], alert["category"])] = (alert["severity"], alert["magnitude"])
            for category in item.data.get("cleared", []):
                self._known.pop((item.data["checkpoint"], category), None)

    def _progress_fraction(self) -> float:
        return len(self._done) / (len(self._plan) * self.params.laps)

    def _result_data(self) -> dict[str, Any]:
        outcomes = list(self._done.values())
        return {
            "checkpoints_checked": [f"{d['lap']}:{d['checkpoint']}" for d in outcomes if d["outcome"] == "checked"],
            "checkpoints_skipped": [{"checkpoint": d["checkpoint"], "lap": d["lap"], "reason": d["reason"]}
                                    for d in outcomes if d["outcome"] == "skipped"],
            "checks_skipped": [{"checkpoint": d["checkpoint"], **s} for d in outcomes
                               for s in d.get("checks_skipped", [])],
            "alerts_raised": [{"alert_id": a["alert_id"], "category": a["category"], "severity": a["severity"],
                               "checkpoint": a.get("checkpoint")} for d in outcomes for a in d.get("alerts", [])],
            "open_incidents": [{"checkpoint": cp, "category": cat, "severity": sev, "magnitude": mag}
                               for (cp, cat), (sev, mag) in sorted(self._known.items())],
        }

    # ---- small helpers ----------------------------------------------------------------------

    def _current(self) -> Visit:
        if self._visit is None:  # pragma: no cover - the table only reaches these via CHOOSE
            raise RuntimeError(f"step {self.step.name} without a checkpoint")
        return self._visit

    def _go_to(self, place: str) -> Attempts[Any]:
        self._require(self.ctx.devices.navigator, "navigator")
        attempt = go_to(self.ctx.devices, place, nav_timeout_s=self.params.nav_timeout_s,
                        nav_attempts=self.params.nav_attempts, nav_retry_wait_s=self.params.nav_retry_wait_s)
        self._op = attempt
        return attempt

    def _thermal(self) -> ThermalCamera:
        found = self.ctx.devices.find(ThermalCamera, self.params.thermal_camera)
        return found if found is not None else self.ctx.devices.require(ThermalCamera)

    def _read(self, kind: str, visit: Visit, read: Callable[[], Any]) -> Any:
        """One synchronous read; a failure is recorded against the device, never raised."""
        try:
            return read()
        except DeviceError as exc:
            visit.problems.setdefault(kind, exc.reason)
            return None

    def _where(self, visit: Visit) -> dict[str, Any]:
        pose = visit.pose
        if pose is None and self.ctx.devices.drive_base is not None:
            with contextlib.suppress(DeviceError):
                pose = self.ctx.devices.drive_base.odometry().pose
        where: dict[str, Any] = {"place": visit.checkpoint.place, "x_m": 0.0, "y_m": 0.0}
        if pose is not None:
            where.update(x_m=round(pose.x_m, 3), y_m=round(pose.y_m, 3), level=pose.level)
        return where


def _alert(alert_id: str, severity: ev.Severity, category: str, where: dict[str, Any], summary: str,
           *, evidence_ref: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"alert_id": alert_id, "severity": severity.value, "category": category, "summary": summary,
            "where": where, "evidence_ref": evidence_ref, **extra}


MISSIONS = (SecurityPatrol,)
