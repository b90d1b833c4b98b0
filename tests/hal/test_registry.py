"""The device registry with the real backends: duplicates, unknown keys and bad fields are
located errors that say what would have been accepted."""

from __future__ import annotations

from typing import Any

import pytest

from hal.clock import SimClock
from hal.registry import BuildContext, ConfigError, DeviceRegistry
from sim.devices import register as register_sim
from sim.devices.thermometer import SimThermometerConfig
from tests.device_registry import NURSING_BASE_KINDS, NURSING_MEASURING_KINDS, sim_and_driver_registry

SOURCE = "robots/kinds/nursing.yaml"

SIM_KINDS = {*NURSING_BASE_KINDS, *NURSING_MEASURING_KINDS}


@pytest.fixture
def registry() -> DeviceRegistry:
    return sim_and_driver_registry()


def build(registry: DeviceRegistry, name: str, spec: dict[str, Any], ctx: BuildContext | None = None) -> Any:
    ctx = ctx or BuildContext(SimClock(), "r1")
    return registry.build(name, spec, ctx, source=SOURCE, field_path=f"devices.{name}")


def test_every_kind_has_a_sim_model_and_opencv_reads_tags(registry: DeviceRegistry) -> None:
    assert registry.kinds() >= SIM_KINDS  # other robot kinds add theirs
    for kind in SIM_KINDS:
        assert "sim" in registry.models(kind)
    assert {"sim", "opencv"} <= registry.models("tag_reader")


def test_duplicate_registration_raises(registry: DeviceRegistry) -> None:
    with pytest.raises(ValueError, match="already registered: kind='thermometer' model='sim'"):
        registry.register("thermometer", "sim", SimThermometerConfig, lambda n, c, x: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="already registered"):
        register_sim(registry)


def test_unknown_kind_lists_the_kinds(registry: DeviceRegistry) -> None:
    with pytest.raises(ConfigError) as err:
        build(registry, "thermo", {"kind": "thermomter", "model": "sim"})
    message = str(err.value)
    assert message.startswith(f"{SOURCE}: devices.thermo.kind: unknown device kind 'thermomter'")
    assert "accepted: " in message and "battery" in message and "thermometer" in message


def test_unknown_model_lists_the_models(registry: DeviceRegistry) -> None:
    with pytest.raises(ConfigError) as err:
        build(registry, "wristband", {"kind": "tag_reader", "model": "zbar"})
    assert str(err.value) == (
        f"{SOURCE}: devices.wristband.model: unknown model 'zbar' for kind 'tag_reader' "
        f"(accepted: {', '.join(sorted(registry.models('tag_reader')))})"
    )


def test_bad_field_value_names_the_field(registry: DeviceRegistry) -> None:
    with pytest.raises(ConfigError) as err:
        build(registry, "thermometer", {"kind": "thermometer", "model": "sim", "duration_s": "five"})
    assert SOURCE in str(err.value)
    assert "devices.thermometer.duration_s" in str(err.value)
    assert err.value.field_path == "devices.thermometer.duration_s"


def test_unknown_field_lists_the_fields(registry: DeviceRegistry) -> None:
    with pytest.raises(ConfigError) as err:
        build(registry, "camera", {"kind": "camera", "model": "sim", "unreadable_probabilty": 0.1})
    message = str(err.value)
    assert "devices.camera.unreadable_probabilty" in message
    assert "unreadable_probability" in message and "width_px" in message


def test_opencv_reader_needs_its_camera_first(registry: DeviceRegistry) -> None:
    with pytest.raises(ConfigError) as err:
        build(registry, "wristband", {"kind": "tag_reader", "model": "opencv", "camera": "cam0"})
    assert str(err.value) == (
        f"{SOURCE}: devices.wristband: device 'cam0' of kind 'camera' must be configured before this one"
    )


def test_sim_models_need_the_simulator(registry: DeviceRegistry) -> None:
    with pytest.raises(ConfigError, match=r"devices\.nav: sim devices need a simulator environment"):
        build(registry, "nav", {"kind": "navigator", "model": "sim"})
