"""The runner: priorities, FIFO, e-stop hold on the same call, resume, battery pre-emption,
cancel, operator pause, and recovery from the journal after a kill."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import pytest
from fakes import (
    DOCK,
    Patient,
    Rig,
    beds_for,
    estopped,
    make_rig,
    protective,
    safe,
    ward_of,
)
from pydantic import BaseModel, ConfigDict

from hal.handle import HandleStatus
from missions import events as ev
from missions.base import Lifecycle, Mission, MissionRequest
from missions.catalog import default_catalog
from missions.context import MissionContext
from missions.journal import Journal
from missions.runner import MissionRunner
from missions.timing import Deadline


class WaitStep(enum.Enum):
    WAIT = "wait"
    DONE = "done"
    ABANDONED = "abandoned"


WAIT_TABLE = (
    ("waited", WaitStep.WAIT, WaitStep.DONE),
    ("fault", WaitStep.WAIT, WaitStep.ABANDONED),
    ("abandon", WaitStep.WAIT, WaitStep.ABANDONED),
    ("restart", WaitStep.WAIT, "="),
)


class WaitParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = 5.0


class WaitMission(Mission):
    """A test-only mission: wait a while on the clock."""

    kind = "wait"
    Params = WaitParams
    Step = WaitStep
    STEP_TABLE = WAIT_TABLE
    INITIAL_STEP = WaitStep.WAIT
    FINAL_STEPS = frozenset({WaitStep.DONE, WaitStep.ABANDONED})
    params: WaitParams

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: Deadline | None = None

    def _on_step_start(self, step: enum.Enum) -> None:
        self._deadline = None

    def _advance(self, now_s: float) -> None:
        if self._deadline is None:
            self._deadline = Deadline.after(now_s, self.params.seconds)
        if self._deadline.expired(now_s):
            self._go("waited")
            self._succeed()


def wait_runner(rig: Rig) -> MissionRunner:
    catalog = default_catalog()
    catalog.register(WaitMission)
    ctx = MissionContext("rb-01", rig.clock, rig.devices, rig.events.append, DOCK)
    rig.runner = MissionRunner(ctx, Journal(rig.journal_path), catalog)
    return rig.runner


def started_order(rig: Rig) -> list[str]:
    return [e.mission_id for e in rig.kinds(ev.MISSION_STARTED)]


def test_higher_priority_first_fifo_within_a_priority(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, {})
    runner = wait_runner(rig)
    a = runner.submit(MissionRequest("wait", {"seconds": 2}, priority=10))
    b = runner.submit(MissionRequest("wait", {"seconds": 2}, priority=50))
    c = runner.submit(MissionRequest("wait", {"seconds": 2}, priority=10))
    d = runner.submit(MissionRequest("wait", {"seconds": 2}, priority=50))
    assert [q.mission_id for q in runner.queue_snapshot()] == [b, d, a, c]
    assert len(rig.kinds(ev.MISSION_QUEUED)) == 4
    rig.run_until(rig.idle)
    assert started_order(rig) == [b, d, a, c]
    assert [r.outcome for r in runner.history] == ["succeeded"] * 4


def test_submit_rejects_bad_params_and_duplicate_ids_without_queueing(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, {})
    runner = wait_runner(rig)
    with pytest.raises(ValueError, match="wait params invalid: seconds"):
        runner.submit(MissionRequest("wait", {"seconds": "soon"}))
    runner.submit(MissionRequest("wait", {}, mission_id="m-1"))
    with pytest.raises(ValueError, match="already used"):
        runner.submit(MissionRequest("wait", {}, mission_id="m-1"))
    with pytest.raises(KeyError, match="known kinds"):
        runner.submit(MissionRequest("fly", {}))
    assert len(runner.queue_snapshot()) == 1


def start_round(rig: Rig, n_ticks: int = 1) -> str:
    patients = rig.ward.patients
    mission_id = rig.runner.submit(MissionRequest("nursing_round", {"beds": beds_for(patients)}))
    for _ in range(n_ticks):
        rig.tick()
    return mission_id


def test_estop_holds_on_the_same_call_and_cancels_navigation(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(2))
    start_round(rig)
    mission = rig.runner.current
    assert mission is not None and mission.step.name == "NAVIGATE"
    nav_handle = rig.nav.handles[-1]
    assert nav_handle.poll() is HandleStatus.RUNNING
    rig.runner.step(rig.clock.now_s(), estopped(rig.clock.now_s()))
    assert mission.state is Lifecycle.PAUSED
    assert nav_handle.poll() is HandleStatus.CANCELLED
    paused = rig.kinds(ev.MISSION_PAUSED)[-1]
    assert paused.reason is not None and "e-stop" in paused.reason
    # held for as long as the latch holds: no new navigation, nothing measured
    for _ in range(100):
        rig.tick(estopped(rig.clock.now_s()))
    assert len(rig.nav.handles) == 1 and not rig.ward.starts
    # the supervisor's reset clears the latch: the step restarts cleanly and the round completes
    rig.tick()
    assert mission.state is Lifecycle.RUNNING
    assert rig.kinds(ev.MISSION_RESUMED)
    assert len(rig.nav.handles) == 2
    rig.run_until(rig.idle)
    assert rig.runner.history[-1].outcome == "succeeded"
    assert rig.ward.starts_at("room-1", "thermometer") == 1


def test_estop_mid_measurement_restarts_only_that_measurement(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(1))
    start_round(rig)
    rig.run_until(lambda: rig.ward.starts_at("room-1", "respiration_monitor") == 1)
    oximeter_handle = rig.devices.respiration_monitor.script.handles[-1]  # type: ignore[union-attr]
    rig.tick(estopped(rig.clock.now_s()))
    assert oximeter_handle.poll() is HandleStatus.CANCELLED
    rig.tick(estopped(rig.clock.now_s()))
    rig.run_until(rig.idle)
    assert rig.ward.starts_at("room-1", "thermometer") == 1
    assert rig.ward.starts_at("room-1", "pulse_oximeter") == 1
    assert rig.ward.starts_at("room-1", "respiration_monitor") == 2
    assert len(rig.kinds(ev.CLINICAL_RECORD)) == 1


def test_protective_stop_holds_and_clears_by_itself(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(1))
    start_round(rig)
    mission = rig.runner.current
    assert mission is not None
    rig.tick(protective(rig.clock.now_s()))
    assert mission.state is Lifecycle.PAUSED
    assert "protective_stop" in (rig.kinds(ev.MISSION_PAUSED)[-1].reason or "")
    rig.tick()
    assert mission.state is Lifecycle.RUNNING


def test_operator_pause_and_resume(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(1))
    start_round(rig)
    mission = rig.runner.current
    assert mission is not None
    rig.runner.pause()
    assert rig.runner.paused and mission.state is Lifecycle.PAUSED
    assert rig.nav.handles[-1].poll() is HandleStatus.CANCELLED
    for _ in range(50):
        rig.tick()
    assert mission.state is Lifecycle.PAUSED  # safety clearing does not undo an operator pause
    rig.runner.resume()
    assert mission.state is Lifecycle.RUNNING
    rig.run_until(rig.idle)
    assert rig.runner.history[-1].outcome == "succeeded"


def test_cancel_running_mission_stops_motion_and_ends_cancelled(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(2))
    mission_id = start_round(rig)
    handle = rig.nav.handles[-1]
    assert rig.runner.cancel() is True
    assert handle.poll() is HandleStatus.CANCELLED
    assert rig.runner.current is None
    result = rig.runner.history[-1]
    assert (result.mission_id, result.outcome, result.reason) == (mission_id, "cancelled", "cancelled by operator")
    cancelled = rig.kinds(ev.MISSION_CANCELLED)[-1]
    assert cancelled.reason == "cancelled by operator"
    assert Journal(rig.journal_path).replay()[mission_id].outcome == "cancelled"


def test_cancel_a_queued_mission(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, {})
    runner = wait_runner(rig)
    runner.submit(MissionRequest("wait", {"seconds": 100}))
    queued = runner.submit(MissionRequest("wait", {}))
    rig.tick()
    runner.cancel(queued)
    assert runner.queue_snapshot() == []
    assert runner.history[-1].outcome == "cancelled"
    with pytest.raises(LookupError):
        runner.cancel("nope")


def test_battery_reserve_preempts_then_the_round_completes_without_repeating_a_bed(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(3), soc=0.3)
    round_id = start_round(rig)
    rig.run_until(lambda: len(rig.kinds(ev.CLINICAL_RECORD)) == 1)
    rig.tick(safe(rig.clock.now_s(), reserve=True))
    requeued = rig.kinds(ev.MISSION_REQUEUED)
    assert [e.mission_id for e in requeued] == [round_id]
    current = rig.runner.current
    assert current is not None and current.kind == "return_to_dock"
    assert [q.mission_id for q in rig.runner.queue_snapshot()] == [round_id]
    assert rig.runner.queue_snapshot()[0].state == "paused"
    # the dock mission charges to the resume threshold, then the round resumes with bed 2
    rig.run_until(lambda: rig.runner.current is not None and rig.runner.current.mission_id == round_id,
                  safety=safe(0, reserve=True))
    assert rig.battery.soc >= 0.8
    dock_result = rig.runner.history[-1]
    assert dock_result.mission_kind == "return_to_dock" and dock_result.outcome == "succeeded"
    rig.run_until(rig.idle)
    assert rig.runner.history[-1].mission_id == round_id and rig.runner.history[-1].outcome == "succeeded"
    for place in ("room-1", "room-2", "room-3"):
        assert rig.ward.starts_at(place, "thermometer") == 1, place
    records = rig.kinds(ev.CLINICAL_RECORD)
    assert sorted(e.data["bed_ref"] for e in records) == ["B1", "B2", "B3"]


def test_a_dock_that_never_charges_fails_with_reason_and_alerts(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, {}, soc=0.3)
    rig.battery.dock_works = False
    dock_id = rig.runner.submit(MissionRequest("return_to_dock", {"charge_start_timeout_s": 60}))
    rig.run_until(rig.idle)
    result = rig.runner.history[-1]
    assert (result.mission_id, result.outcome, result.reason) == (dock_id, "failed", "dock not charging")
    assert rig.kinds(ev.MISSION_FAILED)[-1].reason == "dock not charging"


def test_auto_dock_failure_raises_an_alert_and_holds_other_work(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(1), soc=0.3)
    rig.battery.dock_works = False
    start_round(rig, n_ticks=0)
    rig.run_until(lambda: bool(rig.runner.history), safety=safe(0, reserve=True))
    assert rig.runner.history[-1].reason == "dock not charging"
    alert = rig.kinds(ev.ALERT)[-1]
    assert alert.data["category"] == "battery" and alert.data["severity"] == "high"
    for _ in range(10):
        rig.tick(safe(0, reserve=True))
    assert rig.runner.current is None  # the round waits rather than draining the reserve


# ---- restart ----------------------------------------------------------------------------------


def test_kill_mid_round_recover_resumes_without_repeating_or_skipping(tmp_path: Path) -> None:
    patients = ward_of(4)
    patients["room-3"].pulse = 135  # a single 3 → medium alert
    rig = make_rig(tmp_path, patients)
    round_id = start_round(rig)
    rig.run_until(lambda: len(rig.kinds(ev.CLINICAL_RECORD)) == 2)
    rig.tick()  # now on its way to bed 3
    assert rig.runner.current is not None and rig.runner.current.step.name == "NAVIGATE"
    # kill: the runner, missions and journal objects are dropped without any clean-up
    runner = rig.new_runner()
    assert runner.recover() == [round_id]
    assert rig.kinds(ev.MISSION_REQUEUED)[-1].data["steps_restored"] == 2
    rig.run_until(rig.idle)
    result = runner.history[-1]
    assert result.outcome == "succeeded"
    assert result.data["beds_measured"] == ["B1", "B2", "B3", "B4"]
    assert result.data["beds_skipped"] == []
    for place in patients:
        assert rig.ward.starts_at(place, "thermometer") == 1, place
        assert rig.ward.starts_at(place, "blood_pressure") == 1, place
    records = rig.kinds(ev.CLINICAL_RECORD)
    assert len(records) == 4  # every committed record was published before the kill: no duplicate
    assert len({e.data["record_id"] for e in records}) == 4
    assert [a.data["severity"] for a in rig.kinds(ev.ALERT)] == ["medium"]


class Killed(BaseException):
    """Stands for the process dying (not an Exception, so nothing in the robot catches it)."""


def test_kill_between_commit_and_emit_re_emits_the_same_record_id(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(2))
    events = rig.events
    killed = False

    def dying_emit(event: ev.MissionEvent) -> None:
        nonlocal killed
        if event.kind == ev.CLINICAL_RECORD and not killed:
            killed = True
            raise Killed
        events.append(event)

    ctx = MissionContext("rb-01", rig.clock, rig.devices, dying_emit, DOCK)
    rig.runner = MissionRunner(ctx, Journal(rig.journal_path), default_catalog())
    start_round(rig, n_ticks=0)
    with pytest.raises(Killed):
        rig.run_until(rig.idle)
    assert not rig.kinds(ev.CLINICAL_RECORD)
    runner = rig.new_runner()
    runner.recover()
    first = rig.kinds(ev.CLINICAL_RECORD)
    assert [e.data["bed_ref"] for e in first] == ["B1"]  # re-emitted from the journal at once
    rig.run_until(rig.idle)
    records = rig.kinds(ev.CLINICAL_RECORD)
    assert [e.data["bed_ref"] for e in records] == ["B1", "B2"]
    assert rig.ward.starts_at("room-1", "thermometer") == 1  # never measured again


def test_recover_tolerates_a_truncated_last_line(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, ward_of(2))
    start_round(rig)
    rig.run_until(lambda: len(rig.kinds(ev.CLINICAL_RECORD)) == 1)
    with rig.journal_path.open("a") as f:
        f.write('{"type":"step","mission_id":"rb-01-m00001","step":"bed:B2","da')
    runner = rig.new_runner()
    runner.recover()
    rig.run_until(rig.idle)
    assert runner.history[-1].outcome == "succeeded"
    assert runner.history[-1].data["beds_measured"] == ["B1", "B2"]


def test_dock_mission_is_not_resumed_after_restart(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, {}, soc=0.3)
    dock_id = rig.runner.submit(MissionRequest("return_to_dock", {}))
    rig.tick()
    runner = rig.new_runner()
    assert runner.recover() == []
    assert runner.history[-1].mission_id == dock_id
    assert runner.history[-1].reason == "interrupted by restart"
    assert rig.kinds(ev.MISSION_FAILED)[-1].reason == "interrupted by restart"
    assert Journal(rig.journal_path).replay()[dock_id].finished


def test_ids_continue_after_restart(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, {"room-1": Patient("pt-0000aa")})
    first = rig.runner.submit(MissionRequest("return_to_dock", {}))
    runner = rig.new_runner()
    second = runner.submit(MissionRequest("return_to_dock", {}))
    assert first != second


def test_a_failed_mission_without_its_own_alert_gets_one_with_the_reason(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, {})
    rig.runner.submit(MissionRequest("return_to_dock", {"dock": "nowhere-dock", "nav_attempts": 1}))
    rig.run_until(lambda: bool(rig.runner.history), max_ticks=2000)
    failed = [e for e in rig.events if e.kind == ev.MISSION_FAILED]
    alerts = [e for e in rig.events if e.kind == ev.ALERT and e.data["category"] == "mission.failed"]
    assert failed and len(alerts) == 1
    assert failed[0].reason and failed[0].reason in alerts[0].data["summary"]
    assert alerts[0].mission_id == failed[0].mission_id
