"""Robot kind configuration (YAML) and its validation, with located errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import yaml

from hal.registry import ConfigError
from hal.safety import SafetyConfig

KINDS_DIR = Path(__file__).parent / "kinds"


class _Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class SafetySettings(_Strict):
    watchdog_timeout_s: float = pydantic.Field(0.5, gt=0)
    max_speed_mps: float = pydantic.Field(1.2, gt=0, le=2.0)
    max_angular_radps: float = pydantic.Field(1.5, gt=0)
    energy_per_m_wh: float = pydantic.Field(0.05, gt=0)
    battery_capacity_wh: float = pydantic.Field(600.0, gt=0)
    reserve_safety_factor: float = pydantic.Field(2.0, ge=1)
    reserve_floor_soc_fraction: float = pydantic.Field(0.15, ge=0, lt=1)
    reserve_release_soc_fraction: float = pydantic.Field(0.9, gt=0, le=1)
    reserve_check_period_s: float = pydantic.Field(10.0, gt=0, le=60)

    def to_safety_config(self) -> SafetyConfig:
        return SafetyConfig(**self.model_dump())


class TelemetrySettings(_Strict):
    #: state goes out on every relevant change and at least this often
    state_period_s: float = pydantic.Field(30.0, gt=0, le=30.0)
    #: high-rate pose for visualisation
    viz_period_s: float = pydantic.Field(1.0, gt=0)


class RobotKindConfig(_Strict):
    kind: str = pydantic.Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    capabilities: list[str]
    devices: dict[str, dict[str, Any]]
    safety: SafetySettings = SafetySettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    #: control period on hardware; the simulator may use its own step
    tick_period_s: float = pydantic.Field(0.1, gt=0, le=1.0)
    source: str = "<memory>"


def known_kinds() -> list[str]:
    return sorted(p.stem for p in KINDS_DIR.glob("*.yaml"))


def kind_config_path(kind: str) -> Path:
    path = KINDS_DIR / f"{kind}.yaml"
    if not path.is_file():
        raise ConfigError("robot kinds", "kind", f"unknown robot kind {kind!r}", known_kinds())
    return path


def load_robot_config(path: str | Path) -> RobotKindConfig:
    """Load and validate a robot kind config. Errors name the file and the field."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, "<file>", f"cannot read robot config: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, "<file>", f"not valid YAML: {exc}") from None
    return parse_robot_config(data, source=source)


def parse_robot_config(data: object, *, source: str) -> RobotKindConfig:
    if not isinstance(data, dict):
        raise ConfigError(source, "<top>", "expected a mapping at the top level")
    try:
        return RobotKindConfig.model_validate({**data, "source": source})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"]) or "<top>"
        accepted: list[str] = []
        if first["type"] == "extra_forbidden":
            model = _model_at(first["loc"][:-1])
            accepted = list(model.model_fields) if model is not None else []
            accepted = [a for a in accepted if a != "source"]
        raise ConfigError(source, loc, first["msg"], accepted) from None


def _model_at(loc: tuple[Any, ...]) -> type[pydantic.BaseModel] | None:
    model: type[pydantic.BaseModel] = RobotKindConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)):
            return None
        model = annotation
    return model
