"""Runtime pieces: deadlines, retries, attempts, the journal, the catalog, params, the tables."""

from __future__ import annotations

import enum
import json
import logging
from pathlib import Path

import pytest

from hal.clock import SimClock
from hal.device import DeviceFault
from hal.handle import HandleStatus, ResolvedHandle
from missions.base import LIFECYCLE_TABLE, STEP_EXITS, Lifecycle, Mission, MissionParamsError
from missions.catalog import MissionCatalog, UnknownMissionKind, default_catalog
from missions.diagram import main as diagram_main
from missions.diagram import mission_markdown
from missions.journal import Journal
from missions.nursing_round import NursingRound
from missions.return_to_dock import ReturnToDock
from missions.timing import Attempts, Deadline, OpStatus, RetryBudget

MISSIONS: list[type[Mission]] = list(default_catalog())


# ---- timing ---------------------------------------------------------------------------------


def test_deadline_on_the_given_clock() -> None:
    deadline = Deadline.after(100.0, 5.0)
    assert not deadline.expired(104.9)
    assert deadline.expired(105.0)
    assert deadline.remaining_s(103.0) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        Deadline.after(0.0, -1.0)


def test_retry_budget_is_bounded() -> None:
    budget = RetryBudget(2)
    assert budget.take() and budget.take()
    assert budget.exhausted and not budget.take()
    with pytest.raises(ValueError):
        RetryBudget(0)


def test_attempts_retry_after_failure_and_timeout_then_give_up() -> None:
    clock = SimClock()
    handles: list[ResolvedHandle[int, str]] = []

    def start() -> ResolvedHandle[int, str]:
        handle: ResolvedHandle[int, str] = ResolvedHandle(clock.now_s)
        if not handles:
            handle.fail_at(clock.now_s() + 1, "probe off")
        # the second attempt never finishes: its deadline must cancel it
        handles.append(handle)
        return handle

    attempts = Attempts("temperature", start, timeout_s=10.0, max_attempts=2, retry_wait_s=3.0)
    assert attempts.poll(clock.now_s()) is OpStatus.RUNNING
    clock.advance(1)
    assert attempts.poll(clock.now_s()) is OpStatus.RUNNING  # failed once, waiting to retry
    assert attempts.reason == "probe off"
    clock.advance(3)
    attempts.poll(clock.now_s())
    assert len(handles) == 2
    clock.advance(10)
    assert attempts.poll(clock.now_s()) is OpStatus.FAILED
    assert handles[1].poll() is HandleStatus.CANCELLED
    assert attempts.reason is not None and "timed out" in attempts.reason and "2 attempts" in attempts.reason


def test_attempts_count_a_device_error_at_start_as_a_failed_attempt() -> None:
    clock = SimClock()

    def start() -> ResolvedHandle[int, str]:
        raise DeviceFault("nibp", "cuff leak")

    attempts = Attempts("blood_pressure", start, timeout_s=5.0, max_attempts=1)
    assert attempts.poll(clock.now_s()) is OpStatus.FAILED
    assert attempts.reason is not None and "cuff leak" in attempts.reason


# ---- journal --------------------------------------------------------------------------------


def test_journal_replays_submitted_steps_published_finished(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    journal.submitted("m1", "nursing_round", {"beds": []}, 50, 1, 10.0)
    journal.step_committed("m1", "bed:B1", {"outcome": "measured"}, 11.0)
    journal.step_published("m1", "bed:B1", 11.0)
    journal.step_committed("m1", "bed:B2", {"outcome": "skipped"}, 12.0)
    journal.submitted("m2", "return_to_dock", {}, 100, 2, 13.0)
    journal.finished("m2", "succeeded", None, {}, 14.0)
    state = Journal(tmp_path / "j.jsonl").replay()
    assert list(state) == ["m1", "m2"]
    steps = state["m1"].committed_steps()
    assert [(s.step, s.published) for s in steps] == [("bed:B1", True), ("bed:B2", False)]
    assert not state["m1"].finished
    assert state["m2"].finished and state["m2"].outcome == "succeeded"
    assert journal.last_seq() == 2


def test_journal_tolerates_a_truncated_last_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.submitted("m1", "nursing_round", {}, 50, 1, 10.0)
    journal.step_committed("m1", "bed:B1", {"outcome": "measured"}, 11.0)
    line = json.dumps({"type": "step", "mission_id": "m1", "step": "bed:B2", "data": {}})
    with path.open("a") as f:
        f.write(line[: len(line) // 2])  # the kill came mid-write
    with caplog.at_level(logging.WARNING):
        reopened = Journal(path)
        state = reopened.replay()
    assert list(state["m1"].steps) == ["bed:B1"]
    assert any("truncated" in r.message for r in caplog.records)
    reopened.step_committed("m1", "bed:B3", {"outcome": "measured"}, 12.0)  # appends on a fresh line
    assert list(Journal(path).replay()["m1"].steps) == ["bed:B1", "bed:B3"]


def test_journal_skips_a_corrupt_line_and_never_crashes(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text('{"type":"submitted","mission_id":"m1","kind":"k","params":{},"priority":1,"seq":1,'
                    '"stamp_s":0}\nnot json\n{"type":"step","mission_id":"ghost","step":"s","data":{}}\n')
    assert list(Journal(path).replay()) == ["m1"]


# ---- catalog and params ---------------------------------------------------------------------


def test_catalog_raises_on_duplicates_and_lists_kinds_on_a_miss() -> None:
    catalog = default_catalog()
    assert {"nursing_round", "return_to_dock", "park"} <= set(catalog.kinds())
    assert catalog.kinds() == sorted(catalog.kinds())
    with pytest.raises(ValueError, match="already registered"):
        catalog.register(NursingRound)
    with pytest.raises(UnknownMissionKind, match=r"nursing_round, .*return_to_dock"):
        catalog.get("deliver_meds")
    assert default_catalog() is not catalog  # no global singleton
    assert MissionCatalog().kinds() == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "beds"),
        ({"beds": []}, "beds"),
        ({"beds": [{"bed_id": "B1", "place": "r1", "patient_ref": "John Smith", "on_oxygen": False}]},
         "beds.0.patient_ref"),
        ({"beds": [{"bed_id": "B1", "place": "r1", "patient_ref": "pt-00aa11"}]}, "beds.0.on_oxygen"),
        ({"beds": [{"bed_id": "B1", "place": "r1", "patient_ref": "pt-00aa11", "on_oxygen": False,
                    "spo2_scale": 3}]}, "beds.0.spo2_scale"),
        ({"beds": [{"bed_id": "B1", "place": "r1", "patient_ref": "pt-00aa11", "on_oxygen": "yes"}]},
         "beds.0.on_oxygen"),
        ({"beds": [{"bed_id": "B1", "place": "r1", "patient_ref": "pt-00aa11", "on_oxygen": False,
                    "name": "Jane"}]}, "beds.0.name"),
        ({"beds": [{"bed_id": "B1", "place": "r1", "patient_ref": "pt-00aa11", "on_oxygen": False}] * 2},
         "appears twice"),
    ],
)
def test_bad_nursing_round_params_name_the_kind_and_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(MissionParamsError) as info:
        default_catalog().parse_params("nursing_round", params)
    assert "nursing_round" in str(info.value)
    assert field in str(info.value)


def test_bad_dock_params_name_the_field() -> None:
    with pytest.raises(MissionParamsError, match=r"return_to_dock.*resume_soc_fraction"):
        default_catalog().parse_params("return_to_dock", {"resume_soc_fraction": 1.5})


# ---- the tables: every state has a way out ----------------------------------------------------


def _exits(table: tuple[tuple[str, object, object], ...]) -> dict[enum.Enum, set[str]]:
    out: dict[enum.Enum, set[str]] = {}
    for trigger, source, _dest in table:
        for state in source if isinstance(source, list) else [source]:
            assert isinstance(state, enum.Enum)
            out.setdefault(state, set()).add(trigger)
    return out


def test_lifecycle_has_an_exit_on_fault_cancel_and_estop_from_every_active_state() -> None:
    exits = _exits(LIFECYCLE_TABLE)
    for state in Lifecycle:
        if state.finished:
            assert state not in exits
            continue
        assert {"give_up", "abort"} <= exits[state], state  # fault, cancel
    assert "hold" in exits[Lifecycle.RUNNING]  # e-stop / pause
    assert "release" in exits[Lifecycle.PAUSED]


@pytest.mark.parametrize("mission_class", MISSIONS, ids=lambda c: c.kind)
def test_every_working_step_has_fault_cancel_and_estop_exits(mission_class: type[Mission]) -> None:
    exits = _exits(mission_class.STEP_TABLE)
    working = [s for s in mission_class.Step if s not in mission_class.FINAL_STEPS]
    assert working
    for step in working:
        assert set(STEP_EXITS) <= exits.get(step, set()), f"{mission_class.kind}.{step.name}"
    for final in mission_class.FINAL_STEPS:
        assert final not in exits
    # and every step can be reached or is the initial one
    reached = {dest for _t, _s, dest in mission_class.STEP_TABLE if dest != "="}
    assert set(working) - reached <= {mission_class.INITIAL_STEP}


def test_diagrams_are_drawn_from_the_tables(tmp_path: Path) -> None:
    text = mission_markdown(NursingRound)
    assert "stateDiagram-v2" in text
    assert "IDENTIFY --> SKIP_BED : fault" in text
    assert "RUNNING --> PAUSED : hold" in text
    assert diagram_main([str(tmp_path)]) == 0
    # one diagram per mission kind of the catalog, every one of them
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{k}.md" for k in default_catalog().kinds())
    assert ReturnToDock.kind in (tmp_path / "return_to_dock.md").read_text()
