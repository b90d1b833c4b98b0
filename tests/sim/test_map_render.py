"""Map and track rendering write deterministic PNGs."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from sim.map_render import render_map, render_tracks_png
from sim.world import World, load_one_floor_world


@pytest.fixture(scope="module")
def world() -> World:
    return load_one_floor_world()


def test_render_map_is_a_bgr_image_with_walls(world: World) -> None:
    img = render_map(world)
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype.name == "uint8"
    assert (img < 60).all(axis=2).sum() > 1000  # dark wall pixels were drawn


def test_tracks_png_written_and_deterministic(world: World, tmp_path: Path) -> None:
    tracks = {
        "robot-2": world.routes.plan(98.0, 30.0, "isolation-bed-01"),
        "robot-1": world.routes.plan(98.0, 30.0, "ward-b-bed-05"),
    }
    markers = [(50.0, 30.0, "e-stop"), (20.0, 45.5, "low battery")]
    first, second = tmp_path / "a" / "tracks.png", tmp_path / "b" / "tracks.png"
    render_tracks_png(world, tracks, first, markers=markers)
    render_tracks_png(world, dict(reversed(list(tracks.items()))), second, markers=markers)
    assert first.stat().st_size > 10_000
    assert first.read_bytes() == second.read_bytes()
    img = cv2.imread(str(first))
    assert img is not None and img.shape == render_map(world).shape


def test_tracks_change_the_picture(world: World, tmp_path: Path) -> None:
    empty, drawn = tmp_path / "empty.png", tmp_path / "drawn.png"
    render_tracks_png(world, {}, empty)
    render_tracks_png(world, {"r": [(10.0, 30.0), (90.0, 30.0)]}, drawn)
    assert empty.read_bytes() != drawn.read_bytes()
