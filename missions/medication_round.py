"""Medication round: load at the pharmacy, hand each patient their own drawer, return the rest.

1. GO_PHARMACY → PHARMACIST (badge + PIN, role pharmacist) → LOAD: one drawer per patient, each
   unlocked for the pharmacist, filled, locked; the loading is committed (``load``) and logged.
   Patients beyond the robot's drawers are not loaded ("no free drawer").
2. Per patient: NAVIGATE → IDENTIFY (wristband) → VERIFY the five rights against the MAR (patient,
   drug, dose, route, time window) → AUTHORISE (a nurse's badge, or the patient's yes on the
   terminal, as `unlock_by` says) → HAND_OUT: the hand-out is committed to the journal *before*
   the drawer unlocks → CONFIRM receipt on the terminal → SECURE: lock, commit the outcome.
   Anything that fails before the unlock → NOT_GIVEN with the reason; the drawer stays locked.
3. GO_RETURN → RETURN_AUTH (pharmacist) → RETURN: every dose not given goes back, logged
   (``returned``); then home.

Never twice: a restart after ``handout:<bed>`` without ``outcome:<bed>`` ends that patient
"needs nurse check" (a medium alert) and never unlocks the drawer again; a committed outcome is
never repeated. A drawer fault at the unlock stops the hand-outs: the rest are not given, the
doses are returned, and the mission fails with the fault as its reason.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

from hal.badge_reader import BadgeScan
from hal.clock import iso_utc
from hal.device import DeviceError
from hal.drawer import Drawer
from hal.patient_terminal import HandOver, HandOverOutcome, PatientTerminal, Question, TerminalAnswer
from missions import events as ev
from missions.base import Mission
from missions.journal import CommittedStep
from missions.nursing import bedside
from missions.nursing import medication_records as med_records
from missions.nursing.ledger import GIVEN, NEEDS_NURSE_CHECK, NOT_GIVEN, HandOutLedger
from missions.nursing.mar import PatientDoses, describe_doses, five_rights_problems
from missions.nursing.medication_params import MedicationRoundParams
from missions.timing import Attempts, OpStatus


class Step(enum.Enum):
    GO_PHARMACY = "go_pharmacy"
    PHARMACIST = "pharmacist"
    LOAD = "load"
    CHOOSE = "choose"
    NAVIGATE = "navigate"
    IDENTIFY = "identify"
    VERIFY = "verify"
    AUTHORISE = "authorise"
    HAND_OUT = "hand_out"
    CONFIRM = "confirm"
    SECURE = "secure"
    NOT_GIVEN = "not_given"
    GO_RETURN = "go_return"
    RETURN_AUTH = "return_auth"
    RETURN = "return"
    RETURN_HOME = "return_home"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [s for s in Step if s not in (Step.DONE, Step.ABANDONED)]

# trigger            source                                            destination
STEP_TABLE = (
    ("arrived",        Step.GO_PHARMACY,                                   Step.PHARMACIST),
    ("already_loaded", Step.GO_PHARMACY,                                   Step.CHOOSE),     # after a restart
    ("authenticated",  Step.PHARMACIST,                                    Step.LOAD),
    ("loaded",         Step.LOAD,                                          Step.CHOOSE),
    ("next_patient",   Step.CHOOSE,                                        Step.NAVIGATE),
    ("all_done",       Step.CHOOSE,                                        Step.GO_RETURN),
    ("nothing_back",   Step.CHOOSE,                                        Step.RETURN_HOME),
    ("finish",         [Step.CHOOSE, Step.RETURN],                         Step.DONE),
    ("arrived",        Step.NAVIGATE,                                      Step.IDENTIFY),
    ("identified",     Step.IDENTIFY,                                      Step.VERIFY),
    ("verified",       Step.VERIFY,                                        Step.AUTHORISE),
    ("authorised",     Step.AUTHORISE,                                     Step.HAND_OUT),
    ("unlocked",       Step.HAND_OUT,                                      Step.CONFIRM),
    ("answered",       Step.CONFIRM,                                       Step.SECURE),
    ("recorded",       [Step.SECURE, Step.NOT_GIVEN],                      Step.CHOOSE),
    ("withhold",       [Step.VERIFY, Step.AUTHORISE],                      Step.NOT_GIVEN),
    ("arrived",        Step.GO_RETURN,                                     Step.RETURN_AUTH),
    ("authenticated",  Step.RETURN_AUTH,                                   Step.RETURN),
    ("returned",       Step.RETURN,                                        Step.RETURN_HOME),
    ("home",           Step.RETURN_HOME,                                   Step.DONE),
    # fault: each step's defined fallback
    ("fault",          [Step.NAVIGATE, Step.IDENTIFY, Step.VERIFY, Step.AUTHORISE, Step.HAND_OUT],
                                                                           Step.NOT_GIVEN),  # drawer stays locked
    ("fault",          Step.CONFIRM,                                       Step.SECURE),     # receipt unknown
    ("fault",          Step.SECURE,                                        Step.GO_RETURN),  # stop handing out
    ("fault",          [Step.GO_RETURN, Step.RETURN_AUTH, Step.RETURN],    Step.RETURN_HOME),  # doses on board
    ("fault",          [Step.GO_PHARMACY, Step.PHARMACIST, Step.LOAD, Step.CHOOSE, Step.NOT_GIVEN,
                        Step.RETURN_HOME],                                 Step.ABANDONED),  # mission fails
    ("abandon",        WORKING,                                            Step.ABANDONED),
    ("restart",        WORKING,                                            "="),
)  # fmt: skip


class MedicationRound(Mission):
    kind = "medication_round"
    Params = MedicationRoundParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.GO_PHARMACY
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})
    resumable_after_restart = True

    params: MedicationRoundParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ledger = HandOutLedger()
        self._patient: PatientDoses | None = None
        self._attempt: Attempts[Any] | None = None
        self._wristband: bedside.WristbandCheck | None = None
        self._unlocked: str | None = None  # drawer this run unlocked and has not locked again
        self._authorised_by: str | None = None
        self._withhold_reason: str | None = None
        self._halt_reason: str | None = None  # set by a drawer fault: stop handing out
        self._hand_over: HandOver | None = None
        self._end_reason: str | None = None
        self._badge_tries = 0

    # ---- step handlers ----------------------------------------------------------------------

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        return {
            Step.GO_PHARMACY: self._go_pharmacy, Step.PHARMACIST: self._pharmacist, Step.LOAD: self._load,
            Step.CHOOSE: self._choose, Step.NAVIGATE: self._navigate, Step.IDENTIFY: self._identify,
            Step.VERIFY: self._verify, Step.AUTHORISE: self._authorise, Step.HAND_OUT: self._hand_out,
            Step.CONFIRM: self._confirm, Step.SECURE: self._secure, Step.NOT_GIVEN: self._not_given,
            Step.GO_RETURN: self._go_return, Step.RETURN_AUTH: self._pharmacist, Step.RETURN: self._return,
            Step.RETURN_HOME: self._return_home,
        }

    def _advance(self, now_s: float) -> None:
        self._step_handler()(now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        self._attempt = None
        self._wristband = None
        self._badge_tries = 0
        if step is Step.ABANDONED:
            self._clean_up_on_abandon()

    def _on_fault(self, reason: str) -> None:
        if self.step in (Step.NAVIGATE, Step.IDENTIFY, Step.VERIFY, Step.AUTHORISE, Step.HAND_OUT):
            self._withhold_reason = self._withhold_reason or reason
        if self.step is Step.HAND_OUT:
            self._halt_reason = f"drawer fault: {reason}"
        elif self.step in (Step.GO_RETURN, Step.RETURN_AUTH, Step.RETURN):
            self._record_return(False, reason)

    def _go_pharmacy(self, now_s: float) -> None:
        if self.ledger.loaded:
            self._go("already_loaded")
            return
        if self._poll_nav(now_s, self.params.pharmacy_place, "pharmacy unreachable"):
            self._go("arrived")

    def _pharmacist(self, now_s: float) -> None:
        scan = self._poll_badge(now_s, "pharmacist", "load medication" if self.step is Step.PHARMACIST
                                else "take back medication not given")
        if scan is None:
            return
        if not scan.granted:
            self._step_fault(f"pharmacist not authenticated: {scan.reason}")
            return
        self.ledger.pharmacist_ref = scan.staff_ref
        self._go("authenticated")

    def _load(self, now_s: float) -> None:
        drawer = self._drawer()
        free = list(drawer.drawer_ids())
        drawers: dict[str, str] = {}
        not_loaded: dict[str, str] = {}
        for patient in self.params.patients:
            if not free:
                not_loaded[patient.bed_id] = "no free drawer"
                continue
            drawer_id = free.pop(0)
            drawer.unlock(drawer_id, authorised_by=str(self.ledger.pharmacist_ref))  # the pharmacist fills it
            self._unlocked = drawer_id
            drawer.lock(drawer_id)
            self._unlocked = None
            drawers[patient.bed_id] = drawer_id
        self._commit("load", {"pharmacist_ref": self.ledger.pharmacist_ref, "drawers": drawers,
                              "not_loaded": not_loaded, "loaded_at": iso_utc(now_s)})
        for patient in self.params.patients:
            if patient.bed_id in not_loaded:
                self._record_outcome(patient, NOT_GIVEN, not_loaded[patient.bed_id], now_s)
        self._go("loaded")

    def _choose(self, now_s: float) -> None:
        for bed_id in self.ledger.unresolved_hand_outs():  # stopped between unlock and receipt
            self._resolve_interrupted(bed_id, now_s)
        for patient in self.params.patients:
            if self.ledger.status(patient.bed_id) is not None:
                continue
            if self._halt_reason is not None:
                self._record_outcome(patient, NOT_GIVEN, f"round stopped: {self._halt_reason}", now_s)
                continue
            self._patient = patient
            self._withhold_reason = None
            self._authorised_by = None
            self._hand_over = None
            self._go("next_patient")
            return
        self._patient = None
        if self.ledger.to_return() and self.ledger.returned is None:
            self._go("all_done")
        elif self.params.return_to_dock:
            self._go("nothing_back")
        else:
            self._go("finish")
            self._end()

    def _navigate(self, now_s: float) -> None:
        patient = self._current()
        if self._poll_nav(now_s, patient.place, "navigation failed"):
            self._go("arrived")

    def _identify(self, now_s: float) -> None:
        patient = self._current()
        if self._wristband is None:
            self._wristband = bedside.WristbandCheck(self.ctx, patient.patient_ref, self.params)
        outcome = self._wristband.poll(now_s)
        if outcome is None:
            return
        ok, detail = outcome
        if ok:
            self._go("identified")
        else:
            self._withhold_reason = "wrong patient" if detail == "wristband mismatch" else detail
            self._step_fault(self._withhold_reason)

    def _verify(self, now_s: float) -> None:
        patient = self._current()
        problems = five_rights_problems(patient, patient.patient_ref, now_s)
        if not self.ledger.may_unlock(patient.bed_id):
            problems.append("drawer already handed out")
        if problems:
            self._withhold_reason = "; ".join(problems)
            self._go("withhold")
        else:
            self._go("verified")

    def _authorise(self, now_s: float) -> None:
        patient = self._current()
        if self.params.unlock_by == "nurse_badge":
            scan = self._poll_badge(now_s, "nurse", f"hand out medication, bed {patient.bed_id}")
            if scan is None:
                return
            if not scan.granted:
                self._withhold_reason = f"badge refused: {scan.reason}"
                self._go("withhold")
                return
            self._authorised_by = scan.staff_ref
        else:
            answer = self._poll_question(now_s, Question(
                "medication_accept",
                f"Your medicines are ready: {describe_doses(patient.doses)}. Shall I open your drawer?",
                ("yes", "no")))
            if answer is None:
                return
            if answer.choice != "yes":
                self._withhold_reason = "refused by patient" if answer.answered else "no answer from patient"
                self._go("withhold")
                return
            self._authorised_by = f"patient-terminal:{patient.patient_ref}"
        self._go("authorised")

    def _hand_out(self, now_s: float) -> None:
        patient = self._current()
        problems = five_rights_problems(patient, patient.patient_ref, now_s)  # time may have moved on
        if problems or not self.ledger.may_unlock(patient.bed_id):
            self._withhold_reason = "; ".join(problems) or "drawer already handed out"
            self._step_fault(self._withhold_reason)
            return
        drawer_id = self.ledger.drawers[patient.bed_id]
        drawer = self._drawer()
        drawer.state(drawer_id)  # a drawer that cannot report fails here, before anything is committed
        self._commit(f"handout:{patient.bed_id}", {
            "bed_id": patient.bed_id, "drawer_id": drawer_id, "authorised_by": self._authorised_by,
            "order_ids": [d.order_id for d in patient.doses], "unlocked_at": iso_utc(now_s)})
        drawer.unlock(drawer_id, authorised_by=str(self._authorised_by))  # DeviceError → fault exit
        self._unlocked = drawer_id
        self._go("unlocked")

    def _confirm(self, now_s: float) -> None:
        patient = self._current()
        if self._attempt is None:
            terminal = self.ctx.devices.require(PatientTerminal)
            item = f"{self.mission_id}.{patient.bed_id}"
            self._attempt = self._track(Attempts(
                "hand-over confirmation", lambda: terminal.start_hand_over(item, describe_doses(patient.doses)),
                timeout_s=self.params.confirm_timeout_s, max_attempts=1))
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"receipt not confirmed: {self._attempt.reason}")
        elif status is OpStatus.SUCCEEDED:
            assert isinstance(self._attempt.result, HandOver)
            self._hand_over = self._attempt.result
            self._go("answered")

    def _secure(self, now_s: float) -> None:
        patient = self._current()
        drawer_id = self.ledger.drawers[patient.bed_id]
        lock_problem = self._lock(drawer_id)
        hand_over = self._hand_over
        if hand_over is not None and hand_over.outcome is HandOverOutcome.RECEIVED:
            status, reason = GIVEN, None
        elif hand_over is not None and hand_over.outcome is HandOverOutcome.REFUSED:
            status, reason = NOT_GIVEN, "refused by patient"
        else:
            status, reason = NEEDS_NURSE_CHECK, self._withhold_reason or "receipt not confirmed"
        self._record_outcome(patient, status, reason, now_s,
                             confirmed_by=hand_over.confirmed_by if hand_over else None, lock_problem=lock_problem)
        if lock_problem is not None:
            self._halt_reason = f"drawer fault: {lock_problem}"
        self._go("recorded")

    def _not_given(self, now_s: float) -> None:
        patient = self._current()
        self._record_outcome(patient, NOT_GIVEN, self._withhold_reason or "not given", now_s)
        self._go("recorded")

    def _go_return(self, now_s: float) -> None:
        if self._poll_nav(now_s, self.params.pharmacy_place, "pharmacy unreachable for the return"):
            self._go("arrived")

    def _return(self, now_s: float) -> None:
        drawer = self._drawer()
        for drawer_id in sorted(set(self.ledger.to_return().values())):
            drawer.unlock(drawer_id, authorised_by=str(self.ledger.pharmacist_ref))  # the pharmacist empties it
            self._unlocked = drawer_id
            drawer.lock(drawer_id)
            self._unlocked = None
        self._record_return(True, None)
        self._go("returned")

    def _return_home(self, now_s: float) -> None:
        if not self.params.return_to_dock or self._poll_nav(now_s, self.ctx.home_dock, "return to dock failed"):
            self._go("home")
            self._end()

    # ---- outcomes, outbox, restore ------------------------------------------------------------

    def _record_outcome(
        self, patient: PatientDoses, status: str, reason: str | None, now_s: float, **extra: Any
    ) -> None:
        drawer_id = self.ledger.drawers.get(patient.bed_id)
        records = med_records.administration_records(
            self.mission_id, patient, status, reason, now_s, drawer_id=drawer_id,
            authorised_by=self._authorised_by, confirmed_by=extra.get("confirmed_by"))
        alerts = []
        if status == NEEDS_NURSE_CHECK or extra.get("lock_problem"):
            alerts.append(med_records.nurse_check_alert(
                self.mission_id, patient.bed_id, bedside.where(self.ctx, patient.place), reason, drawer_id,
                extra.get("lock_problem")))
        self._commit(f"outcome:{patient.bed_id}", {
            "bed_id": patient.bed_id, "status": status, "reason": reason, "drawer_id": drawer_id,
            "records": records, "alerts": alerts})

    def _resolve_interrupted(self, bed_id: str, now_s: float) -> None:
        """A hand-out committed before a restart, never confirmed: lock, never unlock again."""
        patient = next(p for p in self.params.patients if p.bed_id == bed_id)
        lock_problem = self._lock(self.ledger.drawers[bed_id])
        self._record_outcome(patient, NEEDS_NURSE_CHECK, "interrupted between unlock and confirmation", now_s,
                             lock_problem=lock_problem)

    def _record_return(self, returned: bool, problem: str | None) -> None:
        if self.ledger.returned is not None:
            return
        items = med_records.return_items(self.params.patients, self.ledger)
        alerts = [] if returned else [
            med_records.not_returned_alert(self.mission_id, bedside.where(self.ctx, ""), problem, len(items))]
        self._commit("returned", {"returned": returned, "problem": problem, "items": items,
                                  "pharmacist_ref": self.ledger.pharmacist_ref if returned else None,
                                  "alerts": alerts})

    def _commit(self, step: str, data: dict[str, Any]) -> None:
        self.ledger.apply(step, data)
        super()._commit(step, data)

    def _publish(self, step: str, data: dict[str, Any]) -> None:
        if step in ("load", "returned"):  # chain-of-custody log
            self._emit(ev.MISSION_STEP, step=f"custody.{step}", data={k: v for k, v in data.items() if k != "alerts"})
        for record in data.get("records", []):
            self._emit(ev.CLINICAL_RECORD, step="secure", data=dict(record))
        for item in data.get("alerts", []):
            self._emit(ev.ALERT, step=self.step.name.lower(), reason=item["summary"], data=dict(item))

    def _restore(self, committed: Sequence[CommittedStep]) -> None:
        for item in committed:
            self.ledger.apply(item.step, item.data)

    def _progress_fraction(self) -> float:
        return len(self.ledger.outcomes) / len(self.params.patients)

    def _result_data(self) -> dict[str, Any]:
        return med_records.round_result(self.ledger)

    # ---- ending -------------------------------------------------------------------------------

    def _end(self) -> None:
        if self._halt_reason is not None:
            self.fail(self._halt_reason)  # doses returned, but the round did not finish
        else:
            self._succeed()

    def cancel(self, reason: str) -> None:
        self._end_reason = reason
        super().cancel(reason)

    def fail(self, reason: str) -> None:
        self._end_reason = reason
        super().fail(reason)

    def _clean_up_on_abandon(self) -> None:
        """Cancelled or failed: lock what this run unlocked, settle an unconfirmed hand-out, and
        tell the nurse what is still on board."""
        now_s = self.ctx.clock.now_s()
        if self._unlocked is not None and self._patient is None:
            self._lock(self._unlocked)  # loading or return at the pharmacy
        for bed_id in self.ledger.unresolved_hand_outs():
            self._resolve_interrupted(bed_id, now_s)
        on_board = self.ledger.to_return() if not (self.ledger.returned or {}).get("returned") else {}
        if on_board and self.ledger.loaded:
            item = med_records.on_board_alert(self.mission_id, bedside.where(self.ctx, ""), self._end_reason, on_board)
            self._emit(ev.ALERT, step="abandoned", reason=item["summary"], data=item)

    # ---- small helpers ------------------------------------------------------------------------

    def _current(self) -> PatientDoses:
        if self._patient is None:  # pragma: no cover - the table reaches bed steps only via CHOOSE
            raise RuntimeError(f"step {self.step.name} without a patient")
        return self._patient

    def _drawer(self) -> Drawer:
        return self._require(self.ctx.devices.drawer, "drawer")

    def _lock(self, drawer_id: str) -> str | None:
        try:
            self._drawer().lock(drawer_id)
        except DeviceError as exc:
            return exc.reason
        if self._unlocked == drawer_id:
            self._unlocked = None
        return None

    def _track(self, attempt: Attempts[Any]) -> Attempts[Any]:
        self._op = attempt
        return attempt

    def _poll_nav(self, now_s: float, place: str, what: str) -> bool:
        if self._attempt is None:
            self._attempt = self._track(bedside.go_to(self.ctx, place, self.params))
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"{what}: {self._attempt.reason}")
        return status is OpStatus.SUCCEEDED

    def _poll_badge(self, now_s: float, role: str, purpose: str) -> BadgeScan | None:
        if self._attempt is None:
            self._attempt = self._track(bedside.authenticate(
                self.ctx, role, purpose, timeout_s=self.params.badge_timeout_s))
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"{role} badge: {self._attempt.reason}")
            return None
        if status is not OpStatus.SUCCEEDED:
            return None
        scan = self._attempt.result
        assert isinstance(scan, BadgeScan)
        if scan.granted and scan.role != role:
            scan = BadgeScan(False, None, scan.role, f"role {scan.role} may not {purpose}", scan.stamp_s)
        if not scan.granted:
            self._badge_tries += 1
            if self._badge_tries < self.params.badge_attempts:
                self._attempt = None  # a mistyped PIN happens: ask once more
                return None
        return scan

    def _poll_question(self, now_s: float, question: Question) -> TerminalAnswer | None:
        if self._attempt is None:
            self._attempt = self._track(bedside.ask(self.ctx, question, self.params))
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"terminal: {self._attempt.reason}")
            return None
        if status is not OpStatus.SUCCEEDED:
            return None
        assert isinstance(self._attempt.result, TerminalAnswer)
        return self._attempt.result


MISSIONS = (MedicationRound,)
