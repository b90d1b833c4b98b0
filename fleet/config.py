"""The fleet service's settings (YAML for `medbot fleet run --config`, the `fleet:` section of a
simulator scenario): how often it plans, battery thresholds, zones only stationed robots may enter,
and the demand sources it runs with their settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml


class FleetConfigError(ValueError):
    pass


class FleetConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    #: the service loop: messages handled, sources stepped, robots dispatched this often (s)
    step_period_s: float = pydantic.Field(1.0, gt=0, le=10)
    #: a full allocation round at least this often (s); a round also runs when something changed
    allocation_period_s: float = pydantic.Field(10.0, gt=0, le=300)
    #: plan tasks due within this horizon (s): the allocator sees what comes next, not the whole day
    horizon_s: float = pydantic.Field(600.0, ge=0, le=24 * 3600)
    allocator: Literal["greedy", "ortools"] = "greedy"
    #: no new work below this charge: the robot is sent to charge first (must sit above the robots'
    #: own safety reserve, so that the fleet, not the reserve, decides when to charge)
    work_threshold_soc: float = pydantic.Field(0.30, gt=0, lt=1)
    #: a robot sent to charge takes work again from this charge
    resume_soc: float = pydantic.Field(0.80, gt=0, le=1)
    #: energy margin kept above the robot's reserve floor when checking a task is feasible
    battery_margin_soc: float = pydantic.Field(0.05, ge=0, lt=1)
    #: zones only a robot stationed there may work in (infection control)
    restricted_zones: list[str] = ["isolation"]
    #: the account the service signs its commands with (robots' command policy must grant it)
    service_user: str = pydantic.Field("fleet-service", pattern=r"^[a-z0-9-]{1,64}$")
    #: a task dispatched but not acknowledged within this time is sent again (s)
    dispatch_retry_s: float = pydantic.Field(30.0, gt=0)
    #: who may request or cancel work over the request topic: staff account -> {"role": ...}; None
    #: leaves it to the broker's ACL (the first line, as for robots' commands)
    requesters: dict[str, dict[str, Any]] | None = None
    #: demand source name -> its settings (fleet/demand/<name>.py)
    demand: dict[str, dict[str, Any]] = {}


def fleet_config_from(data: dict[str, Any], source: str) -> FleetConfig:
    try:
        return FleetConfig.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "<top>"
        raise FleetConfigError(f"{source}: {loc}: {first['msg']}") from None


def load_fleet_config(path: str | Path) -> FleetConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise FleetConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise FleetConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FleetConfigError(f"{path}: expected a mapping at the top level")
    return fleet_config_from(data, str(path))
