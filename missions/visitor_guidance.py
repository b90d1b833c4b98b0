"""Visitor guidance: meet a visitor, walk them to a named place, announce the arrival.

GO_TO_MEET the meeting place → FIND_VISITOR (someone within `resume_gap_m` behind the robot, seen
by the rear thermal camera, within `meet_wait_s`) → LEAD towards the destination while watching
the gap → when the visitor falls more than `max_gap_m` behind, stop and WAIT_FOR_VISITOR (asking
them to follow) for at most `max_wait_s`; they catch up → LEAD again (the route is re-planned
from where the robot stands) → ANNOUNCE the arrival → DONE.

The visitor not found, or lost on the way, ends the mission FAILED with the reason ("visitor
lost: ..."), after telling them where to ask. A rear camera that fails stops the tracking, not
the guidance: the robot leads on at its pace, says so, and the result records `tracked: false`.
Visitors are named by a pseudonymous reference only. Not resumed after a restart: the visitor
will not have waited.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hal.device import DeviceError
from hal.thermal_camera import ThermalCamera
from missions.base import Mission
from missions.journey import go_to
from missions.security.thermal import person_distance_m
from missions.timing import Attempts, Deadline, OpStatus


class Step(enum.Enum):
    GO_TO_MEET = "go_to_meet"
    FIND_VISITOR = "find_visitor"
    LEAD = "lead"
    WAIT_FOR_VISITOR = "wait_for_visitor"
    ANNOUNCE = "announce"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [s for s in Step if s not in (Step.DONE, Step.ABANDONED)]

# trigger        source                                   destination
STEP_TABLE = (
    ("met",        Step.GO_TO_MEET,                          Step.FIND_VISITOR),
    ("found",      Step.FIND_VISITOR,                        Step.LEAD),
    ("lagging",    Step.LEAD,                                Step.WAIT_FOR_VISITOR),
    ("caught_up",  Step.WAIT_FOR_VISITOR,                    Step.LEAD),
    ("arrived",    Step.LEAD,                                Step.ANNOUNCE),
    ("announced",  Step.ANNOUNCE,                            Step.DONE),
    # fault: each step's defined fallback
    ("fault",      [Step.FIND_VISITOR, Step.WAIT_FOR_VISITOR], Step.LEAD),      # rear camera failed: lead untracked
    ("fault",      [Step.GO_TO_MEET, Step.LEAD, Step.ANNOUNCE], Step.ABANDONED),  # cannot get there: fails
    ("abandon",    WORKING,                                  Step.ABANDONED),  # cancelled, lost, failed
    ("restart",    WORKING,                                  "="),             # after pause / e-stop
)  # fmt: skip


class VisitorGuidanceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    visitor_ref: str = Field(pattern=r"^vis-[0-9a-z]{3,32}$", description="pseudonymous, never a name")
    meet_at: str = Field(min_length=1, max_length=128)
    destination: str = Field(min_length=1, max_length=128)
    destination_label: str | None = Field(default=None, max_length=80, description="what to call it aloud")
    meet_wait_s: float = Field(default=180.0, gt=0)
    max_gap_m: float = Field(default=4.0, gt=0)
    resume_gap_m: float = Field(default=2.5, gt=0)
    max_wait_s: float = Field(default=60.0, gt=0)
    check_period_s: float = Field(default=0.5, gt=0)
    remind_period_s: float = Field(default=15.0, gt=0)
    rear_camera: str = "thermal_rear"
    nav_timeout_s: float = Field(default=600.0, gt=0)
    nav_attempts: int = Field(default=2, ge=1, le=10)


class VisitorGuidance(Mission):
    kind = "visitor_guidance"
    waits_for_goal_spot = False  # it brings a visitor near the place; the spot itself is not needed
    Params = VisitorGuidanceParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.GO_TO_MEET
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})
    resumable_after_restart = False

    params: VisitorGuidanceParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._nav: Attempts[Any] | None = None
        self._wait_until: Deadline | None = None
        self._next_check: Deadline | None = None
        self._next_reminder: Deadline | None = None
        self.tracked = True
        self.waits = 0
        self.last_gap_m: float | None = None

    @property
    def _label(self) -> str:
        return self.params.destination_label or self.params.destination.replace("-", " ")

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        return {
            Step.GO_TO_MEET: self._go_to_meet,
            Step.FIND_VISITOR: self._find_visitor,
            Step.LEAD: self._lead,
            Step.WAIT_FOR_VISITOR: self._wait_for_visitor,
            Step.ANNOUNCE: self._announce,
        }

    def _advance(self, now_s: float) -> None:
        self._step_handler()(now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        self._nav = None
        self._wait_until = None
        self._next_check = None
        self._next_reminder = None

    def _on_fault(self, reason: str) -> None:
        if self.step in (Step.FIND_VISITOR, Step.WAIT_FOR_VISITOR):
            self.tracked = False
            self._say(f"I cannot see behind me. Please stay close: I will walk slowly to {self._label}.")

    def _go_to_meet(self, now_s: float) -> None:
        self._nav = self._nav or self._go_to(self.params.meet_at)
        status = self._nav.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._say(f"Hello, I will take you to {self._label}. Please follow me.")
            self._go("met")
        elif status is OpStatus.FAILED:
            self._step_fault(f"could not reach the meeting place {self.params.meet_at}: {self._nav.reason}")

    def _find_visitor(self, now_s: float) -> None:
        if self._wait_until is None:
            self._wait_until = Deadline.after(now_s, self.params.meet_wait_s)
        if not self._due(now_s):
            return
        gap = self._gap_m()
        if gap is not None and gap <= self.params.resume_gap_m:
            self._go("found")
        elif self._wait_until.expired(now_s):
            self._lost(f"visitor not found at {self.params.meet_at} within {self.params.meet_wait_s:g} s")

    def _lead(self, now_s: float) -> None:
        self._nav = self._nav or self._go_to(self.params.destination)
        status = self._nav.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._go("arrived")
            return
        if status is OpStatus.FAILED:
            self._step_fault(f"could not reach {self.params.destination}: {self._nav.reason}")
            return
        if not self.tracked or not self._due(now_s):
            return
        try:
            gap = self._gap_m()
        except DeviceError as exc:  # lead on untracked rather than strand the visitor mid-way
            self.tracked = False
            self._say(f"I cannot see behind me ({exc.reason}). Please stay close.")
            return
        if gap is None or gap > self.params.max_gap_m:
            self._go("lagging")  # the navigation in flight is cancelled on leaving the step

    def _wait_for_visitor(self, now_s: float) -> None:
        if self._wait_until is None:
            self.waits += 1
            self._wait_until = Deadline.after(now_s, self.params.max_wait_s)
        if self._next_reminder is None or self._next_reminder.expired(now_s):
            self._say("Please follow me, I am waiting for you.")
            self._next_reminder = Deadline.after(now_s, self.params.remind_period_s)
        if not self._due(now_s):
            return
        gap = self._gap_m()
        if gap is not None and gap <= self.params.resume_gap_m:
            self._go("caught_up")
        elif self._wait_until.expired(now_s):
            self._lost(f"no one followed within {self.params.max_gap_m:g} m for {self.params.max_wait_s:g} s")

    def _announce(self, now_s: float) -> None:
        self._say(f"We have arrived at {self._label}.")
        self._go("announced")
        self._succeed()

    # ---- helpers ----------------------------------------------------------------------------

    def _lost(self, why: str) -> None:
        self._say("I have lost you. Please ask at the reception desk, they will help you.")
        self.fail(f"visitor lost: {why}")

    def _due(self, now_s: float) -> bool:
        """Check the gap only every `check_period_s` (the rear camera need not run every tick)."""
        if self._next_check is not None and not self._next_check.expired(now_s):
            return False
        self._next_check = Deadline.after(now_s, self.params.check_period_s)
        return True

    def _gap_m(self) -> float | None:
        camera = self.ctx.devices.find(ThermalCamera, self.params.rear_camera)
        if camera is None:
            raise DeviceError(self.params.rear_camera, "no rear camera configured")
        self.last_gap_m = person_distance_m(camera.read())  # a DeviceError takes the step's fault exit
        return self.last_gap_m

    def _go_to(self, place: str) -> Attempts[Any]:
        self._require(self.ctx.devices.navigator, "navigator")
        attempt = go_to(self.ctx.devices, place, nav_timeout_s=self.params.nav_timeout_s,
                        nav_attempts=self.params.nav_attempts, nav_retry_wait_s=5.0)
        self._op = attempt
        return attempt

    def _say(self, text: str) -> None:
        speaker = self.ctx.devices.speaker
        if speaker is not None:
            with contextlib.suppress(DeviceError):  # guidance goes on without the voice
                speaker.say(text)

    def _result_data(self) -> dict[str, Any]:
        return {"visitor_ref": self.params.visitor_ref, "destination": self.params.destination,
                "tracked": self.tracked, "waits": self.waits, "last_gap_m": self.last_gap_m}


MISSIONS = (VisitorGuidance,)
