"""The map PNG of a multi-floor world: one panel per floor, tracks on their floor's panel."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sim.map_render import render_floors, render_map, render_tracks_png
from sim.world import World, load_one_floor_world, load_world

MULTI_FLOOR_PATH = Path(__file__).resolve().parents[2] / "sim" / "worlds" / "default_hospital.yaml"


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(MULTI_FLOOR_PATH)


def test_one_panel_per_floor_top_floor_first(world: World) -> None:
    img = render_floors(world)
    panel = render_map(world, level=0)
    assert img.shape == (3 * panel.shape[0], panel.shape[1], 3)
    height = panel.shape[0]
    for i, level in enumerate((1, 0, -1)):
        assert (img[i * height:(i + 1) * height] == render_map(world, level=level)).all(), level
    assert not (render_map(world, level=1) == render_map(world, level=-1)).all()


def test_panels_draw_lifts_stairs_and_fire_doors(world: World) -> None:
    bare = load_world(MULTI_FLOOR_PATH)
    object.__setattr__(bare, "stairs", [])
    assert not (render_map(world, level=0) == render_map(bare, level=0)).all()  # the stairs' treads
    img = render_map(world, level=-1)
    fire_red = (img[..., 2] > 150) & (img[..., 0] < 60) & (img[..., 1] < 60)
    assert fire_red.sum() > 20  # the fire doors' red leaves


def test_one_floor_world_renders_as_before() -> None:
    one_floor = load_one_floor_world()
    assert (render_floors(one_floor) == render_map(one_floor)).all()


def test_tracks_go_on_their_floor_and_are_deterministic(world: World, tmp_path: Path) -> None:
    ride = [(98.0, 30.0, 0), (60.0, 30.0, 0), (60.0, 40.5, 0), (60.0, 40.5, 1), (50.0, 30.0, 1), (50.0, 45.5, 1)]
    first, second, empty = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "empty.png"
    render_tracks_png(world, {"r1": ride, "r2": [(8.0, 36.0, -1), (50.0, 30.0, -1)]}, first,
                      markers=[(8.0, 36.0, "smoke", -1)])
    render_tracks_png(world, {"r2": [(8.0, 36.0, -1), (50.0, 30.0, -1)], "r1": ride}, second,
                      markers=[(8.0, 36.0, "smoke", -1)])
    render_tracks_png(world, {}, empty)
    assert first.read_bytes() == second.read_bytes()
    drawn, blank = cv2.imread(str(first)), cv2.imread(str(empty))
    assert drawn is not None and blank is not None and drawn.shape == render_floors(world).shape
    height = drawn.shape[0] // 3
    changed = [int(np.any(drawn[i * height:(i + 1) * height] != blank[i * height:(i + 1) * height]))
               for i in range(3)]
    assert changed == [1, 1, 1]  # first floor and ground (r1), basement (r2 and the marker)
    only_ground = tmp_path / "ground.png"
    render_tracks_png(world, {"r": [(60.0, 30.0, 0), (90.0, 30.0, 0)]}, only_ground)
    img = cv2.imread(str(only_ground))
    assert img is not None
    # the legend sits on the top panel; below it, only the ground floor's panel differs
    assert (img[2 * height:] == blank[2 * height:]).all()
    assert not (img[height:2 * height] == blank[height:2 * height]).all()
