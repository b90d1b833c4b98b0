"""The pieces without a simulator: KPIs from a summary, confidence intervals and the recommendation,
and the driver's retry with a scripted executor (a fake: the real pool and Ray are in
test_sweep_ray.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sweep.driver import run_sweep
from sweep.kpis import KpiPathError, at_path, collect
from sweep.plan import plan
from sweep.report import recommendation_text
from sweep.results import ResultStore, read_rows
from sweep.spec import SweepSpec, load_sweep
from sweep.stats import kpi_stat, point_stats, recommend
from sweep.task import RunOutcome, RunTask


def _summary(cases: list[dict[str, Any]], med: dict[str, Any] | None = None) -> dict[str, Any]:
    by_kind = {"medication_round": med} if med else {}
    return {"hours": 3.0, "deteriorating_patients": {"cases": cases}, "patients": {"observation_sets": 7},
            "fleet": {"by_kind": by_kind, "robot_busy_s": {"nurse-a": 12.5}, "unassignable_reports": 2}}


def test_a_patient_never_alerted_counts_until_the_end_of_the_run() -> None:
    cases = [{"urgent_from_min": 10.0, "alert_delay_min": 5.0}, {"urgent_from_min": 60.0, "alert_delay_min": None},
             {"urgent_from_min": None, "alert_delay_min": None}]  # never urgent: not a case
    values, missing = collect(_summary(cases), {"deterioration_to_alert_max_min": None,
                                                "deterioration_to_alert_mean_min": None, "urgent_not_alerted": None})
    assert values == {"deterioration_to_alert_max_min": 120.0, "deterioration_to_alert_mean_min": 62.5,
                      "urgent_not_alerted": 1.0}
    assert missing == []
    nobody, _ = collect(_summary(cases[2:]), {"deterioration_to_alert_max_min": None})
    assert nobody == {"deterioration_to_alert_max_min": None}  # nothing to measure is no data, not 0


def test_drug_rounds_on_time_count_the_failed_ones_as_late() -> None:
    med = {"requested": 6, "done": 4, "on_time_share": 0.75}
    values, _ = collect(_summary([], med), {"drug_rounds_on_time": None})
    assert values["drug_rounds_on_time"] == 0.5  # 3 on time of 6 due


def test_a_path_kpi_missing_from_a_run_is_no_data_but_a_non_number_is_an_error() -> None:
    summary = _summary([])
    values, missing = collect(summary, {"busy": "fleet.robot_busy_s.nurse-a", "lab": "fleet.by_kind.lab_run.done"})
    assert values == {"busy": 12.5, "lab": None}
    assert "no 'lab_run' under fleet.by_kind" in missing[0]
    with pytest.raises(KpiPathError, match="not a number"):
        at_path(summary, "fleet.by_kind")


def test_the_confidence_interval_is_students_t_over_the_seeds() -> None:
    from sweep.spec import KpiTarget

    stat = kpi_stat([10.0, 12.0, 14.0], KpiTarget(max=13.0), "mean")
    assert stat.mean == 12.0 and stat.half_width == pytest.approx(4.303 * 2.0 / 3 ** 0.5, rel=1e-3)
    assert stat.met is True and stat.worst == 14.0
    assert kpi_stat([10.0, 12.0, 14.0], KpiTarget(max=13.0), "worst").met is False


def _spec(write_sweep: Callable[..., Path], **over: Any) -> SweepSpec:
    return load_sweep(write_sweep(**over))


def _rows(nursing_kpi: dict[int, list[float]]) -> list[dict[str, Any]]:
    return [{"run_id": f"{n}-{i}", "sweep": "tiny", "robots.nursing": n, "seed": i + 1, "fleet_size": 5 + n,
             "status": "ok", "observation_sets": v, "drug_rounds_on_time": None, "busy_nurse_a_s": 1.0}
            for n, values in nursing_kpi.items() for i, v in enumerate(values)]


def test_the_recommendation_is_the_smallest_fleet_meeting_every_target(write_sweep: Callable[..., Path]) -> None:
    spec = _spec(write_sweep, axes={"robots.nursing": [1, 2, 3]}, kpis={"observation_sets": {"min": 10}})
    stats = point_stats(spec, _rows({1: [4, 6], 2: [11, 12], 3: [20, 22]}))
    lines = recommendation_text(spec, recommend(spec, stats))
    assert len(lines) == 1
    assert lines[0].startswith("The smallest fleet meeting every target is robots.nursing=2 (7 robots in all).")
    # two seeds 11 and 12: the mean meets >= 10, its confidence interval does not yet
    assert "crosses the target of observation_sets: more seeds would settle it" in lines[0]
    settled = point_stats(spec, _rows({1: [4, 6], 2: [20, 20.5, 21], 3: [20, 22]}))
    assert recommendation_text(spec, recommend(spec, settled)) == [
        "The smallest fleet meeting every target is robots.nursing=2 (7 robots in all)."]


def test_a_sweep_where_no_fleet_meets_the_targets_says_so(write_sweep: Callable[..., Path]) -> None:
    spec = _spec(write_sweep, axes={"robots.nursing": [1, 2]}, kpis={"observation_sets": {"min": 50}})
    lines = recommendation_text(spec, recommend(spec, point_stats(spec, _rows({1: [4, 6], 2: [11, 12]}))))
    assert len(lines) == 1 and lines[0].startswith("NO fleet in this sweep meets every target")
    assert "observation_sets 11.5 (target >= 50)" in lines[0]


class ScriptedExecutor:
    """Outcomes by (run id, attempt): a fake executor for the driver's bookkeeping."""

    name = "scripted"
    workers = 1

    def __init__(self, fail: dict[str, int]) -> None:
        self.fail = fail  # run id -> how many first attempts fail
        self.queue: list[RunTask] = []
        self.tries: dict[str, int] = {}

    def submit(self, task: RunTask) -> None:
        self.queue.append(task)

    def pending(self) -> int:
        return len(self.queue)

    def finished(self) -> Iterator[tuple[RunTask, RunOutcome]]:
        task = self.queue.pop(0)
        n = self.tries[task.run_id] = self.tries.get(task.run_id, 0) + 1
        if n <= self.fail.get(task.run_id, 0):
            yield task, RunOutcome(task.run_id, "failed", {}, f"Traceback (most recent call last):\nBoom {n}", (),
                                   0.1, "w")
        else:
            yield task, RunOutcome(task.run_id, "ok", {"observation_sets": 3.0}, None, (), 0.1, "w")

    def close(self) -> None:
        pass


def test_a_failed_run_is_reported_and_retried_once_and_the_rest_go_on(write_sweep: Callable[..., Path],
                                                                        tmp_path: Path) -> None:
    spec = _spec(write_sweep)
    sweep = plan(spec)
    flaky, broken = sweep.tasks[0].run_id, sweep.tasks[1].run_id
    executor = ScriptedExecutor({flaky: 1, broken: 5})
    console = Console(record=True, width=200)
    store = ResultStore(tmp_path / "results.parquet", spec)
    outcome = run_sweep(sweep, store, executor, console=console, progress=False)
    assert (outcome.ok, outcome.failed, outcome.retried) == (3, 1, 2)
    assert executor.tries == {flaky: 2, broken: 2, sweep.tasks[2].run_id: 1, sweep.tasks[3].run_id: 1}
    rows = {r["run_id"]: r for r in read_rows(store.path)}
    assert rows[flaky]["status"] == "ok" and rows[flaky]["attempts"] == 2
    assert rows[broken]["status"] == "failed" and rows[broken]["attempts"] == 2
    assert rows[broken]["error"].startswith("Traceback") and "Boom 2" in rows[broken]["error"]
    text = console.export_text()
    assert f"run {broken}" in text and "attempt 1 of 2" in text and "attempt 2 of 2" in text and "Boom 1" in text


def test_a_run_over_its_time_limit_is_stopped_and_fails_saying_where(write_sweep: Callable[..., Path]) -> None:
    from sweep.task import execute

    task = plan(_spec(write_sweep, hours=2, run_timeout_s=0.5, seeds=[1])).tasks[0]
    outcome = execute(task)
    assert outcome.status == "failed" and outcome.wall_s < 5.0
    assert "RunTimedOut" in str(outcome.error) and "limit of 0.5 s" in str(outcome.error)


def test_a_time_limit_landing_in_code_that_catches_every_exception_still_ends_the_run() -> None:
    # a mission's step catches Exception (a bug ends the mission, not the robot's tick): the limit
    # raised there was taken for such a bug, and the run went on past its limit (a flaky CI run)
    import time

    from sweep.task import RunTimedOut, _time_limit

    swallowed = []
    with pytest.raises(RunTimedOut), _time_limit(0.05):
        for _ in range(40):
            try:
                time.sleep(0.05)
            except Exception as exc:  # what a mission step does
                swallowed.append(exc)
    assert swallowed == []


def test_a_time_limit_lost_where_the_interpreter_only_reports_it_comes_again() -> None:
    # raised in a gc callback (hypothesis installs one), the limit is reported as unraisable and
    # lost; the run went on past its limit (CI failed twice so)
    import time

    from sweep.task import RunTimedOut, _time_limit

    lost = 0
    with pytest.raises(RunTimedOut), _time_limit(0.05):
        for _ in range(40):
            try:
                time.sleep(0.05)
            except RunTimedOut:
                if lost:
                    raise
                lost += 1  # as the interpreter does with one raised in a gc callback
    assert lost == 1


def test_rows_of_another_simulator_version_are_run_again_on_resume(write_sweep: Callable[..., Path],
                                                                     tmp_path: Path) -> None:
    from sweep.code import code_digest

    spec = _spec(write_sweep)
    sweep = plan(spec)
    store = ResultStore(tmp_path / "results.parquet", spec)
    run_sweep(sweep, store, ScriptedExecutor({}), console=Console(record=True), progress=False)
    for row in store.rows.values():
        row["code"] = "0123456789abcdef"  # as an older simulator would have left them
    store.write()
    console = Console(record=True, width=200)
    again = ScriptedExecutor({})
    run_sweep(sweep, ResultStore(store.path, spec), again, console=console, progress=False)
    assert len(again.tries) == 4
    assert "4 runs done by another version of the simulator run again" in console.export_text()
    current = ResultStore(store.path, spec)
    for row in current.rows.values():
        row["code"] = code_digest()
    current.write()
    idle = ScriptedExecutor({})
    outcome = run_sweep(sweep, ResultStore(store.path, spec), idle, console=Console(record=True), progress=False)
    assert idle.tries == {} and outcome.skipped == 4


def test_the_report_has_a_plot_per_kpi_and_axis_and_the_recommendation_table(write_sweep: Callable[..., Path],
                                                                              tmp_path: Path) -> None:
    from sweep.report import write_report

    spec = _spec(write_sweep, axes={"robots.nursing": [1, 2]}, kpis={"observation_sets": {"min": 50}})
    page = write_report(spec, _rows({1: [4, 6], 2: [11, 12]}), tmp_path / "report")
    assert (tmp_path / "report" / "observation_sets--robots-nursing.png").read_bytes()[:4] == b"\x89PNG"
    text = page.read_text()
    assert "<th>smallest fleet meeting every target</th>" in text and "none in this sweep" in text
    assert "NO fleet in this sweep meets every target" in text


def test_without_targets_nothing_is_recommended(write_sweep: Callable[..., Path]) -> None:
    spec = _spec(write_sweep, kpis={"observation_sets": None})
    lines = recommendation_text(spec, recommend(spec, point_stats(spec, _rows({1: [4], 2: [11]}))))
    assert lines == ["No KPI of the sweep file has a target: there is nothing to recommend a fleet on."]
