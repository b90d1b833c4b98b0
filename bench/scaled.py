"""Scaled `hospital-day` scenarios: N robots of the existing kinds.

Below the scenario's own fleet size the first N robots are kept (in file order); above it copies
of the existing robots are added round-robin over the kinds (same dock, same `serves`), named
``<id>-x<k>``. The fleet service spreads the hospital's work over every robot that can take it, so
copies share their kind's work; a kind with no robot left has its tasks reported as unassignable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.scenario import SCENARIOS_DIR


def scaled_scenario(n_robots: int, *, base: str = "hospital-day", name: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SCENARIOS_DIR / f"{base}.yaml").read_text(encoding="utf-8"))
    originals: list[dict[str, Any]] = list(data["robots"])
    if n_robots <= len(originals):
        robots = originals[:n_robots]
    else:
        robots = list(originals)
        k = 0
        while len(robots) < n_robots:
            src = originals[k % len(originals)]
            robots.append({**src, "id": f"{src['id']}-x{k // len(originals) + 1}"})
            k += 1
    data["robots"] = robots
    data["name"] = name or f"{base}-{n_robots}"
    return data


def write_scaled_scenario(n_robots: int, folder: Path, **kwargs: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"hospital-day-{n_robots}.yaml"
    path.write_text(yaml.safe_dump(scaled_scenario(n_robots, **kwargs), sort_keys=False), encoding="utf-8")
    return path
