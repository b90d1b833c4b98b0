"""Fire doors the alarm shuts: the route graph leaves their edges out, and the navigator plans round
them — also for a goal under way — or fails saying which door is shut when there is no way round."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hal.handle import HandleStatus
from hal.navigator import NavigationGoal
from sim.building_model import building_model
from sim.routes import NoRoute
from sim.world import World, load_world
from tests.sim.perception_rig import Rig, ring_world


def ring_with_fire_door(tmp_path: Path, *, north_way: bool = True) -> World:
    """The ring (a short southern way west → east, a longer northern one) with a fire door on the
    southern way, between `sw` and `south-mid`; without `north_way`, the northern way is gone."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    ring_world(tmp_path)
    ring = tmp_path / "ring.yaml"
    data = yaml.safe_load(ring.read_text(encoding="utf-8"))
    edges = data["routes"]["edges"]
    edges.remove(["sw", "south-mid"])
    if not north_way:
        edges.remove(["nw", "north-mid"])
    data["doors"] = [{"name": "south-fire", "between": ["sw", "south-mid"], "auto": False, "fire": True}]
    ring.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_world(ring)


def _ys(points: list[tuple[float, float]]) -> set[float]:
    return {round(y, 1) for _, y in points}


def test_the_route_graph_leaves_out_the_edges_of_shut_doors(tmp_path: Path) -> None:
    routes = ring_with_fire_door(tmp_path).routes
    assert 0.6 in _ys(routes.plan(1.5, 2.0, "east"))  # the short southern way, through the door
    assert 0.6 not in _ys(routes.plan(1.5, 2.0, "east", shut_doors={"south-fire"}))  # round by the north
    shut_in = ring_with_fire_door(tmp_path / "no-north", north_way=False).routes
    with pytest.raises(NoRoute, match="south-fire shut"):
        shut_in.plan(1.5, 2.0, "east", shut_doors={"south-fire"})


def test_a_robot_on_its_way_when_the_fire_door_ahead_shuts_goes_round_by_the_other_way(tmp_path: Path) -> None:
    rig = Rig(ring_with_fire_door(tmp_path))
    nav = rig.add("r1", "west")
    handle = nav.start_go_to(NavigationGoal(place="east"))
    for _ in range(10):  # under way, on the southern way
        rig.tick()
    assert rig.body("r1").pose.y_m < 2.5
    building_model(rig.env).set_fire_alarm(True)
    east_on_the_south_way, highest_y = 0.0, 0.0
    for _ in range(round(200.0 / rig.dt_s)):
        if handle.poll() is not HandleStatus.RUNNING:
            break
        rig.tick()
        pose = rig.body("r1").pose
        if pose.y_m < 1.2:
            east_on_the_south_way = max(east_on_the_south_way, pose.x_m)
        highest_y = max(highest_y, pose.y_m)
    assert handle.poll() is HandleStatus.SUCCEEDED, handle.error
    assert east_on_the_south_way < 3.0  # never through the door (sw → south-mid, x 1.5 → 10)
    assert highest_y > 8.0  # round by the northern way


def test_with_no_way_round_the_goal_fails_naming_the_shut_door(tmp_path: Path) -> None:
    rig = Rig(ring_with_fire_door(tmp_path, north_way=False))
    nav = rig.add("r1", "west")
    handle = nav.start_go_to(NavigationGoal(place="east"))
    for _ in range(10):
        rig.tick()
    building_model(rig.env).set_fire_alarm(True)
    rig.run_while(lambda: handle.poll() is HandleStatus.RUNNING, 30.0)
    assert handle.poll() is HandleStatus.FAILED
    assert "fire door south-fire is shut by the alarm" in (handle.error or "")
    # and a new goal through it is refused at once, with the same reason
    again = nav.start_go_to(NavigationGoal(place="east"))
    assert again.poll() is HandleStatus.FAILED and "south-fire shut" in (again.error or "")
