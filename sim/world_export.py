"""A world as plain JSON for map viewers (the dashboard), which must not import the simulator.

``python -m sim.world_export [world.yaml] > map.json``; `world_json(world)` in code. The JSON keeps
only what a map draws: walls (after door gaps), zones, doors, places (beds by their bed label, never
a patient) and the bounds; metres, x east, y north. `routes` is the route graph (nodes with their
position and level, edges with their length and door) that the fleet service plans travel on.

A building of several floors adds `lifts` (car centre, floors served, lobby/car place and landing
door per floor, timings), `mutex_groups` (the traffic resources the fleet reserves) and `stairs`;
doors say whether they are `fire` doors. All three keys are optional for readers, and a world
without lifts or traffic exports them empty, so `medbot.map/1` files written before stay valid.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sim.world import World, default_world_path, load_world

FORMAT = "medbot.map/1"


def world_json(world: World) -> dict[str, Any]:
    xmin, ymin, xmax, ymax = world.bounds_m()
    return {
        "format": FORMAT,
        "name": world.name,
        "bounds_m": [xmin, ymin, xmax, ymax],
        "levels": {str(k): v for k, v in sorted(world.levels.items())},
        "walls": [{"a": list(w.a), "b": list(w.b), "thickness_m": w.thickness_m, "level": w.level}
                  for w in world.walls],
        "zones": [{"name": z.name, "tag": z.tag, "polygon_m": [list(p) for p in z.polygon_m],
                   "speed_limit_mps": z.speed_limit_mps, "level": z.level} for z in world.zones],
        "doors": [{"name": d.name, "x_m": d.x_m, "y_m": d.y_m, "width_m": d.width_m, "auto": d.auto,
                   "fire": d.fire, "level": d.level} for d in sorted(world.doors.values(), key=lambda d: d.name)
                  if d.x_m is not None and d.y_m is not None],
        "places": [{"name": p.name, "kind": p.kind, "x_m": p.x_m, "y_m": p.y_m, "level": p.level,
                    "zone": p.zone, "ward": p.ward, "bed_id": p.bed_id}
                   for p in sorted(world.places.values(), key=lambda p: p.name)],
        "routes": _routes_json(world),
        "lifts": [{"name": lift.name, "x_m": lift.x_m, "y_m": lift.y_m, "levels": list(lift.levels),
                   # JSON keys are strings: a level's index as text, e.g. "-1"
                   "lobbies": {str(k): v for k, v in sorted(lift.lobbies.items())},
                   "cars": {str(k): v for k, v in sorted(lift.cars.items())},
                   "doors": {str(k): v for k, v in sorted(lift.doors.items())},
                   "travel_s_per_level": lift.travel_s_per_level, "door_s": lift.door_s, "dwell_s": lift.dwell_s}
                  for _, lift in sorted(world.lifts.items())],
        "mutex_groups": [{"name": g.name, "kind": g.kind, "nodes": sorted(g.nodes), "level": g.level}
                         for _, g in sorted(world.mutex_groups.items())],
        "stairs": [{"name": st.name, "x_m": st.x_m, "y_m": st.y_m, "width_m": st.width_m, "depth_m": st.depth_m,
                    "levels": list(st.levels)} for st in world.stairs],
    }


def _routes_json(world: World) -> dict[str, Any]:
    graph = world.routes.graph
    nodes = [{"name": n, "x_m": round(float(d["pos"][0]), 3), "y_m": round(float(d["pos"][1]), 3),
              "level": int(d["level"])} for n, d in sorted(graph.nodes(data=True))]
    edges = [{"from": a, "to": b, "length_m": round(float(d["length_m"]), 3), "door": d.get("door")}
             for a, b, d in sorted(graph.edges(data=True), key=lambda e: (e[0], e[1]))]
    return {"nodes": nodes, "edges": edges}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else default_world_path()
    json.dump(world_json(load_world(path)), sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
