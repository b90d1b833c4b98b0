"""Scaled `hospital-day` scenarios: N robots of the existing kinds.

Below the scenario's own fleet size the first N robots are kept (in file order); above it copies
of the existing robots are added round-robin over the kinds (same kind, same `serves`, same
`confined`), named ``<id>-x<k>``. The fleet service spreads the hospital's work over every robot
that can take it, so copies share their kind's work; a kind with no robot left has its tasks
reported as unassignable.

Every robot starts on a spot of its own (`start_places`): robots see each other, and a charger
dock is a one-robot mutex group, so two robots on one dock cannot work. A robot keeps its dock
when it is free; otherwise (a copy, or two robots of the file on one dock) it takes, on its
original's floor,

1. a free dock of its original's department (the zone its dock is in, a charging zone aside),
   else one of the same kind of department (zone tag: the logistics hall's docks for a copy of the
   central-supply robot), else — unless it is confined — a dock of no department (the first-floor
   robot bay's): its `dock`, a charger of its own;
2. else the nearest free robot parking bay (places of kind `parking` outside the car park, whose
   bays are for cars and the patrol), by route from its original's dock, inside its department if
   it is confined: its start place, while its `dock` (where it charges and goes home to) stays its
   original's, since a home dock must be a charger (`return_to_dock` charges there).

Nearest is by route length, ties by name; robots are placed in order (the file's robots, then the
copies, confined copies first: they have the fewest places to go), so the placement is the same
every run. A start place other than the dock goes into the robot's `start` field when the scenario
format has one (`sim.scenario.RobotPlacement`); until then such a robot starts on its dock as
before. A floor with no free spot left shares the original's dock, as before (the simulator makes
robots on one start place dock mates); `start_places(..., strict=True)` raises instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sim.scenario import SCENARIOS_DIR, WORLDS_DIR, RobotPlacement
from sim.world import World, load_world
from sim.world_parts import Place

#: zone tags whose parking places are not robot bays (car parking spaces, patrol checkpoints)
NOT_ROBOT_BAYS = frozenset({"car_park"})


@dataclass(frozen=True, slots=True)
class StartPlace:
    robot_id: str
    dock: str  # the robot's home dock: a charger
    start: str  # where it stands at the start: its dock, or a parking bay
    level: int


def scaled_scenario(n_robots: int, *, base: str = "hospital-day", name: str | None = None,
                    world: str | None = None, his: bool = False) -> dict[str, Any]:
    """The scenario `base` with `n_robots` robots, each on a spot of its own; `world` replaces the
    scenario's world (a name from sim/worlds). The HIS feed (HL7 over MLLP, sim/his_feed.py) is off
    unless `his`: the bench measures the simulator, and the feed's hl7apy message building cost
    ~10 % of a 2-hour 12-robot run (docs/his.md, "Simulator")."""
    data: dict[str, Any] = yaml.safe_load((SCENARIOS_DIR / f"{base}.yaml").read_text(encoding="utf-8"))
    data.setdefault("his", {})["enabled"] = his
    if world is not None:
        data["world"] = world
    robots = scaled_robots(list(data["robots"]), n_robots)
    places = {p.robot_id: p for p in start_places(_world_of(data), robots)}
    with_start = "start" in RobotPlacement.model_fields
    placed = []
    for robot in robots:
        spot = places[robot["id"]]
        entry = {key: value for key, value in robot.items() if key != "copy_of"}
        entry["dock"] = spot.dock
        if with_start and spot.start != spot.dock:
            entry["start"] = spot.start
        placed.append(entry)
    data["robots"] = placed
    data["name"] = name or f"{base}-{n_robots}"
    return data


def scaled_robots(originals: list[dict[str, Any]], n_robots: int) -> list[dict[str, Any]]:
    """The first `n_robots` of `originals`, or all of them and copies round-robin, each copy with
    `copy_of` (its original's id) for `start_places`, on the original's dock until placed."""
    if n_robots <= len(originals):
        return originals[:n_robots]
    robots = list(originals)
    k = 0
    while len(robots) < n_robots:
        src = originals[k % len(originals)]
        robots.append({**src, "id": f"{src['id']}-x{k // len(originals) + 1}", "copy_of": src["id"]})
        k += 1
    return robots


def write_scaled_scenario(n_robots: int, folder: Path, **kwargs: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"hospital-day-{n_robots}.yaml"
    path.write_text(yaml.safe_dump(scaled_scenario(n_robots, **kwargs), sort_keys=False), encoding="utf-8")
    return path


def start_places(world: World, robots: list[dict[str, Any]], *, strict: bool = False) -> list[StartPlace]:
    """A spot of its own for every robot (in the order of `robots`); see the module's docstring.
    A robot dict has `id` and `dock`, optionally `confined` and `copy_of` (the original's id, an
    earlier robot of the list). `strict`: raise ValueError when a floor has no free spot left."""
    by_id = {r["id"]: r for r in robots}
    order = ([r for r in robots if "copy_of" not in r]
             + [r for r in robots if "copy_of" in r and r.get("confined")]
             + [r for r in robots if "copy_of" in r and not r.get("confined")])
    docks = world.docks()
    bays = [p for p in world.places.values() if p.kind == "parking" and not _zone_tags(world, p) & NOT_ROBOT_BAYS]
    taken: set[str] = set()
    placed: dict[str, StartPlace] = {}
    for robot in order:
        original = placed[robot["copy_of"]] if "copy_of" in robot else None
        home = world.place(original.dock if original is not None else robot["dock"])
        confined = bool(robot.get("confined"))
        if original is None and home.name not in taken:
            spot = StartPlace(robot["id"], home.name, home.name, home.level)
        else:
            dock = _best(world, home, _free_docks(world, home, docks, taken, confined))
            bay = None if dock is not None else _best(world, home, _free_bays(world, home, bays, taken, confined))
            if dock is not None:
                spot = StartPlace(robot["id"], dock.name, dock.name, dock.level)
            elif bay is not None:
                spot = StartPlace(robot["id"], home.name, bay.name, bay.level)
            elif strict:
                raise ValueError(f"no free dock or parking bay on level {home.level} for robot {robot['id']!r} "
                                 f"(its dock {home.name!r} is taken)")
            else:
                spot = StartPlace(robot["id"], home.name, home.name, home.level)
        taken.add(spot.start)
        placed[robot["id"]] = spot
    return [placed[r] for r in by_id]


def _world_of(scenario: dict[str, Any]) -> World:
    """The scenario's world, found as `Scenario.world_path` finds it (for a file in sim/scenarios)."""
    name = str(scenario.get("world", "default_hospital"))
    candidate = WORLDS_DIR / f"{name}.yaml"
    return load_world(candidate if candidate.is_file() else (SCENARIOS_DIR / name).resolve())


def _zones_of(world: World, place: Place) -> list[tuple[float, str, str]]:
    """(area, name, tag) of the zones containing the place, smallest first, charging zones aside."""
    return sorted((z.area_m2, z.name, z.tag) for z in world.zones
                  if z.level == place.level and z.tag != "charging" and z.contains(place.x_m, place.y_m))


def _zone_tags(world: World, place: Place) -> set[str]:
    return {tag for _, _, tag in _zones_of(world, place)}


def _department(world: World, place: Place) -> tuple[str, str] | None:
    """(zone name, tag) of the department a place belongs to: its smallest non-charging zone."""
    zones = _zones_of(world, place)
    return (zones[0][1], zones[0][2]) if zones else None


def _free_docks(world: World, home: Place, docks: list[Place], taken: set[str], confined: bool) -> list[Place]:
    """Free docks on the home dock's floor in the best rank there is: the same department, the same
    kind of department, no department (not for a confined robot)."""
    department = _department(world, home)
    free = [d for d in docks if d.level == home.level and d.name not in taken]
    ranks: list[list[Place]] = []
    if department is not None:
        ranks.append([d for d in free if (_department(world, d) or ("", ""))[0] == department[0]])
        if not confined:
            ranks.append([d for d in free if (_department(world, d) or ("", ""))[1] == department[1]])
    if not confined:
        ranks.append([d for d in free if _department(world, d) is None])
    return next((rank for rank in ranks if rank), [])


def _free_bays(world: World, home: Place, bays: list[Place], taken: set[str], confined: bool) -> list[Place]:
    free = [b for b in bays if b.level == home.level and b.name not in taken]
    if confined:
        department = _department(world, home)
        inside = department[0] if department is not None else None
        free = [b for b in free if inside in {name for _, name, _ in _zones_of(world, b)}]
    return free


def _best(world: World, home: Place, candidates: list[Place]) -> Place | None:
    """The candidate nearest the home dock by route (ties by name); None when there is none."""
    if not candidates:
        return None
    reachable = [(world.routes.distance_m(home.name, p.name), p.name, p) for p in candidates]
    best = min(((d, n, p) for d, n, p in reachable if math.isfinite(d)), default=None, key=lambda t: (t[0], t[1]))
    return None if best is None else best[2]
