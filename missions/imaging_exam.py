"""Imaging exam: one worklist exam, X-ray or ultrasound, with no technician in the room.

NAVIGATE to the modality's room → IDENTIFY the patient by wristband (never image the wrong patient)
→ CHECK_EQUIPMENT (a faulted or locked-out generator goes through SELF_TEST; a failed self-test
raises a maintenance alert and the exam is never exposed) → X-ray: POSITION with the ceiling camera,
instructing the patient until the gown marker is within tolerance (bounded) → CHECK_INTERLOCKS
(door, room clear, warning light; bounded wait, then refused) → EXPOSE: technique factors shown
(event), hold-to-expose through the exposure gate on every tick, ending the same tick an interlock
breaks → ASSESS (OpenCV blur and exposure metrics): accept, or retake within the retake budget and
the exam's dose limit, each retake logged with its reason. Ultrasound: SCAN with the probe arm
(room-clear check, contact-force limit, no dose). → REPORT: release the patient and report the
study (`clinical.record` "imaging_study"; MPPS IN PROGRESS → COMPLETED / DISCONTINUED in events).

Journal: an exposure is committed as started the moment the generator accepts it and with its
outcome at ASSESS. After a restart, an exposure started without an outcome is never repeated: the
exam is reported DISCONTINUED for a radiographer to review (no double exposure).
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import cv2

from hal.camera import Camera
from hal.device import DeviceError
from hal.handle import HandleStatus
from hal.imaging import ExposureHandle, XRayGenerator
from hal.room_interlocks import RoomInterlocks
from hal.ultrasound import ScanRequest, ScanResult, UltrasoundProbeArm
from hal.xray_safety import ExposureGate
from missions import events as ev
from missions.base import Mission
from missions.imaging import policy
from missions.imaging.params import ImagingExamParams
from missions.imaging.positioning import instruction_for, measure_offset_mm
from missions.imaging.quality import QualityReport, assess
from missions.imaging.selftest import maintenance_alert
from missions.imaging.study import study_record
from missions.journal import CommittedStep
from missions.journey import go_to
from missions.timing import Attempts, Deadline, OpStatus, RetryBudget

WRISTBAND_PREFIX = "MEDBOT-PT:"
SHOW_WRISTBAND = "Please hold your wristband up to the camera."
CLEAR_ROOM = "An X-ray exposure is about to start. Everyone except the patient, please leave and close the door."
HOLD_STILL = "Please hold still and hold your breath."
EXPOSURE_DONE = "Exposure complete. You may breathe normally."
FINISHED = "The examination is finished. You may get up now. Thank you."


class Step(enum.Enum):
    NAVIGATE = "navigate"
    IDENTIFY = "identify"
    CHECK_EQUIPMENT = "check_equipment"
    SELF_TEST = "self_test"
    POSITION = "position"
    CHECK_INTERLOCKS = "check_interlocks"
    EXPOSE = "expose"
    ASSESS = "assess"
    SCAN = "scan"
    REPORT = "report"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [s for s in Step if s not in (Step.DONE, Step.ABANDONED)]
BEFORE_REPORT = [s for s in WORKING if s is not Step.REPORT]

# trigger             source                      destination
STEP_TABLE = (
    ("arrived",         Step.NAVIGATE,              Step.IDENTIFY),
    ("identified",      Step.IDENTIFY,              Step.CHECK_EQUIPMENT),
    ("xray_ready",      Step.CHECK_EQUIPMENT,       Step.POSITION),
    ("us_ready",        Step.CHECK_EQUIPMENT,       Step.SCAN),
    ("needs_self_test", Step.CHECK_EQUIPMENT,       Step.SELF_TEST),
    ("self_test_passed", Step.SELF_TEST,            Step.CHECK_EQUIPMENT),
    ("positioned",      Step.POSITION,              Step.CHECK_INTERLOCKS),
    ("interlocks_hold", Step.CHECK_INTERLOCKS,      Step.EXPOSE),
    ("exposure_ended",  Step.EXPOSE,                Step.ASSESS),
    ("retake",          Step.ASSESS,                Step.POSITION),
    ("to_report",       BEFORE_REPORT,              Step.REPORT),     # accepted, scanned or discontinued
    ("finish",          Step.REPORT,                Step.DONE),
    # fault: every step before the report discontinues the exam and reports it; a report that
    # cannot be made fails the mission
    ("fault",           BEFORE_REPORT,              Step.REPORT),
    ("fault",           Step.REPORT,                Step.ABANDONED),
    ("abandon",         WORKING,                    Step.ABANDONED),  # cancelled / failed
    ("restart",         WORKING,                    "="),             # after pause / e-stop
)  # fmt: skip


class ImagingExam(Mission):
    kind = "imaging_exam"
    Params = ImagingExamParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.NAVIGATE
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})
    resumable_after_restart = True

    params: ImagingExamParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.proc = policy.procedure(self.params.procedure_code)
        self.dose_limit = self.params.dose_limit_dap_mgy_cm2 or policy.default_dose_limit_mgy_cm2(self.proc)
        self._attempt: Attempts[Any] | None = None
        self._budget = RetryBudget(1)
        self._wait: Deadline | None = None
        self._scanner_fault: str | None = None  # the wristband scanner's error on its last read, if any
        self._gate: ExposureGate | None = None
        self._exposure: ExposureHandle | None = None
        self._exposure_deadline: Deadline | None = None
        self._self_tested = False
        self._discontinue: str | None = None
        self._scan: ScanResult | None = None
        self._started: set[int] = set()  # exposures committed as started
        self._exposures: dict[int, dict[str, Any]] = {}  # committed outcomes
        self._alerts: list[dict[str, Any]] = []
        self._in_progress_sent = False
        self._restored_unknown = False
        self._announced = False
        self._released = False
        self.last_offset_mm: tuple[float, float] | None = None

    # ---- devices ----------------------------------------------------------------------------

    def _in_room(self, kind: type[Any]) -> Any:
        for device in self.ctx.devices:
            if isinstance(device, kind) and getattr(device, "room", None) == self.proc.room:
                return device
        raise DeviceError(kind.kind, f"no {kind.kind} device for room {self.proc.room}")

    def _say(self, text: str) -> None:
        if self.ctx.devices.speaker is not None:
            with contextlib.suppress(DeviceError):  # a prompt; the robot re-checks anyway
                self.ctx.devices.speaker.say(text)

    def _start_exam_step(self, name: str) -> None:
        self._emit(ev.MISSION_STEP, step=name, data={"progress_fraction": round(self._progress_fraction(), 4)})

    # ---- the step handlers ------------------------------------------------------------------

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        return {
            Step.NAVIGATE: self._navigate, Step.IDENTIFY: self._identify,
            Step.CHECK_EQUIPMENT: self._check_equipment,
            Step.SELF_TEST: self._self_test, Step.POSITION: self._position, Step.CHECK_INTERLOCKS: self._interlocks,
            Step.EXPOSE: self._expose, Step.ASSESS: self._assess, Step.SCAN: self._scan_step,
            Step.REPORT: self._report,
        }

    def _advance(self, now_s: float) -> None:
        self._step_handler()(now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        self._attempt, self._wait, self._announced = None, None, False
        self._budget = RetryBudget(
            self.params.wristband_reads if step is Step.IDENTIFY else self.params.positioning_attempts
        )

    def _on_fault(self, reason: str) -> None:
        self._discontinue = self._discontinue or reason

    def _to_report(self, reason: str | None = None) -> None:
        if reason is not None:
            self._discontinue = self._discontinue or reason
        self._go("to_report")

    def _navigate(self, now_s: float) -> None:
        if self._restored_unknown:
            self._to_report("robot restarted during an exposure: dose not known, no re-exposure"
                            " - radiographer to review")
            return
        if any(e.get("outcome") == "accepted" for e in self._exposures.values()):
            self._to_report()  # the accepted image was committed before the restart
            return
        if self._attempt is None:
            self._require(self.ctx.devices.navigator, "navigator")
            self._attempt = self._track(go_to(self.ctx.devices, self.proc.room, nav_timeout_s=self.params.nav_timeout_s,
                                              nav_attempts=self.params.nav_attempts, nav_retry_wait_s=5.0))
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._go("arrived")
        elif status is OpStatus.FAILED:
            self._step_fault(f"room not reached: {self._attempt.reason}")

    def _identify(self, now_s: float) -> None:
        if self._wait is not None and not self._wait.expired(now_s):
            return
        self._budget.take()
        expected = WRISTBAND_PREFIX + self.params.patient_ref
        try:
            payload = self._require(self.ctx.devices.tag_reader, "tag_reader").read_tag().payload
            self._scanner_fault = None
        except DeviceError as exc:
            payload = None
            self._scanner_fault = str(exc)  # a broken scanner is not an unreadable wristband: say which
        if payload == expected:
            if not self._in_progress_sent:
                self._commit("mpps:in_progress", {"mpps_status": "IN PROGRESS"})
            self._go("identified")
            return
        if payload is not None:
            self._alerts.append(self._alert("identification", ev.Severity.MEDIUM, "wrong_patient",
                                            f"Exam {self.params.accession_number}: wristband does not match the"
                                            " worklist patient - not imaged, staff to check"))
            self._to_report("wrong patient: wristband does not match the worklist")
            return
        if self._budget.exhausted:
            why = f"wristband scanner failed ({self._scanner_fault})" if self._scanner_fault else "wristband unreadable"
            self._to_report(f"{why}: patient not identified")
            return
        self._say(SHOW_WRISTBAND)
        self._wait = Deadline.after(now_s, self.params.reposition_wait_s)

    def _check_equipment(self, now_s: float) -> None:
        if self.proc.modality == "US":
            arm = self._in_room(UltrasoundProbeArm)
            if not arm.health().usable:
                self._to_report(f"ultrasound probe arm not usable: {arm.health().reason}")
                return
            self._go("us_ready")
            return
        generator: XRayGenerator = self._in_room(XRayGenerator)
        status = generator.status()
        if status.locked_out is not None:
            self._to_report(f"X-ray equipment locked out ({status.locked_out}): exposure refused")
            return
        if not generator.health().usable:
            if self._self_tested:
                self._to_report(f"X-ray equipment still faulty after its self-test: {generator.health().reason}")
            else:
                self._go("needs_self_test")
            return
        self._go("xray_ready")

    def _self_test(self, now_s: float) -> None:
        generator: XRayGenerator = self._in_room(XRayGenerator)
        if self._attempt is None:
            self._attempt = self._track(Attempts("self-test", generator.start_self_test,
                                                 timeout_s=self.params.self_test_timeout_s, max_attempts=1))
        status = self._attempt.poll(now_s)
        if status is OpStatus.RUNNING:
            return
        self._self_tested = True
        result = self._attempt.result
        if status is OpStatus.SUCCEEDED and result is not None and result.passed:
            self._go("self_test_passed")
            return
        reason = result.reason if result is not None else str(self._attempt.reason)
        self._alerts.append(maintenance_alert(self.mission_id, generator.name, reason, self._where()))
        self._to_report(f"equipment self-test failed ({reason}): exposure refused, maintenance called")

    def _position(self, now_s: float) -> None:
        if self._wait is not None and not self._wait.expired(now_s):
            return
        camera = _named(self.ctx.devices, Camera, self.params.positioning_camera)
        offset = measure_offset_mm(camera.read(), self.params.positioning_mm_per_px)
        if offset is not None and instruction_for(offset, self.params.positioning_tolerance_mm) is None:
            self.last_offset_mm = offset
            self._go("positioned")
            return
        if not self._budget.take():
            where = "not seen" if offset is None else f"{offset[0]:.0f}/{offset[1]:.0f} mm off"
            self._to_report(f"patient could not be positioned within {self.params.positioning_tolerance_mm:g} mm"
                            f" after {self._budget.used} checks ({where})")
            return
        instruction = instruction_for(offset, self.params.positioning_tolerance_mm) if offset is not None else None
        self._say(instruction or "Please lie in the middle of the table.")
        self._wait = Deadline.after(now_s, self.params.settle_s)

    def _interlocks(self, now_s: float) -> None:
        interlocks: RoomInterlocks = self._in_room(RoomInterlocks)
        if self._gate is None:
            self._gate = ExposureGate(interlocks)
        if self._wait is None:
            interlocks.set_warning_light(True)  # the visible "X-ray on" signal, before any exposure
            self._wait = Deadline.after(now_s, self.params.interlock_wait_s)
        decision = self._gate.check()
        if decision.allowed:
            self._go("interlocks_hold")
            return
        if self._wait.expired(now_s):
            interlocks.set_warning_light(False)
            self._to_report(f"interlocks open: {decision.reason}: exposure refused")
            return
        if not self._announced:
            self._say(CLEAR_ROOM)
            self._announced = True

    def _expose(self, now_s: float) -> None:
        assert self._gate is not None and self.proc.technique is not None
        if self._exposure is None:
            generator: XRayGenerator = self._in_room(XRayGenerator)
            number = len(self._started) + 1
            self._emit(ev.MISSION_STEP, step="expose.technique", data={
                "accession_number": self.params.accession_number, "exposure": number,
                **self.proc.technique.as_dict(), "dose_so_far_dap_mgy_cm2": round(self._dose(), 2),
                "dose_limit_dap_mgy_cm2": self.dose_limit, "progress_fraction": round(self._progress_fraction(), 4)})
            self._say(HOLD_STILL)
            self._exposure = generator.start_exposure(
                self.proc.technique, accession_number=self.params.accession_number, permit=self._gate.permit)
            self._op = self._exposure
            self._exposure_deadline = Deadline.after(now_s, self.params.exposure_timeout_s)
            self._started.add(number)
            self._commit(f"exposure_started:{number}", {"exposure": number})
        handle = self._exposure
        if handle.poll() is HandleStatus.RUNNING:
            if self._exposure_deadline is not None and self._exposure_deadline.expired(now_s):
                handle.release(f"exposure did not end within {self.params.exposure_timeout_s:g} s")
            status = self._gate.supervise(handle)  # gate first, every tick: ends it this same tick
        else:
            status = handle.poll()
        if status is HandleStatus.RUNNING:
            return
        self._op = None
        self._say(EXPOSURE_DONE)  # the audible signal at the end of an exposure
        self._go("exposure_ended")

    def _assess(self, now_s: float) -> None:
        handle, self._exposure = self._exposure, None
        assert handle is not None
        number = max(self._started)
        feedback = handle.feedback
        dap = feedback.dap_mgy_cm2 if feedback is not None else 0.0
        quality: QualityReport | None = None
        if handle.poll() is HandleStatus.SUCCEEDED and handle.result is not None:
            quality = assess(handle.result.image.image_gray)
            problem = None if quality.acceptable else "; ".join(quality.problems)
        else:
            problem = f"exposure interrupted: {handle.error}"
        data: dict[str, Any] = {"exposure": number, "dap_mgy_cm2": round(dap, 3),
                                "quality": quality.as_dict() if quality is not None else None}
        if problem is None:
            data.update(outcome="accepted", image_ref=self._store_image(handle))
            self._exposures[number] = data
            self._commit(f"exposure:{number}", data)
            self._go("to_report")
            return
        retakes = sum(1 for e in self._exposures.values() if e.get("retake"))
        decision = policy.retake_decision(
            retakes_done=retakes, max_retakes=self.params.max_retakes, dose_so_far_mgy_cm2=self._dose() + dap,
            expected_mgy_cm2=self.proc.expected_dap_mgy_cm2, dose_limit_mgy_cm2=self.dose_limit)
        data.update(outcome="interrupted" if quality is None else "rejected", reason=problem,
                    retake=decision.allowed, retake_refused=decision.reason or None)
        if quality is None:
            self._alerts.append(self._alert("radiation_safety", ev.Severity.MEDIUM, f"interrupted-{number}",
                                            f"Exam {self.params.accession_number}: {problem}"))
        self._exposures[number] = data
        self._commit(f"exposure:{number}", data)
        if decision.allowed:
            self._go("retake")
        else:
            self._to_report(f"no retake: {decision.reason} (exposure {number}: {problem})")

    def _scan_step(self, now_s: float) -> None:
        interlocks: RoomInterlocks = self._in_room(RoomInterlocks)
        if self._wait is None:
            self._wait = Deadline.after(now_s, self.params.interlock_wait_s)
        if self._attempt is None:
            if not interlocks.state().room_clear:
                if self._wait.expired(now_s):
                    self._to_report("room not clear: scan refused")
                return
            arm: UltrasoundProbeArm = self._in_room(UltrasoundProbeArm)
            request = ScanRequest(self.proc.region, self.proc.scan_duration_s, self.proc.max_contact_force_n)
            self._attempt = self._track(Attempts("ultrasound scan", lambda: arm.start_scan(request),
                                                 timeout_s=self.proc.scan_duration_s + 60.0, max_attempts=2,
                                                 retry_wait_s=5.0))
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._scan = self._attempt.result
            self._to_report()
        elif status is OpStatus.FAILED:
            self._to_report(f"scan failed: {self._attempt.reason}")

    def _report(self, now_s: float) -> None:
        self._release_patient()
        record, completed, reason = study_record(
            self.mission_id, self.params, self.proc, exposures=self._exposures, exposures_started=len(self._started),
            dose_mgy_cm2=self._dose(), dose_limit_mgy_cm2=self.dose_limit, scan=self._scan,
            discontinue=self._discontinue)
        self._commit("study", {"record": record, "alerts": self._alerts})
        self._go("finish")
        if completed:
            self._succeed()
        else:
            self.fail(f"exam discontinued: {reason}")

    # ---- outbox, restore, result ------------------------------------------------------------

    def _publish(self, step: str, data: dict[str, Any]) -> None:
        acc = {"accession_number": self.params.accession_number}
        if step == "mpps:in_progress":
            self._in_progress_sent = True
            self._emit(ev.MISSION_STEP, step="mpps", data={**acc, "mpps_status": "IN PROGRESS"})
        elif step.startswith("exposure:") and data.get("reason"):
            self._emit(ev.MISSION_STEP, step="retake" if data.get("retake") else "exposure_rejected",
                       reason=str(data["reason"]), data={**acc, **{k: v for k, v in data.items() if k != "quality"}})
        elif step == "study":
            record = data["record"]
            self._emit(ev.CLINICAL_RECORD, step="report", data=dict(record))
            self._emit(ev.MISSION_STEP, step="mpps", reason=record["observations"]["discontinued_reason"],
                       data={**acc, "mpps_status": record["observations"]["mpps_status"]})
            for alert in data.get("alerts", []):
                self._emit(ev.ALERT, step="report", reason=alert["summary"], data=dict(alert))

    def _restore(self, committed: Sequence[CommittedStep]) -> None:
        for item in committed:
            if item.step == "mpps:in_progress":
                self._in_progress_sent = True
            elif item.step.startswith("exposure_started:"):
                self._started.add(int(item.data["exposure"]))
            elif item.step.startswith("exposure:"):
                self._exposures[int(item.data["exposure"])] = item.data
        self._restored_unknown = bool(self._started - set(self._exposures))

    def _progress_fraction(self) -> float:
        order: list[enum.Enum] = list(Step)
        return 1.0 if self.step is Step.DONE else order.index(self.step) / (len(order) - 2)

    def _result_data(self) -> dict[str, Any]:
        done = self.step is Step.DONE and self._discontinue is None
        return {"accession_number": self.params.accession_number, "patient_ref": self.params.patient_ref,
                "mpps_status": "COMPLETED" if done else "DISCONTINUED", "exposures": len(self._started),
                "retakes": sum(1 for e in self._exposures.values() if e.get("retake")),
                "dap_mgy_cm2": round(self._dose(), 2)}

    # ---- helpers ----------------------------------------------------------------------------

    def _cancel_op(self) -> None:
        if self._exposure is not None and self._exposure.poll() is HandleStatus.RUNNING:
            self._exposure.release(f"exposure ended: mission {self.state.value}"
                                   + (f" ({self.pause_reason})" if self.pause_reason else ""))
        super()._cancel_op()
        if self.finished and not self._released:
            self._release_patient()

    def _release_patient(self) -> None:
        """Nothing keeps running on a patient who is leaving: light off, probe lifted, told so."""
        self._released = True
        for device in self.ctx.devices:
            with contextlib.suppress(DeviceError):
                if isinstance(device, RoomInterlocks) and device.room == self.proc.room:
                    device.set_warning_light(False)
                elif isinstance(device, UltrasoundProbeArm):
                    device.retract()
        self._say(FINISHED)

    def _dose(self) -> float:
        total = sum(float(e.get("dap_mgy_cm2", 0.0)) for e in self._exposures.values())
        if self._exposure is not None and self._exposure.feedback is not None:
            total += self._exposure.feedback.dap_mgy_cm2
        return total

    def _store_image(self, handle: ExposureHandle) -> str | None:
        assert handle.result is not None
        ok, png = cv2.imencode(".png", handle.result.image.image_gray)
        if not ok:
            return None
        item = self.ctx.media.put(png.tobytes(), content_type="image/png",
                                  label=f"radiograph {self.params.accession_number}", stamp_s=self.ctx.clock.now_s())
        return item.ref

    def _track(self, attempt: Attempts[Any]) -> Attempts[Any]:
        self._op = attempt
        return attempt

    def _where(self) -> dict[str, Any]:
        where: dict[str, Any] = {"place": self.proc.room, "x_m": 0.0, "y_m": 0.0}
        if self.ctx.devices.drive_base is not None:
            with contextlib.suppress(DeviceError):
                pose = self.ctx.devices.drive_base.odometry().pose
                where.update(x_m=round(pose.x_m, 3), y_m=round(pose.y_m, 3), level=pose.level)
        return where

    def _alert(self, category: str, severity: ev.Severity, suffix: str, summary: str) -> dict[str, Any]:
        return {"alert_id": f"{self.mission_id}.{suffix}", "severity": severity.value, "category": category,
                "summary": summary, "where": self._where(), "evidence_ref": None,
                "accession_number": self.params.accession_number}


def _named(devices: Iterable[Any], kind: type[Any], name: str) -> Any:
    """The device of this kind and name (DeviceSet.require wants a concrete class)."""
    for device in devices:
        if isinstance(device, kind) and device.name == name:
            return device
    raise DeviceError(kind.kind, f"no {kind.kind} device named {name!r} is configured on this robot")


MISSIONS = (ImagingExam,)
