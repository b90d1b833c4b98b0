"""Equipment self-test: run the X-ray generator's self-test; a failure raises a maintenance alert
and leaves exposure locked out (the generator refuses until a service engineer clears it).

Dispatched after an equipment fault is seen, and as the morning quality check. One step that waits
on the self-test handle with a deadline, then a commit (outbox) of the result and any alert.
"""

from __future__ import annotations

import contextlib
import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hal.device import DeviceError
from hal.imaging import SelfTestResult, XRayGenerator
from missions import events as ev
from missions.base import Mission
from missions.imaging.selftest import maintenance_alert
from missions.timing import Attempts, OpStatus


class Step(enum.Enum):
    TEST = "test"
    REPORT = "report"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [Step.TEST, Step.REPORT]

# trigger      source         destination
STEP_TABLE = (
    ("tested",   Step.TEST,     Step.REPORT),
    ("finish",   Step.REPORT,   Step.DONE),
    ("fault",    Step.TEST,     Step.REPORT),      # the test could not run: reported as failed
    ("fault",    Step.REPORT,   Step.ABANDONED),
    ("abandon",  WORKING,       Step.ABANDONED),
    ("restart",  WORKING,       "="),
)  # fmt: skip


class EquipmentSelfTestParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device: str | None = None  # the generator's name; default: the robot's only one
    timeout_s: float = Field(default=120.0, gt=0)
    trigger: str = Field(default="scheduled", max_length=200)  # why it runs: "scheduled", "fault: ..."


class EquipmentSelfTest(Mission):
    kind = "equipment_selftest"
    Params = EquipmentSelfTestParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.TEST
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})

    params: EquipmentSelfTestParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attempt: Attempts[SelfTestResult] | None = None
        self._outcome: tuple[bool, str] | None = None

    def _generator(self) -> XRayGenerator:
        found = [d for d in self.ctx.devices if isinstance(d, XRayGenerator)
                 and (self.params.device is None or d.name == self.params.device)]
        if len(found) != 1:
            named = f" named {self.params.device}" if self.params.device else ""
            raise DeviceError("xray", f"need exactly one X-ray generator{named}, found {len(found)}")
        return found[0]

    def _advance(self, now_s: float) -> None:
        if self.step is Step.TEST:
            if self._attempt is None:
                self._attempt = Attempts("self-test", self._generator().start_self_test,
                                         timeout_s=self.params.timeout_s, max_attempts=1)
                self._op = self._attempt
            status = self._attempt.poll(now_s)
            if status is OpStatus.RUNNING:
                return
            result = self._attempt.result
            if status is OpStatus.SUCCEEDED and result is not None:
                self._outcome = (result.passed, result.reason)
            else:
                self._outcome = (False, str(self._attempt.reason))
            self._go("tested")
        elif self.step is Step.REPORT:
            self._report()

    def _on_step_start(self, step: enum.Enum) -> None:
        self._attempt = None

    def _on_fault(self, reason: str) -> None:
        self._outcome = (False, reason)

    def _report(self) -> None:
        passed, reason = self._outcome or (False, "no result")
        generator = self._generator()
        where: dict[str, Any] = {"place": generator.room, "x_m": 0.0, "y_m": 0.0}
        if self.ctx.devices.drive_base is not None:
            with contextlib.suppress(DeviceError):
                pose = self.ctx.devices.drive_base.odometry().pose
                where.update(x_m=round(pose.x_m, 3), y_m=round(pose.y_m, 3), level=pose.level)
        alerts = [] if passed else [maintenance_alert(self.mission_id, generator.name, reason, where)]
        self._commit("result", {"passed": passed, "reason": reason, "device": generator.name, "alerts": alerts})
        self._go("finish")
        if passed:
            self._succeed()
        else:
            self.fail(f"self-test failed: {reason}")

    def _publish(self, step: str, data: dict[str, Any]) -> None:
        self._emit(ev.MISSION_STEP, step="self_test_result", reason=data["reason"] or None,
                   data={"passed": data["passed"], "device": data["device"], "trigger": self.params.trigger})
        for alert in data["alerts"]:
            self._emit(ev.ALERT, step="report", reason=alert["summary"], data=dict(alert))

    def _result_data(self) -> dict[str, Any]:
        return {"passed": bool(self._outcome and self._outcome[0]), "trigger": self.params.trigger}


MISSIONS = (EquipmentSelfTest,)
