"""Lab run: take the test orders, sort the tubes in the input rack by their labels, centrifuge
the serum tubes, run QC, analyse each sample, validate and report its results, discard the tubes.

1. ARRIVE at the lab bench (when a place is given) and CHECK_FRIDGE: the sample fridge holds the
   QC material and held specimens; outside 2-8 °C → high alert, the run is held (fails) untouched.
2. Per occupied input slot: PICK the tube, READ its label (unreadable → turn the tube and re-read,
   up to `label_reads`; never a guess), ROUTE it: matched to an order → the centrifuge rotor
   (serum) or its analyzer's rack (whole blood); no order, a duplicate, unreadable, no analyzer →
   the reject rack for manual handling, with the reason (alert). Each decision is journaled
   before the tube moves.
3. CENTRIFUGE the serum tubes (a balance tube opposite an odd one), LOAD them onto the analyzer.
4. QC: each analyzer runs its control materials first; a Westgard rejection holds the whole run:
   no patient result is released, the tubes go to the fridge for a re-run, a high alert names the
   rule, and the run fails with the QC reason.
5. ANALYZE one sample at a time (STAT first), so a critical value is validated and phoned through
   (critical alert) as soon as its sample is done, before the rest of the batch. Each sample's
   record is journaled before it is emitted (outbox): a restart never reports it twice, nor loses it.
6. DISCARD the analysed tubes (a tube whose results could not be released is kept in the fridge).

Tube moves are planned, journaled, then executed idempotently (`missions.lab.moves`), so a pause,
an e-stop or a restart mid-move finds every tube. Every step leaves on fault, cancel and e-stop.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from hal.analyzer import AnalyzerRun
from hal.centrifuge import Centrifuge
from hal.clock import iso_utc
from hal.device import DeviceError
from hal.sample_fridge import SampleFridge
from hal.tag_reader import TagReader
from hal.tube_handler import area_of
from missions import events as ev
from missions.journal import CommittedStep
from missions.lab import run_records
from missions.lab.lab_mission import LabMission, plan_entry, plan_from_entry
from missions.lab.moves import Move
from missions.lab.orders import ControlMaterial, LabRunParams, OrderBook
from missions.lab.planning import LabPlanning
from missions.lab.qc import qc_run_entry
from missions.lab.report import sample_outcome
from missions.timing import Attempts, Deadline, OpStatus, RetryBudget


class Step(enum.Enum):
    ARRIVE = "arrive"
    CHECK_FRIDGE = "check_fridge"
    CHOOSE_TUBE = "choose_tube"
    PICK = "pick"
    READ = "read"
    ROUTE = "route"
    CENTRIFUGE = "centrifuge"
    LOAD = "load"
    QC = "qc"
    ANALYZE = "analyze"
    DISCARD = "discard"
    HOLD = "hold"
    RETURN_HOME = "return_home"
    DONE = "done"
    ABANDONED = "abandoned"


WORKING = [s for s in Step if s not in (Step.DONE, Step.ABANDONED)]

# trigger            source                 destination
STEP_TABLE = (
    ("arrived",        Step.ARRIVE,           Step.CHECK_FRIDGE),
    ("fridge_ok",      Step.CHECK_FRIDGE,     Step.CHOOSE_TUBE),
    ("next_tube",      Step.CHOOSE_TUBE,      Step.PICK),
    ("resume_read",    Step.CHOOSE_TUBE,      Step.READ),      # the gripper holds an unread tube
    ("resume_route",   Step.CHOOSE_TUBE,      Step.ROUTE),     # decided before a restart, not moved
    ("all_sorted",     Step.CHOOSE_TUBE,      Step.CENTRIFUGE),
    ("picked",         Step.PICK,             Step.READ),
    ("decided",        Step.READ,             Step.ROUTE),
    ("routed",         Step.ROUTE,            Step.CHOOSE_TUBE),
    ("spun",           Step.CENTRIFUGE,       Step.LOAD),
    ("loaded",         Step.LOAD,             Step.QC),
    ("qc_passed",      Step.QC,               Step.ANALYZE),
    ("qc_failed",      Step.QC,               Step.HOLD),
    ("analyzed",       Step.ANALYZE,          Step.DISCARD),
    ("discarded",      Step.DISCARD,          Step.RETURN_HOME),
    ("home",           Step.RETURN_HOME,      Step.DONE),
    # fault: each step's defined fallback
    ("fault",          Step.READ,             Step.ROUTE),     # reader fault: the tube is rejected
    ("fault",          [s for s in WORKING if s is not Step.READ],
                                              Step.ABANDONED), # the run fails; tubes stay for staff
    ("abandon",        WORKING,               Step.ABANDONED),
    # after a pause the robot may have been sent to its dock (battery): back to the bench; the
    # steps already committed pass through at once, the interrupted one starts again cleanly
    ("restart",        WORKING,               Step.ARRIVE),
)  # fmt: skip


class LabRun(LabPlanning, LabMission):
    kind = "lab_run"
    Params = LabRunParams
    Step = Step
    STEP_TABLE = STEP_TABLE
    INITIAL_STEP = Step.ARRIVE
    FINAL_STEPS = frozenset({Step.DONE, Step.ABANDONED})
    resumable_after_restart = True
    NAV_FAILURE = "navigation to {place} failed"

    params: LabRunParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.book = OrderBook(self.params.orders)
        # committed state (rebuilt from the journal on restart)
        self._sorted: dict[str, dict[str, Any]] = {}  # input slot → decision
        self._plans: dict[str, list[Move]] = {}
        self._spun = False
        self._qc: dict[str, dict[str, Any]] = {}  # analyzer → decision
        self._results: dict[str, dict[str, Any]] = {}  # sample id → outcome
        self._fault: dict[str, Any] | None = None
        self._sort_closed = False
        # working state of the current step (lost on restart: nothing here is committed)
        self._slot: str | None = None
        self._decision: dict[str, Any] | None = None  # (and LabMission's _attempt / _mover)
        self._reads = RetryBudget(self.params.label_reads)
        self._next_read: Deadline | None = None
        self._fridge_alerted = False

    # ---- devices ------------------------------------------------------------------------------

    # ---- step handlers ------------------------------------------------------------------------

    def _handlers(self) -> dict[enum.Enum, Callable[[float], None]]:
        return {
            Step.ARRIVE: self._arrive,
            Step.CHECK_FRIDGE: self._check_fridge,
            Step.CHOOSE_TUBE: self._choose_tube,
            Step.PICK: self._pick,
            Step.READ: self._read,
            Step.ROUTE: self._route,
            Step.CENTRIFUGE: self._centrifuge,
            Step.LOAD: self._load,
            Step.QC: self._run_qc,
            Step.ANALYZE: self._analyze,
            Step.DISCARD: self._discard,
            Step.HOLD: self._hold,
            Step.RETURN_HOME: self._return_home,
        }

    def _advance(self, now_s: float) -> None:
        self._step_handler()(now_s)

    def _on_step_start(self, step: enum.Enum) -> None:
        self._attempt = None
        self._mover = None
        self._reads = RetryBudget(self.params.label_reads)
        self._next_read = None
        if step is Step.CHOOSE_TUBE:
            self._slot, self._decision = None, None

    def _on_fault(self, reason: str) -> None:
        if self.step is Step.READ and self._slot is not None:
            try:
                self._decision = self._reject(self._slot, None, f"label reader fault: {reason}")
            except DeviceError as exc:  # nowhere to reject it to: back into its slot for staff
                self._decision = self._deferred(self._slot, None, None, f"{reason}; {exc.reason}")
            return
        if self._fault is None and self.step is not Step.READ:
            alert = run_records.fault_alert(self.mission_id, self.step.name.lower(), reason, self._where())
            self._fault = {"reason": reason, "step": self.step.name.lower(), "alerts": [alert]}
            self._commit("fault", self._fault)

    def _arrive(self, now_s: float) -> None:
        if self.params.place is None or self._navigated(now_s, self.params.place, self.params):
            self._go("arrived")

    def _check_fridge(self, now_s: float) -> None:
        fridge = self.ctx.devices.require(SampleFridge)
        reading = fridge.read_temperature()
        low, high = self.params.fridge_low_c, self.params.fridge_high_c
        if low <= reading.temperature_c <= high:
            self._go("fridge_ok")
            return
        reason = (f"held: sample fridge out of range ({reading.temperature_c:.1f} °C, allowed "
                  f"{low:g}-{high:g} °C)")
        if not self._fridge_alerted:
            self._fridge_alerted = True
            alert = run_records.fridge_alert(self.mission_id, reading.temperature_c, low, high, self._where())
            self._commit("fridge", {"temperature_c": reading.temperature_c, "alerts": [alert]})
        self.fail(reason)

    def _choose_tube(self, now_s: float) -> None:
        handler = self._handler
        held = handler.holding()
        if held is not None and area_of(held) == self.params.input_area:
            self._slot = held
            self._go("resume_route" if held in self._sorted else "resume_read")
            return
        if self._sort_closed:  # tubes arriving after sorting wait for the next run
            self._go("all_sorted")
            return
        rack = handler.rack(self.params.input_area)
        for slot in rack.positions:
            decision = self._sorted.get(slot)
            if decision is not None and decision.get("placed") and slot in rack.occupied:
                # the decided tube left this slot; a new tube was put in it (a delivery while this
                # run was paused): keep the old decision under another key and read the new tube
                key = f"{slot}#{len(self._sorted)}"
                self._sorted[key] = self._sorted.pop(slot)
                self._commit(f"archive:{slot}", {"key": key})
                decision = None
            if decision is not None:
                if not decision.get("placed") and slot in rack.occupied and decision["destination"]:
                    self._slot = slot
                    self._go("resume_route")
                    return
                continue
            if slot in rack.occupied:
                self._slot = slot
                self._go("next_tube")
                return
        self._sort_closed = True
        self._commit("sorted", {})
        self._go("all_sorted")

    def _pick(self, now_s: float) -> None:
        slot = self._current_slot()
        handler = self._handler
        if handler.holding() == slot:
            self._go("picked")
            return
        if self._attempt is None:
            self._attempt = self._track(self._handler_op(f"pick at {slot}", lambda: handler.start_pick(slot)))
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._go("picked")
        elif status is OpStatus.FAILED:
            self._step_fault(f"tube handler: {self._attempt.reason}")

    def _read(self, now_s: float) -> None:
        slot = self._current_slot()
        if self._attempt is not None:  # turning the tube between reads
            status = self._attempt.poll(now_s)
            if status is OpStatus.RUNNING:
                return
            self._attempt = self._op = None
        if self._next_read is not None and not self._next_read.expired(now_s):
            return
        self._reads.take()
        reader = self.ctx.devices.require(TagReader, self.params.label_reader)
        payload = reader.read_tag().payload
        if payload is not None:
            self._decision = self._decide(slot, payload)
            self._go("decided")
            return
        if self._reads.exhausted:
            self._decision = self._reject(slot, None, f"label unreadable after {self._reads.used} reads")
            self._go("decided")
            return
        handler = self._handler
        self._attempt = self._track(self._handler_op("turn the tube", handler.start_rotate))
        self._next_read = None

    def _route(self, now_s: float) -> None:
        slot = self._current_slot()
        decision = self._sorted.get(slot) or self._decision
        if decision is None:  # pragma: no cover - READ always decides before ROUTE
            raise RuntimeError(f"no decision for {slot}")
        if slot not in self._sorted:
            self._sorted[slot] = decision  # journaled before the tube moves
            self._commit(f"sort:{slot}", decision)
        destination = decision["destination"] or slot  # deferred: back into its slot
        if self._run_moves(now_s, [Move(slot, destination)]):
            if decision["destination"]:
                decision["placed"] = True  # from now on a tube in this slot is another tube
                self._commit(f"placed:{slot}", {})
            self._go("routed")

    def _centrifuge(self, now_s: float) -> None:
        serum = self._accepted(centrifuge=True)
        if not serum or self._spun:
            self._go("spun")
            return
        if not self._run_moves(now_s, self._plan("balance_in", self._balance_in_plan)):
            return
        if self._attempt is None:
            centrifuge = self.ctx.devices.require(Centrifuge)
            self._attempt = self._track(
                Attempts("centrifuge spin",
                         lambda: centrifuge.start_spin(rcf_g=self.params.spin_rcf_g,
                                                       duration_s=self.params.spin_duration_s),
                         timeout_s=self.params.spin_timeout_s, max_attempts=2, retry_wait_s=10.0)
            )
        status = self._attempt.poll(now_s)
        if status is OpStatus.SUCCEEDED:
            self._spun = True
            self._commit("spin", {"tubes": [d["sample_id"] for d in serum]})
            self._go("spun")
        elif status is OpStatus.FAILED:
            self._step_fault(f"centrifuge: {self._attempt.reason}")

    def _load(self, now_s: float) -> None:
        if self._run_moves(now_s, self._plan("load", self._load_plan)):
            self._go("loaded")

    def _run_qc(self, now_s: float) -> None:
        for analyzer in sorted({d["analyzer"] for d in self._accepted()}):
            if analyzer in self._qc and self._qc[analyzer].get("returned", True):
                continue
            controls = [c for c in self.params.controls if c.analyzer == analyzer]
            if not controls:
                self._record_qc(analyzer, run_records.no_controls_entry(analyzer, self.params.require_qc),
                                returned=True)
                continue
            if analyzer not in self._qc:
                if not self._run_moves(now_s, self._plan(f"qc_in:{analyzer}", partial(self._qc_in_plan, analyzer))):
                    return
                if not self._run_controls(now_s, analyzer, controls):
                    return
            if not self._run_moves(now_s, self._plan(f"qc_out:{analyzer}", partial(self._qc_out_plan, analyzer))):
                return
            self._qc[analyzer]["returned"] = True
            self._mover = None
        failed = {a: q for a, q in self._qc.items() if not q["accepted"]}
        self._go("qc_failed" if failed else "qc_passed")

    def _run_controls(self, now_s: float, analyzer: str, controls: Sequence[ControlMaterial]) -> bool:
        if self._attempt is None:
            device = self._analyzers().get(analyzer)
            if device is None:
                raise DeviceError(analyzer, "no such analyzer on this robot")
            orders = [c.analyzer_order() for c in controls]
            self._attempt = self._track(self._analyzer_op(f"QC on {analyzer}", lambda: device.start_run(orders)))
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"analyzer {analyzer}: {self._attempt.reason}")
            return False
        if status is not OpStatus.SUCCEEDED:
            return False
        run = self._attempt.result
        assert isinstance(run, AnalyzerRun)
        self._attempt = self._op = None
        # qc_run_entry reads the run's not_done too, so a control the analyzer could not do holds
        # the run naming its reason
        targets = {c.material_id: c.control_targets() for c in controls}
        self._record_qc(analyzer, qc_run_entry(run, targets), returned=False)
        self._mover = None
        return True

    def _record_qc(self, analyzer: str, data: dict[str, Any], *, returned: bool) -> None:
        alerts = []
        if not data["accepted"]:
            held = [d["sample_id"] for d in self._accepted()]
            alerts.append(run_records.qc_alert(self.mission_id, analyzer, data["reason"], held, self._where()))
        entry = {"analyzer": analyzer, **data, "alerts": alerts}
        self._qc[analyzer] = {**entry, "returned": returned}
        self._commit(f"qc:{analyzer}", entry)

    def _analyze(self, now_s: float) -> None:
        pending = [d for d in self._accepted() if d["sample_id"] not in self._results]
        if not pending:
            self._go("analyzed")
            return
        order_ids = self.book.run_order([d["sample_id"] for d in pending])
        sample_id = order_ids[0]
        decision = next(d for d in pending if d["sample_id"] == sample_id)
        order = self.book.get(sample_id)
        analyzer = decision["analyzer"]
        if self._attempt is None:
            device = self._analyzers()[analyzer]
            self._attempt = self._track(
                self._analyzer_op(f"run of {sample_id}", lambda: device.start_run([order.analyzer_order()])))
        status = self._attempt.poll(now_s)
        if status is OpStatus.FAILED:
            self._step_fault(f"analyzer {analyzer}: {self._attempt.reason}")
            return
        if status is not OpStatus.SUCCEEDED:
            return
        run = self._attempt.result
        assert isinstance(run, AnalyzerRun)
        self._attempt = self._op = None
        missing = [test for sid, test in run.missing if sid == sample_id]
        record_id = f"{self.mission_id}.{sample_id}"
        outcome = sample_outcome(record_id, order, analyzer, run.results, missing, self._where(), iso_utc(now_s),
                                 not_done=run.not_done_reasons(sample_id))
        outcome["sample_id"] = sample_id
        self._results[sample_id] = outcome
        self._commit(f"result:{sample_id}", outcome)  # journaled, then emitted: at once, mid-batch

    def _discard(self, now_s: float) -> None:
        if self._run_moves(now_s, self._plan("discard", self._discard_plan)):
            self._go("discarded")

    def _return_home(self, now_s: float) -> None:
        """Charge between batches: the bench is not a dock."""
        home = self.ctx.home_dock
        if not self.params.return_to_dock or self.params.place is None or self._navigated(now_s, home, self.params):
            self._go("home")
            self._succeed()

    def _hold(self, now_s: float) -> None:
        if self._run_moves(now_s, self._plan("hold", self._hold_plan)):
            reasons = "; ".join(f"{a}: {q['reason']}" for a, q in sorted(self._qc.items()) if not q["accepted"])
            self.fail(f"held: QC failed ({reasons}); no patient result released")

    # ---- plans (journaled before they are executed) -------------------------------------------

    def _plan(self, name: str, make: Callable[[], list[Move]]) -> list[Move]:
        if name not in self._plans:
            moves = make()
            self._plans[name] = moves
            self._commit(f"plan:{name}", plan_entry(moves))
        return self._plans[name]

    def _run_moves(self, now_s: float, moves: Sequence[Move]) -> bool:
        """True once every move is done; a failed move takes the step's fault exit."""
        return self._moved(now_s, moves, timeout_s=self.params.move_timeout_s,
                           attempts=self.params.move_attempts, failure="tube move failed")

    # ---- outbox, restore, result -------------------------------------------------------------

    def _publish(self, step: str, data: dict[str, Any]) -> None:
        where = step.split(":", 1)[0]
        if step.startswith("result:"):
            self._emit(ev.CLINICAL_RECORD, step="analyze", data=dict(data["record"]))
        for alert in data.get("alerts", []):
            self._emit(ev.ALERT, step=where, reason=alert["summary"], data=dict(alert))

    def _restore(self, committed: Sequence[CommittedStep]) -> None:
        for item in committed:
            kind, _, key = item.step.partition(":")
            if kind == "sort":
                self._sorted[key] = item.data
            elif kind == "plan":
                self._plans[key] = plan_from_entry(item.data)
            elif kind == "spin":
                self._spun = True
            elif kind == "qc":
                self._qc[key] = {**item.data, "returned": False}  # putting the controls back is idempotent
            elif kind == "result":
                self._results[key] = item.data
            elif kind == "fault":
                self._fault = item.data
            elif kind == "placed":
                self._sorted[key]["placed"] = True
            elif kind == "archive":
                self._sorted[item.data["key"]] = self._sorted.pop(key)
            elif kind == "sorted":
                self._sort_closed = True

    def _progress_fraction(self) -> float:
        if self.state.value == "succeeded":
            return 1.0
        return min(0.99, (len(self._sorted) + len(self._results)) / (2.0 * max(1, len(self.book))))

    # ---- small helpers ----------------------------------------------------------------------

    def _current_slot(self) -> str:
        if self._slot is None:  # pragma: no cover - the table reaches tube steps via CHOOSE_TUBE
            raise RuntimeError(f"step {self.step.name} without a tube")
        return self._slot

    def _handler_op(self, what: str, start: Callable[[], Any]) -> Attempts[Any]:
        return Attempts(what, start, timeout_s=self.params.move_timeout_s, max_attempts=self.params.move_attempts,
                        retry_wait_s=2.0)

    def _analyzer_op(self, what: str, start: Callable[[], Any]) -> Attempts[Any]:
        return Attempts(what, start, timeout_s=self.params.analyzer_timeout_s,
                        max_attempts=self.params.analyzer_attempts, retry_wait_s=self.params.analyzer_retry_wait_s)


MISSIONS = (LabRun,)
