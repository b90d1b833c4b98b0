"""Device registry keyed by `(kind, model)`, and building a robot's devices from its config.

Backends register themselves into a registry passed to them (no global singleton); the robot
package discovers backend packages through the `medbot.devices` entry-point group. Every model
declares a pydantic model of its config fields, so a bad field fails at start-up with the file,
the field and what would have been accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pydantic

from hal.clock import Clock
from hal.device import Device

C = TypeVar("C", bound=pydantic.BaseModel)
D = TypeVar("D", bound=Device)


class ConfigError(ValueError):
    """A configuration problem, located: which file, which field, what is accepted."""

    def __init__(self, source: str, field_path: str, problem: str, accepted: Iterable[str] = ()) -> None:
        accepted_list = sorted(accepted)
        message = f"{source}: {field_path}: {problem}"
        if accepted_list:
            message += f" (accepted: {', '.join(accepted_list)})"
        super().__init__(message)
        self.source = source
        self.field_path = field_path
        self.problem = problem
        self.accepted = accepted_list


class DeviceConfig(pydantic.BaseModel):
    """Base for a model's config fields; unknown fields are errors, not silently ignored."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


@dataclass
class BuildContext:
    """What a device factory may use: the clock, devices built before it, and backend extras
    (the simulator passes its world and the robot's body here)."""

    clock: Clock
    robot_id: str
    devices: dict[str, Device] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def device(self, name: str, expected: type[D]) -> D:
        found = self.devices.get(name)
        if not isinstance(found, expected):
            raise KeyError(f"device {name!r} of kind {expected.kind!r} must be configured before this one")
        return found


Factory = Callable[[str, C, BuildContext], Device]


@dataclass(frozen=True)
class _Entry(Generic[C]):
    config_model: type[C]
    factory: Factory[C]


class DeviceRegistry:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _Entry[Any]] = {}

    def register(self, kind: str, model: str, config_model: type[C], factory: Factory[C]) -> None:
        key = (kind, model)
        if key in self._entries:
            raise ValueError(f"device model already registered: kind={kind!r} model={model!r}")
        self._entries[key] = _Entry(config_model, factory)

    def kinds(self) -> set[str]:
        return {kind for kind, _ in self._entries}

    def models(self, kind: str) -> set[str]:
        return {model for k, model in self._entries if k == kind}

    def validate(
        self, spec: Mapping[str, Any], *, source: str, field_path: str
    ) -> tuple[_Entry[Any], pydantic.BaseModel]:
        """Check kind, model and the model's fields without building anything."""
        if not isinstance(spec, Mapping):
            raise ConfigError(source, field_path, f"expected a mapping, got {type(spec).__name__}")
        kind = str(spec.get("kind"))
        if kind not in self.kinds():
            raise ConfigError(source, f"{field_path}.kind", f"unknown device kind {spec.get('kind')!r}", self.kinds())
        model = str(spec.get("model"))
        if (kind, model) not in self._entries:
            raise ConfigError(
                source, f"{field_path}.model", f"unknown model {spec.get('model')!r} for kind {kind!r}",
                self.models(kind),
            )
        entry = self._entries[(kind, model)]
        fields = {k: v for k, v in spec.items() if k not in ("kind", "model")}
        try:
            config = entry.config_model.model_validate(fields)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(part) for part in first["loc"])
            accepted = entry.config_model.model_fields.keys() if first["type"] == "extra_forbidden" else ()
            raise ConfigError(source, f"{field_path}.{loc}", first["msg"], accepted) from None
        return entry, config

    def build(
        self, name: str, spec: Mapping[str, Any], ctx: BuildContext, *, source: str, field_path: str
    ) -> Device:
        """Build one device from its config mapping (`kind`, `model` and the model's fields)."""
        entry, config = self.validate(spec, source=source, field_path=field_path)
        try:
            return entry.factory(name, config, ctx)
        except KeyError as exc:
            raise ConfigError(source, field_path, str(exc.args[0])) from None
