"""Sample pick-up: fetch the bedside collections from a ward's nurse station to the lab.

1. GO_TO_STATION.
2. AUTHENTICATE the nurse handing over (badge + PIN, role nurse); refused → asked again up to
   `auth_attempts`; still refused → the run fails: nothing is taken without a named (pseudonymous)
   hand-over.
3. RECEIVE: the carrier opens for that nurse, who loads the tubes and closes it.
4. VERIFY: each received tube is read by its label (re-read after turning it) and put back. The
   hand-over is journaled then logged (a `mission.step` "handover" event): station, staff ref,
   sample ids, unreadable positions, expected samples not handed over (a low alert), extras.
5. GO_TO_LAB and UNLOAD the carrier into the lab's input rack (moves journaled, idempotent).

A restart resumes after the committed hand-over, so the chain of custody is logged once.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hal.badge_reader import BadgeReader, BadgeScan
from hal.handle import Handle
from hal.tag_reader import TagReader
from hal.tube_handler import RackStatus, TubeHandler
from missions import events as ev
from missions.journal import CommittedStep
from missions.lab.lab_mission import LabMission, plan_entry, plan_from_entry
from missions.lab.moves import Move
from missions.lab.orders import SAMPLE_ID_PATTERN, SPECIMEN_LABEL_PREFIX
from missions.lab.report import lab_alert
from missions.timing import Attempts, OpStatus, RetryBudget


class Step(enum.Enum):
    GO_TO_STATION = "go_to_station"
    AUTHENTICATE = "authenticate"
    RECEIVE = "receive"
    VERIFY = "verify"
    GO_TO_LAB = "go_to_lab"
    UNLOAD = "unload"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [s for s in Step if s not in (Step.DONE, Step.ABANDONED)]

# trigger          source              destination
STEP_TABLE = (
    ("arrived",      Step.GO_TO_STATION, Step.AUTHENTICATE),
    ("authenticated", Step.AUTHENTICATE, Step.RECEIVE),
    ("received",     Step.RECEIVE,       Step.VERIFY),
    ("logged",       Step.VERIFY,        Step.GO_TO_LAB),
    ("resume_trip",  Step.GO_TO_STATION, Step.GO_TO_LAB),   # hand-over committed before a restart
    ("at_lab",       Step.GO_TO_LAB,     Step.UNLOAD),
    ("unloaded",     Step.UNLOAD,        Step.DONE),
    ("fault",        WORKING,            Step.ABANDONED),   # the run fails with the reason
    ("abandon",      WORKING,            Step.ABANDONED),
    # after a pause the robot may have been taken to its dock: back to where the step happens
    ("restart",      [Step.GO_TO_STATION, Step.AUTHENTICATE, Step.RECEIVE, Step.VERIFY],
                                         Step.GO_TO_STATION),
    ("restart",      [Step.GO_TO_LAB, Step.UNLOAD], Step.GO_TO_LAB),
)  # fmt: skip


class SamplePickupParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station: str = Field(min_length=1, max_length=128)  # the nurse station's place
    expected_samples: list[str] = Field(default_factory=list, max_length=100)
    lab_place: str = "clinical-lab"
    carrier_area: str = "carrier"
    input_area: str = "input"
    label_reader: str = "label_reader"
    label_reads: int = Field(default=3, ge=1, le=10)
    auth_attempts: int = Field(default=2, ge=1, le=5)
    auth_timeout_s: float = Field(default=300.0, gt=0)
    handover_timeout_s: float = Field(default=600.0, gt=0)
    move_timeout_s: float = Field(default=60.0, gt=0)
    nav_timeout_s: float = Field(default=900.0, gt=0)
    nav_attempts: int = Field(default=3, ge=1, le=10)

    @field_validator("expected_samples")
    @classmethod
    def _specimen_ids(cls, value: list[str]) -> list[str]:
        for sample_id in value:
            if not re.match(SAMPLE_ID_PATTERN, sample_id):
                raise ValueError(f"{sample_id!r} is not a specimen id")
        return value


class SamplePickup(LabMission):
    kind = "sample_pickup"
    Params = SamplePickupParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.GO_TO_STATION
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})
    resumable_after_restart = True

    params: SamplePickupParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handover: dict[str, Any] | None = None  # committed
        self._plan: list[Move] | None = None  # committed
        self._staff: BadgeScan | None = None
        self._received: list[str] = []  # carrier positions loaded at this station
        self._before: frozenset[str] = frozenset()
        self._auth = RetryBudget(self.params.auth_attempts)
        self._labels: dict[str, str | None] = {}
        self._phase = "pick"
        self._reads = RetryBudget(self.params.label_reads)

    @property
    def _handler(self) -> TubeHandler:
        return self.ctx.devices.require(TubeHandler)

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        return {
            Step.GO_TO_STATION: self._go_to_station,
            Step.AUTHENTICATE: self._authenticate,
            Step.RECEIVE: self._receive,
            Step.VERIFY: self._verify,
            Step.GO_TO_LAB: self._go_to_lab,
            Step.UNLOAD: self._unload,
        }

    def _advance(self, now_s: float) -> None:
        self._step_handler()(now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        self._attempt, self._mover = None, None
        self._phase, self._reads = "pick", RetryBudget(self.params.label_reads)
        if step is Step.AUTHENTICATE:
            self._auth = RetryBudget(self.params.auth_attempts)

    def _go_to_station(self, now_s: float) -> None:
        if self._handover is not None:
            self._go("resume_trip")
        elif self._navigated(now_s, self.params.station, self.params):
            self._go("arrived")

    def _authenticate(self, now_s: float) -> None:
        if self._attempt is None:
            self._auth.take()
            reader = self.ctx.devices.require(BadgeReader)
            self._attempt = self._track(Attempts(
                "badge reader", lambda: reader.start_authentication(required_role="nurse",
                                                                    purpose="specimen hand-over to the lab robot"),
                timeout_s=self.params.auth_timeout_s, max_attempts=1))
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"badge reader: {self._attempt.reason}")
            return
        if status is not OpStatus.SUCCEEDED:
            return
        scan = self._attempt.result
        assert isinstance(scan, BadgeScan)
        self._attempt = self._op = None
        if scan.granted and scan.staff_ref and scan.role == "nurse":
            self._staff = scan
            self._go("authenticated")
        elif self._auth.exhausted:
            self._step_fault(f"hand-over not authenticated: {scan.reason or 'not a nurse'}")

    def _receive(self, now_s: float) -> None:
        handler, staff = self._handler, self._staff
        assert staff is not None and staff.staff_ref is not None
        if self._attempt is None:
            self._before = handler.rack(self.params.carrier_area).occupied
            area = self.params.carrier_area
            start: Callable[[], Handle[RackStatus, str]] = lambda: handler.start_handover(  # noqa: E731
                area, authorised_by=str(staff.staff_ref))
            self._attempt = self._track(Attempts("carrier hand-over", start,
                                                 timeout_s=self.params.handover_timeout_s, max_attempts=1))
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"tube handler: {self._attempt.reason}")
        elif status is OpStatus.SUCCEEDED:
            rack = handler.rack(self.params.carrier_area)
            # kept across a re-authentication after a pause: every tube received here is verified
            self._received += [p for p in rack.tubes() if p not in self._before and p not in self._received]
            self._go("received")

    def _verify(self, now_s: float) -> None:
        """Pick, read and put back each received tube, then journal and log the hand-over."""
        handler = self._handler
        todo = [p for p in self._received if p not in self._labels]
        if todo:
            position = todo[0]
            if self._attempt is None:
                begin = {"pick": lambda: handler.start_pick(position), "turn": handler.start_rotate,
                         "place": lambda: handler.start_place(position)}.get(self._phase)
                if begin is not None and not (self._phase == "pick" and handler.holding() == position):
                    self._attempt = self._track(Attempts(f"{self._phase} at {position}", begin,
                                                         timeout_s=self.params.move_timeout_s, max_attempts=2))
                elif self._phase == "pick":
                    self._phase = "read"
            if self._attempt is not None:
                status = self._attempt.poll(now_s)
                if status is OpStatus.FAILED:
                    self._step_fault(f"tube handler: {self._attempt.reason}")
                    return
                if status is OpStatus.RUNNING:
                    return
                self._attempt = self._op = None
                self._phase = {"pick": "read", "turn": "read", "place": "next"}[self._phase]
            if self._phase == "read":
                self._reads.take()
                reader = self.ctx.devices.require(TagReader, self.params.label_reader)
                payload = reader.read_tag().payload
                if payload is not None or self._reads.exhausted:
                    self._label_read = payload
                    self._phase = "place"
                else:
                    self._phase = "turn"
            elif self._phase == "next":
                self._labels[position] = self._label_read
                self._phase, self._reads = "pick", RetryBudget(self.params.label_reads)
            return
        self._log_handover()
        self._go("logged")

    _label_read: str | None = None

    def _log_handover(self) -> None:
        assert self._staff is not None
        samples = sorted(p.removeprefix(SPECIMEN_LABEL_PREFIX) for p in self._labels.values()
                         if p is not None and p.startswith(SPECIMEN_LABEL_PREFIX))
        unreadable = sorted(pos for pos, p in self._labels.items() if p is None)
        missing = sorted(set(self.params.expected_samples) - set(samples))
        alerts = []
        if missing:
            alerts.append(lab_alert(
                f"{self.mission_id}.missing", ev.Severity.LOW, "lab.pickup",
                {"place": self.params.station, "x_m": 0.0, "y_m": 0.0},
                f"Pick-up at {self.params.station}: {len(missing)} expected sample(s) not confirmed by label "
                f"({', '.join(missing)}); {len(unreadable)} tube(s) with an unreadable label carried for the lab "
                "to reject", missing=missing, unreadable_positions=unreadable))
        handover = {
            "station": self.params.station, "staff_ref": self._staff.staff_ref, "role": self._staff.role,
            "sample_ids": samples, "unreadable_positions": unreadable, "missing": missing,
            "unexpected": sorted(set(samples) - set(self.params.expected_samples)),
            "positions": sorted(self._labels), "alerts": alerts,
        }
        self._handover = handover
        self._commit("handover", handover)

    def _go_to_lab(self, now_s: float) -> None:
        if self._navigated(now_s, self.params.lab_place, self.params):
            self._go("at_lab")

    def _unload(self, now_s: float) -> None:
        handler = self._handler
        if self._plan is None:
            positions = (self._handover or {}).get("positions", [])
            free = handler.rack(self.params.input_area).free()
            self._plan = [Move(p, free[i]) for i, p in enumerate(positions[:len(free)])]
            self._commit("plan", plan_entry(self._plan))
        if self._moved(now_s, self._plan, timeout_s=self.params.move_timeout_s, attempts=2, failure="unload failed"):
            self._go("unloaded")
            self._succeed()

    def _publish(self, step: str, data: dict[str, Any]) -> None:
        if step == "handover":
            self._emit(ev.MISSION_STEP, step="handover",
                       data={k: v for k, v in data.items() if k != "alerts"})
        for alert in data.get("alerts", []):
            self._emit(ev.ALERT, step=step, reason=alert["summary"], data=dict(alert))

    def _restore(self, committed: Sequence[CommittedStep]) -> None:
        for item in committed:
            if item.step == "handover":
                self._handover = item.data
            elif item.step == "plan":
                self._plan = plan_from_entry(item.data)

    def _progress_fraction(self) -> float:
        order = [Step.GO_TO_STATION, Step.AUTHENTICATE, Step.RECEIVE, Step.VERIFY, Step.GO_TO_LAB, Step.UNLOAD]
        if self.step in order:
            return order.index(self.step) / len(order)
        return 1.0 if self.step is Step.DONE else 0.0

    def _result_data(self) -> dict[str, Any]:
        handover = self._handover or {}
        return {key: handover.get(key) for key in ("station", "staff_ref", "sample_ids", "missing", "unexpected",
                                                     "unreadable_positions")}


MISSIONS = (SamplePickup,)
