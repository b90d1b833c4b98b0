"""The simulated lidar against a box of known size."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.lidar import default_scan_angles, raycast
from sim.occupancy import OccupancyGrid, Wall

RES_M = 0.1
THICK_M = 0.2


@pytest.fixture(scope="module")
def box() -> OccupancyGrid:
    """A 10 m × 6 m room: inner wall faces at x = 0.1, 9.9 and y = 0.1, 5.9."""
    corners = [(0.0, 0.0), (10.0, 0.0), (10.0, 6.0), (0.0, 6.0)]
    walls = [Wall(a, b, THICK_M) for a, b in zip(corners, corners[1:] + corners[:1], strict=True)]
    return OccupancyGrid.from_walls(walls, RES_M, (-2.0, -2.0, 14.0, 8.0))


def test_walls_are_rasterised_where_they_are(box: OccupancyGrid) -> None:
    assert not box.is_free(0.0, 3.0) and not box.is_free(5.0, 6.0)
    assert box.is_free(5.0, 3.0) and box.is_free(0.3, 3.0)
    assert not box.is_free(-50.0, 3.0)  # outside the grid is never free


@pytest.mark.parametrize("yaw_rad", [0.0, 0.7, -2.0])
def test_ranges_in_four_directions(box: OccupancyGrid, yaw_rad: float) -> None:
    x, y = 3.0, 2.0
    # Beams pointing east, north, west and south in the world, whatever the robot's heading.
    angles = np.array([0.0, math.pi / 2, math.pi, -math.pi / 2]) - yaw_rad
    ranges = raycast(box, x, y, yaw_rad, angles, range_max_m=20.0)
    expected = np.array([9.9 - x, 5.9 - y, x - 0.1, y - 0.1])
    assert ranges.dtype == np.float32
    np.testing.assert_allclose(ranges, expected, atol=1.5 * RES_M)


def test_beyond_range_is_inf(box: OccupancyGrid) -> None:
    angles = np.array([0.0, math.pi])
    ranges = raycast(box, 3.0, 2.0, 0.0, angles, range_max_m=4.0)
    assert math.isinf(ranges[0])  # east wall is 6.9 m away
    assert ranges[1] == pytest.approx(2.9, abs=1.5 * RES_M)


def test_rays_leaving_the_grid_are_inf() -> None:
    grid = OccupancyGrid.from_walls([((0.0, 0.0), (0.0, 1.0))], RES_M, (-1.0, -1.0, 3.0, 3.0))
    ranges = raycast(grid, 1.0, 0.5, 0.0, np.array([0.0, math.pi]), range_max_m=10.0)
    assert math.isinf(ranges[0])
    assert ranges[1] == pytest.approx(0.9, abs=1.5 * RES_M)


def test_full_scan_is_closed_and_finite_inside_the_box(box: OccupancyGrid) -> None:
    angles = default_scan_angles(360)
    ranges = raycast(box, 5.0, 3.0, 0.0, angles, range_max_m=12.0, step_m=0.05)
    assert ranges.shape == (360,)
    assert np.isfinite(ranges).all()
    assert ranges.min() == pytest.approx(2.9, abs=1.5 * RES_M)  # nearest walls: north and south


def test_default_scan_angles() -> None:
    angles = default_scan_angles(360)
    assert angles.shape == (360,)
    assert angles[0] == pytest.approx(-math.pi)
    assert angles[1] - angles[0] == pytest.approx(2 * math.pi / 360, rel=1e-4)
    assert angles[-1] < math.pi  # a full circle does not repeat its first beam
    narrow = default_scan_angles(5, fov_rad=math.pi)
    np.testing.assert_allclose(narrow, np.linspace(-math.pi / 2, math.pi / 2, 5), atol=1e-6)
    with pytest.raises(ValueError):
        default_scan_angles(0)
