"""Sweep files: bad ones are refused naming the file and the field; axes become the right scenario
overrides (robots per kind, beds per ward, fault rates, settings by path)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hal.registry import ConfigError
from sim.scenario import Scenario
from sim.world import load_world
from sweep.plan import plan
from sweep.spec import load_sweep


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        plan(load_sweep(path))
    return str(caught.value)


@pytest.mark.parametrize(("over", "expected"), [
    ({"axes": {"patients.no_such_setting": [1, 2]}}, ["axes.patients.no_such_setting", "names nothing",
                                                       "no_such_setting", "deteriorating_fraction"]),
    ({"axes": {"robots.forklift": [1]}}, ["axes.robots.forklift", "unknown robot kind", "nursing"]),
    ({"axes": {"beds.ward-z": [3]}}, ["axes.beds.ward-z", "no ward 'ward-z'", "ward-a"]),
    ({"axes": {"beds.ward-a": [99]}}, ["axes.beds.ward-a", "has 10 beds"]),
    ({"axes": {"fault_rate.jetpack": [1.0]}}, ["fault_rate.jetpack", "no robot of the scenario has a device"]),
    ({"axes": {"robots.nursing": [1, "two"]}}, ["axes.robots.nursing", "whole number"]),
    ({"axes": {"patients.deteriorating_fraction": [0.2, 1.5]}}, ["deteriorating_fraction",
                                                                  "less than or equal to 1"]),
    ({"axes": {"robots.nursing": []}}, ["axes", "has no values"]),
    ({"kpis": {"speed_of_light": {"max": 1}}}, ["kpis", "unknown KPI 'speed_of_light'", "drug_rounds_on_time"]),
    ({"kpis": {"observation_sets": {"min": 3, "max": 1}}}, ["kpis.observation_sets", "above max"]),
    ({"kpis": {"seed": {"path": "hours"}}}, ["kpis.seed", "rename the KPI"]),
    ({"hours": 0}, ["hours", "greater than 0"]),
    ({"scenario": "no-such-day"}, ["scenario", "unknown scenario 'no-such-day'", "hospital-day"]),
    ({"seeds": [1, 1]}, ["seeds", "repeated"]),
    ({"colour": "blue"}, ["colour", "Extra inputs are not permitted"]),
])
def test_a_bad_sweep_file_is_refused_naming_the_file_and_the_field(
        write_sweep: Callable[..., Path], over: dict[str, Any], expected: list[str]) -> None:
    path = write_sweep(**over)
    message = _error(path)
    assert message.startswith(str(path)), message
    for part in expected:
        assert part in message, message


def test_a_file_that_is_not_yaml_or_not_a_mapping_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    assert "not valid YAML" in _error(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n", encoding="utf-8")
    assert "expected a mapping" in _error(listed)
    assert "cannot read sweep file" in _error(tmp_path / "absent.yaml")


def _scenario(task_scenario: dict[str, Any]) -> Scenario:
    return Scenario.model_validate({**task_scenario, "source": "test"})


def test_robots_per_kind_keeps_the_first_or_adds_copies_each_on_a_spot_of_its_own(
        write_sweep: Callable[..., Path]) -> None:
    tasks = plan(load_sweep(write_sweep(axes={"robots.nursing": [1, 6]}, seeds=[1]))).tasks
    one, six = (_scenario(t.scenario) for t in tasks)
    assert [r.id for r in one.robots if r.kind == "nursing"] == ["nurse-a"]
    nurses = [r for r in six.robots if r.kind == "nursing"]
    assert len(nurses) == 6 and [r.id for r in nurses[:3]] == ["nurse-a", "nurse-b", "nurse-iso"]
    assert len({r.start or r.dock for r in six.robots}) == len(six.robots)  # nobody shares a spot
    assert [r.serves for r in nurses[3:]] == ["ward-a", "ward-b", "isolation"]  # copies round-robin
    copy_of_iso = nurses[5]
    assert copy_of_iso.confined
    # the other kinds are as the scenario has them
    assert sorted(r.id for r in six.robots if r.kind != "nursing") == sorted(
        r.id for r in one.robots if r.kind != "nursing")
    assert (tasks[0].fleet_size, tasks[1].fleet_size) == (6, 11)


def test_beds_per_ward_takes_beds_out_of_the_world_the_run_gets(write_sweep: Callable[..., Path],
                                                                  tmp_path: Path) -> None:
    task = plan(load_sweep(write_sweep(axes={"beds.ward-a": [4]}, seeds=[1]))).tasks[0]
    assert task.world is not None
    world_file = tmp_path / "world.yaml"
    world_file.write_text(yaml.safe_dump(task.world), encoding="utf-8")
    world = load_world(world_file)  # the edges to the removed beds are gone with them
    assert [b.bed_id for b in world.beds("ward-a")] == ["A-01", "A-02", "A-03", "A-04"]
    assert len(world.beds("ward-b")) == 10


def test_fault_rates_draw_the_same_faults_for_a_seed_and_more_for_a_higher_rate(
        write_sweep: Callable[..., Path]) -> None:
    spec = load_sweep(write_sweep(hours=6, axes={"fault_rate.nav": [0, 8, 40]}, seeds=[1, 2]))
    tasks = plan(spec).tasks
    again = plan(spec).tasks
    assert [t.scenario["faults"] for t in tasks] == [t.scenario["faults"] for t in again]
    counts = [len(t.scenario["faults"]) for t in tasks]
    assert counts[:2] == [0, 0] and sum(counts[2:4]) < sum(counts[4:6])
    assert tasks[2].scenario["faults"] != tasks[3].scenario["faults"]  # another seed, other faults
    fault = tasks[4].scenario["faults"][0]
    assert fault["device"] == "nav" and fault["duration_min"] == 30.0
    assert "07:00" <= fault["at"] < "13:00"


def test_a_setting_by_path_and_the_fixed_set_reach_every_run(write_sweep: Callable[..., Path]) -> None:
    tasks = plan(load_sweep(write_sweep(axes={"patients.deteriorating_fraction": [0.1, 0.5]}, seeds=[1]))).tasks
    assert [t.scenario["patients"]["deteriorating_fraction"] for t in tasks] == [0.1, 0.5]
    assert all(t.scenario["his"]["enabled"] is False and t.scenario["hours"] == 0.05 for t in tasks)
    assert len({t.run_id for t in tasks}) == 2


def test_the_shipped_sweep_plans_twelve_runs() -> None:
    spec = load_sweep(Path(__file__).resolve().parents[2] / "sim" / "sweeps" / "nursing-fleet-size.yaml")
    tasks = plan(spec).tasks
    assert len(tasks) == 12
    assert sorted({t.robots_by_kind["nursing"] for t in tasks}) == [1, 2, 3, 4]


def test_a_scenario_file_is_found_beside_the_sweep_file(write_sweep: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "my-day.yaml").write_text("extends: hospital-day\nname: my-day\ntick_s: 0.25\n", encoding="utf-8")
    sweep = plan(load_sweep(write_sweep(scenario="my-day.yaml", seeds=[1])))
    assert sweep.scenario_name == "my-day"
    assert {t.scenario["tick_s"] for t in sweep.tasks} == {0.25}


def test_medbot_sweep_refuses_a_bad_file_before_running_anything(write_sweep: Callable[..., Path],
                                                                    tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sweep.cli import sweep_command

    path = write_sweep(axes={"patients.no_such_setting": [1]})
    result = CliRunner().invoke(sweep_command, [str(path), "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 1
    assert f"Error: {path}: axes.patients.no_such_setting: names nothing" in result.output
    assert not (tmp_path / "out").exists()
