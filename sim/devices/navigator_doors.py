"""The simulated navigator and the fire doors the alarm has shut.

A fire door released by the alarm is a shut door across the corridor: Nav2 would see it in its
costmap and plan round it, so the simulated navigator plans on the route graph without the shut
doors' edges (ground truth from the building model, as it reads other robots and people). A goal
planned before the alarm rang is planned again from where the robot stands once a door on the way
ahead shuts; with no way round, the goal fails and says which doors are shut — the mission decides
what next, as for any failed drive. Journeys through powered doors keep asking the door opener,
which refuses a fire door during the alarm (missions/journey.py).
"""

from __future__ import annotations

from hal.geometry import Pose2D
from sim.building_model import BuildingModel, existing_building_model
from sim.environment import SimEnvironment
from sim.path_following import Goal
from sim.routes import NoRoute, RouteGraph

Point = tuple[float, float]


class ShutDoors:
    """Which fire doors are shut now, for one navigator (the model is looked up until it exists)."""

    def __init__(self, env: SimEnvironment) -> None:
        self._env = env
        self._model: BuildingModel | None = None

    def now(self) -> frozenset[str]:
        if self._model is None:
            self._model = existing_building_model(self._env)
            if self._model is None:
                return frozenset()  # nothing has used the building: no alarm has rung
        return self._model.doors.fire_shut()


def way_round(routes: RouteGraph, goal: Goal, pose: Pose2D,
              shut: frozenset[str]) -> tuple[list[Point], list[str | None]] | str | None:
    """A new way (points, their route nodes) from `pose` to the goal when the way ahead passes one
    of the `shut` doors; None when it passes none; the failure reason when there is no way round."""
    door = routes.passes_door(goal.nodes[goal.segment:], shut)
    if door is None or goal.goal_node is None:
        return None
    try:
        points = list(routes.plan(pose.x_m, pose.y_m, goal.goal_node, pose.level, shut_doors=shut))
    except NoRoute:
        return (f"no way to {goal.name}: fire door {door} is shut by the alarm and there is no way round it "
                f"(shut: {', '.join(sorted(shut))})")
    nodes = routes.names_at(points, pose.level)
    if goal.nodes and goal.nodes[-1] is None:  # a pose goal: its pose after the node nearest it
        points.append(goal.path[-1])
        nodes.append(None)
    return points, nodes
