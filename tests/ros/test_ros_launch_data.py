"""Launch files and their data, checked without `launch`/`launch_ros` (not on PyPI).

The data must be sound (executables, parameter files, robot configs, docks), and the launch files
must parse, read only that data, and not make launch/ a Python package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hal.registry import ConfigError
from robots.ros.launch_data import LAUNCH_DIR, load_launch_data, ros_parameters, validate

DATA_FILES = sorted(p for p in LAUNCH_DIR.glob("*.yaml"))
LAUNCH_FILES = sorted(LAUNCH_DIR.glob("*.launch.py"))


def test_launch_is_not_a_python_package() -> None:
    assert not (LAUNCH_DIR / "__init__.py").exists()  # it would shadow ROS 2's own `launch` module
    assert {p.name for p in LAUNCH_FILES} >= {"robot.launch.py", "fleet.launch.py"}


@pytest.mark.parametrize("data", DATA_FILES, ids=lambda p: p.name)
def test_every_node_of_the_launch_data_is_sound(data: Path) -> None:
    specs = load_launch_data(data)
    assert len({s.namespace for s in specs}) == len(specs), "two robots in one namespace"
    for spec in specs:
        params = validate(spec, source=str(data))
        assert params["robot_id"] and spec.namespace.replace("_", "-") == params["robot_id"].replace("_", "-")


def test_the_fleet_data_matches_the_hospital_day_robots() -> None:
    import yaml

    scenario = yaml.safe_load((LAUNCH_DIR.parent / "sim/scenarios/hospital-day.yaml").read_text())
    day = {(r["id"], r["kind"], r["dock"]) for r in scenario["robots"]}
    fleet = {(s.parameters["robot_id"], s.parameters["robot_config"], s.parameters["home_dock"])
             for s in load_launch_data(LAUNCH_DIR / "fleet_default_hospital.yaml")}
    assert fleet <= day


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_parse_and_read_existing_data(launch_file: Path) -> None:
    tree = ast.parse(launch_file.read_text(encoding="utf-8"), filename=str(launch_file))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"pathlib", "launch", "launch.actions", "launch.substitutions", "launch_ros.actions",
                        "robots.ros.launch_data"}
    defaults: list[str] = [
        str(kw.value.value) for call in ast.walk(tree) if isinstance(call, ast.Call)
        and getattr(call.func, "id", None) == "DeclareLaunchArgument"
        and call.args and isinstance(call.args[0], ast.Constant) and call.args[0].value == "data"
        for kw in call.keywords if kw.arg == "default_value" and isinstance(kw.value, ast.Constant)
    ]
    assert len(defaults) == 1 and (LAUNCH_DIR / defaults[0]).is_file()
    assert load_launch_data(LAUNCH_DIR / defaults[0])


def _write(tmp_path: Path, robot: str, params: str = "") -> Path:
    (tmp_path / "p.yaml").write_text("/**:\n  ros__parameters:\n    site: t\n" + params)
    data = tmp_path / "d.yaml"
    data.write_text(f"params_files: [p.yaml]\nrobots:\n  - {robot}\n")
    return data


@pytest.mark.parametrize(("robot", "params", "problem"), [
    ("{robot_id: r1, robot_config: no_such_kind, home_dock: dock-ward-a}", "", "unknown robot kind"),
    ("{robot_id: r1, robot_config: nursing}", "", "no home_dock"),
    ("{robot_id: r1, robot_config: nursing, home_dock: dock-ward-a}", "    tick_rate_hz: 5\n", "tick_rate_hz"),
    ("{robot_id: r1, robot_config: nursing, home_dock: dock-nowhere}",
     "    sim.world: sim/worlds/default_hospital.yaml\n", "dock-nowhere"),
    ("{robot_id: r1, robot_config: /no/such/file.yaml, home_dock: dock-ward-a}", "", "no robot config file"),
])
def test_unsound_launch_data_is_refused_naming_the_problem(tmp_path: Path, robot: str, params: str,
                                                           problem: str) -> None:
    data = _write(tmp_path, robot, params)
    with pytest.raises(ConfigError, match=problem):
        for spec in load_launch_data(data):
            validate(spec, source=str(data))


def test_missing_parameter_file_and_bad_parameter_file_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "d.yaml"
    data.write_text("params_files: [gone.yaml]\nrobots:\n  - {robot_id: r1, robot_config: nursing, home_dock: d}\n")
    with pytest.raises(ConfigError, match="no parameter file"):
        validate(load_launch_data(data)[0], source=str(data))
    bad = tmp_path / "bad.yaml"
    bad.write_text("robot_id: r1\n")
    with pytest.raises(ConfigError, match="ros__parameters"):
        ros_parameters(bad)
