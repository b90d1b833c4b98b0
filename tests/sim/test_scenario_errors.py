"""Bad scenarios and flags are refused with a clear message and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hal.registry import ConfigError
from robots.cli import main
from sim.scenario import SCENARIOS_DIR, load_scenario


def test_default_scenario_loads():
    scenario = load_scenario("hospital-day")
    assert scenario.robots and scenario.world_path().is_file()


def test_unknown_scenario_lists_known_ones():
    with pytest.raises(ConfigError) as err:
        load_scenario("moon-base")
    assert "moon-base" in str(err.value) and "hospital-day" in str(err.value)


def scenario_with(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((SCENARIOS_DIR / "hospital-day.yaml").read_text())
    mutate(data)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_bad_scenario_field_is_located(tmp_path):
    path = scenario_with(tmp_path, lambda d: d.update(start_time="25:99"))
    with pytest.raises(ConfigError) as err:
        load_scenario(str(path))
    assert "scenario.yaml" in str(err.value) and "start_time" in str(err.value)


def test_duplicate_robot_ids_are_refused(tmp_path):
    path = scenario_with(tmp_path, lambda d: d["robots"].append(dict(d["robots"][0])))
    with pytest.raises(ConfigError, match="unique"):
        load_scenario(str(path))


def test_cli_unknown_scenario_exits_nonzero_with_message(capsys):
    assert main(["sim", "--scenario", "moon-base", "--no-progress", "--broker", "none"]) != 0
    assert "moon-base" in capsys.readouterr().err


def test_cli_bad_flags_exit_nonzero(capsys):
    assert main(["sim", "--hours", "-3"]) != 0
    assert "--hours" in capsys.readouterr().err
    assert main(["sim", "--broker", "http://x"]) != 0
    assert "mqtt://" in capsys.readouterr().err


def test_cli_unreadable_world_exits_nonzero(tmp_path, capsys):
    path = scenario_with(tmp_path, lambda d: d.update(world="no-such-world.yaml"))
    assert main(["sim", "--scenario", str(path), "--no-progress", "--broker", "none",
                 "--report", str(tmp_path / "r")]) != 0
    err = capsys.readouterr().err
    assert "scenario.yaml" in err and "world" in err
