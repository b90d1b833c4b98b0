"""Single-lane corridors as people see them: nobody walks into one a robot is in or entering.

A lane (a mutex group of kind "lane") is too narrow for a robot and a person to pass. Met inside
it, one of the two must back out: the robot waits for the person, the person for the robot, and
after the person's patience they turn round and walk back along it, while the robot queued behind
the lane's reservation waits on (a visitor meeting the imaging robot half-way down the ground
spine held the patrol robot at its far end for 49 s). So a person about to enter a lane waits at
its mouth while a robot is in it or at either end, as people do at a narrow passage with a bed
coming through — but not for a robot behind them, following them in: a visitor who had reached
the mouth as the imaging robot came up behind stood there, in its way, each waiting for the other
for 45 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sim.world import World

#: a robot this close to a lane's centre line (its ends included) is in it or entering it
LANE_NEAR_M = 1.5
#: a person stops this far short of a lane's end node while it is taken
LANE_MOUTH_M = 1.8


@dataclass(frozen=True)
class _Lane:
    level: int
    ax: npt.NDArray[np.float64]  # its segments' starts and ends
    ay: npt.NDArray[np.float64]
    bx: npt.NDArray[np.float64]
    by: npt.NDArray[np.float64]


class PeopleLanes:
    def __init__(self, world: World) -> None:
        routes = world.routes.graph
        self._lanes: list[_Lane] = []
        #: node → index of the lane it belongs to
        self.lane_of: dict[str, int] = {}
        for group in sorted(world.mutex_groups.values(), key=lambda g: g.name):
            if group.kind != "lane":
                continue
            index = len(self._lanes)
            nodes = sorted(n for n in group.nodes if n in routes)
            if not nodes:
                continue
            segments: list[tuple[float, float, float, float]] = []
            seen: set[frozenset[str]] = set()
            for a in nodes:
                ax, ay = (float(v) for v in routes.nodes[a]["pos"])
                segments.append((ax, ay, ax, ay))  # a one-node lane is its node
                for b in (*routes.successors(a), *routes.predecessors(a)):
                    if b in group.nodes and frozenset((a, b)) not in seen:
                        seen.add(frozenset((a, b)))
                        bx, by = (float(v) for v in routes.nodes[b]["pos"])
                        segments.append((ax, ay, bx, by))
            arr = np.array(segments, dtype=np.float64)
            self._lanes.append(_Lane(group.level, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]))
            for node in nodes:
                self.lane_of[node] = index

    def __len__(self) -> int:
        return len(self._lanes)

    def near(self, robots_x_m: npt.NDArray[np.float64], robots_y_m: npt.NDArray[np.float64],
             robots_level: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Per lane and robot: whether the robot is in the lane or at one of its ends."""
        out = np.zeros((len(self._lanes), len(robots_x_m)), dtype=bool)
        for k, lane in enumerate(self._lanes):
            on = robots_level == lane.level
            if not on.any():
                continue
            px, py = robots_x_m[on][:, None], robots_y_m[on][:, None]
            dx, dy = lane.bx - lane.ax, lane.by - lane.ay
            seg2 = dx * dx + dy * dy
            t = np.clip(np.where(seg2 > 0, ((px - lane.ax) * dx + (py - lane.ay) * dy) / np.where(seg2 > 0, seg2, 1.0),
                                 0.0), 0.0, 1.0)
            gap = np.hypot(px - (lane.ax + t * dx), py - (lane.ay + t * dy))
            out[k, on] = (gap < LANE_NEAR_M).any(axis=1)
        return out
