"""Bad robot configs fail at start-up with the file, the field and what is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hal.registry import ConfigError
from robots.config import kind_config_path, known_kinds, load_robot_config
from robots.plugins import load_device_registry


def write_config(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(kind_config_path("nursing").read_text())
    mutate(data)
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def validate_devices(path: Path) -> None:
    config = load_robot_config(path)
    registry = load_device_registry()
    for name, spec in config.devices.items():
        registry.validate(spec, source=config.source, field_path=f"devices.{name}")


def test_shipped_kinds_load_and_validate():
    assert "nursing" in known_kinds()
    for kind in known_kinds():
        validate_devices(kind_config_path(kind))


def test_unknown_robot_kind_lists_the_known_ones():
    with pytest.raises(ConfigError) as err:
        kind_config_path("teleporter")
    assert "teleporter" in str(err.value) and "nursing" in str(err.value)


def test_unknown_top_level_field_names_file_field_and_accepted(tmp_path):
    path = write_config(tmp_path, lambda d: d.update(max_sped=3))
    with pytest.raises(ConfigError) as err:
        load_robot_config(path)
    message = str(err.value)
    assert "robot.yaml" in message and "max_sped" in message and "capabilities" in message


def test_bad_safety_value_names_the_nested_field(tmp_path):
    path = write_config(tmp_path, lambda d: d["safety"].update(max_speed_mps=-1))
    with pytest.raises(ConfigError) as err:
        load_robot_config(path)
    assert "safety.max_speed_mps" in str(err.value) and "robot.yaml" in str(err.value)


def test_unknown_device_kind_lists_kinds(tmp_path):
    path = write_config(tmp_path, lambda d: d["devices"]["base"].update(kind="hoverboard"))
    with pytest.raises(ConfigError) as err:
        validate_devices(path)
    message = str(err.value)
    assert "devices.base.kind" in message and "hoverboard" in message and "drive_base" in message


def test_unknown_device_model_lists_models(tmp_path):
    path = write_config(tmp_path, lambda d: d["devices"]["thermometer"].update(model="acme-9000"))
    with pytest.raises(ConfigError) as err:
        validate_devices(path)
    message = str(err.value)
    assert "devices.thermometer.model" in message and "acme-9000" in message and "sim" in message


def test_bad_device_field_names_it(tmp_path):
    path = write_config(tmp_path, lambda d: d["devices"]["nibp"].update(colour="red"))
    with pytest.raises(ConfigError) as err:
        validate_devices(path)
    assert "devices.nibp.colour" in str(err.value) and "robot.yaml" in str(err.value)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_robot_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_robot_config(bad)
