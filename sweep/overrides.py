"""A sweep point's settings applied to the loaded scenario: robots per kind, beds per ward, device
fault rates, or any setting of the scenario by its dotted path. An axis that names nothing in the
scenario is refused with the sweep file, the axis and what is there."""

from __future__ import annotations

import copy
import functools
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pydantic
import yaml

from hal.registry import ConfigError
from robots.config import kind_config_path, known_kinds, load_robot_config
from sim.scenario import Scenario
from sim.world import load_world

ROBOTS, BEDS, FAULT_RATE = "robots.", "beds.", "fault_rate."


@dataclass
class PointSettings:
    """A scenario with one point's values applied: its data (as `Scenario` validates it), the world
    file's data when beds were taken out of it, and the fault rates to draw per seed."""

    scenario: dict[str, Any]
    world: dict[str, Any] | None = None
    fault_rates: dict[str, float] = field(default_factory=dict)


class Planner:
    """Applies overrides to one scenario; `where` is the sweep file (for errors)."""

    def __init__(self, scenario: Scenario, where: str) -> None:
        self.base = scenario
        self.where = where
        self.world = load_world(scenario.world_path())
        self._world_raw: dict[str, Any] | None = None

    def apply(self, overrides: Iterable[tuple[str, str, Any]]) -> PointSettings:
        """`overrides`: (field of the sweep file, key, value), applied in order."""
        data = self.base.model_dump(mode="json", exclude={"source"})
        beds: dict[str, int] = {}
        rates: dict[str, float] = {}
        for where, key, value in overrides:
            if key.startswith(ROBOTS):
                count = self._count(value, f"{where}.{key}")
                data["robots"] = self._robot_count(data["robots"], key[len(ROBOTS):], count, f"{where}.{key}")
            elif key.startswith(BEDS):
                count = self._count(value, f"{where}.{key}")
                beds[key[len(BEDS):]] = self._bed_count(key[len(BEDS):], count, f"{where}.{key}")
            elif key.startswith(FAULT_RATE):
                rates[key[len(FAULT_RATE):]] = self._rate(value, f"{where}.{key}")
            else:
                _set_path(data, key, value, f"{where}.{key}", self.where, self.base.name)
        for device in rates:
            if not robots_with_device(data["robots"], device):
                raise ConfigError(self.where, f"{FAULT_RATE}{device}",
                                  f"no robot of the scenario has a device named or of kind {device!r}")
        if rates and float(data["hours"]) > 24:
            raise ConfigError(self.where, "hours", "fault_rate axes place faults by time of day: at most 24 hours")
        settings = PointSettings(data, self._world_without(beds) if beds else None, rates)
        validate(settings, self.where)
        return settings

    def _robot_count(self, robots: list[dict[str, Any]], kind: str, n: int, where: str) -> list[dict[str, Any]]:
        """The first `n` robots of `kind` in file order, or all of them and copies round-robin
        (same kind, serves, confinement), each copy on a spot of its own."""
        if kind not in known_kinds():
            raise ConfigError(self.where, where, f"unknown robot kind {kind!r}", known_kinds())
        of_kind = [r for r in robots if r["kind"] == kind]
        if n <= len(of_kind):
            dropped = {r["id"] for r in of_kind[n:]}
            return [r for r in robots if r["id"] not in dropped]
        if not of_kind:
            kinds = sorted({r["kind"] for r in robots})
            raise ConfigError(self.where, where, f"scenario {self.base.name!r} has no {kind} robot to copy "
                                                 f"(its kinds: {', '.join(kinds)})")
        # placement of copies: bench/scaled.py's rule (its dock if free, else a free dock of its
        # department, else the nearest free parking bay), shared so both place robots alike
        from bench.scaled import start_places

        ids = {r["id"] for r in robots}
        copies: list[dict[str, Any]] = []
        k = 0
        while len(of_kind) + len(copies) < n:
            src = of_kind[k % len(of_kind)]
            k += 1
            name = f"{src['id']}-x{(k - 1) // len(of_kind) + 1}"
            while name in ids:
                name += "x"
            ids.add(name)
            copies.append({**src, "id": name, "copy_of": src["id"], "start": None})
        everyone = [*robots, *copies]
        spots = {s.robot_id: s for s in start_places(self.world, everyone)}
        placed = []
        for robot in copies:
            spot = spots[robot["id"]]
            entry = {key: value for key, value in robot.items() if key != "copy_of"}
            entry["dock"] = spot.dock
            entry["start"] = spot.start if spot.start != spot.dock else None
            placed.append(entry)
        return [*robots, *placed]

    def _count(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(self.where, where, f"a count must be a whole number >= 0, got {value!r}")
        return value

    def _rate(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(self.where, where, f"a fault rate is faults per robot per day, >= 0; got {value!r}")
        return float(value)

    def _bed_count(self, ward: str, n: int, where: str) -> int:
        wards = self.world.wards()
        if ward not in wards:
            raise ConfigError(self.where, where, f"the world {self.world.name!r} has no ward {ward!r}", wards)
        have = len(self.world.beds(ward))
        if not 1 <= n <= have:
            raise ConfigError(self.where, where, f"ward {ward} has {have} beds in the world: give 1 to {have}")
        return n

    def _world_without(self, beds: Mapping[str, int]) -> dict[str, Any]:
        """The world file's data with only the first N beds (by name) of each ward named, and the
        route edges to the others gone."""
        if self._world_raw is None:
            self._world_raw = yaml.safe_load(self.base.world_path().read_text(encoding="utf-8"))
        raw = copy.deepcopy(self._world_raw)
        gone = {p.name for ward, n in beds.items() for p in self.world.beds(ward)[n:]}
        raw["places"] = [p for p in raw["places"] if p.get("name") not in gone]
        routes = raw.get("routes") or {}
        chains = []
        for chain in routes.get("edges", []):
            part: list[str] = []
            for node in chain:  # a chain through a removed bed splits into the runs either side
                if node in gone:
                    if len(part) > 1:
                        chains.append(part)
                    part = []
                else:
                    part.append(node)
            if len(part) > 1:
                chains.append(part)
        if routes:
            routes["edges"] = chains
        return raw


def _set_path(data: dict[str, Any], key: str, value: Any, where: str, source: str, scenario: str) -> None:
    """Set the scenario setting at a dotted path; every part of the path must already be there
    (model fields with their defaults, and what the file sets in its free-form sections)."""
    node: Any = data
    parts = key.split(".")
    for i, part in enumerate(parts):
        here = ".".join(parts[:i]) or "its top level"
        if isinstance(node, dict) and part in node:
            if i == len(parts) - 1:
                node[part] = value
                return
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            if i == len(parts) - 1:
                node[int(part)] = value
                return
            node = node[int(part)]
        else:
            there = f" (there: {', '.join(sorted(map(str, node)))})" if isinstance(node, dict) and node else ""
            raise ConfigError(source, where, f"names nothing in scenario {scenario!r}: no {part!r} under {here}"
                                             f"{there}; an axis is robots.<kind>, beds.<ward>, fault_rate.<device> "
                                             f"or the path of a setting the scenario has")


def validate(settings: PointSettings, where: str) -> Scenario:
    data = settings.scenario
    try:
        return Scenario.model_validate({**data, "source": where})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "<top>"
        raise ConfigError(where, f"scenario {data.get('name')!r} {loc}", first["msg"]) from None


def robots_with_device(robots: list[dict[str, Any]], device: str) -> list[str]:
    """Ids of the robots whose kind has a device named `device` or of that device kind."""
    return sorted(r["id"] for r in robots if device in _device_names(str(r["kind"])))


@functools.cache
def _device_names(kind: str) -> frozenset[str]:
    """A kind's device names and device kinds (what `SimEnvironment.inject_fault` accepts)."""
    devices = load_robot_config(kind_config_path(kind)).devices
    return frozenset(devices) | frozenset(str(spec.get("kind")) for spec in devices.values())


def draw_faults(scenario: dict[str, Any], rates: Mapping[str, float], seed: int, *, duration_min: float,
                reason: str) -> list[dict[str, Any]]:
    """Device faults for one run: per robot with the device, a Poisson number (rate x hours / 24)
    at uniform times of the run, drawn from the run's seed and the device's name (the same run
    draws the same faults on any machine)."""
    hours = float(scenario["hours"])
    h0, m0 = (int(x) for x in str(scenario["start_time"]).split(":"))
    faults = []
    for device in sorted(rates):
        rng = np.random.default_rng([seed, zlib.crc32(device.encode())])
        for robot_id in robots_with_device(scenario["robots"], device):
            n = int(rng.poisson(rates[device] * hours / 24.0))
            for minute in sorted(int(m) for m in rng.uniform(0.0, hours * 60.0, size=n)):
                at = (h0 * 60 + m0 + minute) % (24 * 60)
                faults.append({"robot": robot_id, "device": device, "at": f"{at // 60:02d}:{at % 60:02d}",
                               "reason": reason, "duration_min": duration_min})
    return faults
