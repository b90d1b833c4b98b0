"""Occupancy grid rasterised from wall segments: what the lidar sees and what blocks a robot.

Cells are indexed `occupied[row, col]` with rows along +y and columns along +x (so row 0 is the
*southern* edge, as in a ROS `nav_msgs/OccupancyGrid`; renderers flip it to put north up).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

Point = tuple[float, float]
Bounds = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in metres

# cv2 draws with fixed-point coordinates: 4 fractional bits keep sub-cell wall positions.
_CV_SHIFT = 4
_CV_SCALE = 1 << _CV_SHIFT


@dataclass(frozen=True, slots=True)
class Wall:
    """A straight wall from `a` to `b`; `thickness_m` is its full width, centred on the segment."""

    a: Point
    b: Point
    thickness_m: float = 0.2
    level: int = 0

    @property
    def length_m(self) -> float:
        return math.hypot(self.b[0] - self.a[0], self.b[1] - self.a[1])


WallLike = Wall | tuple[Point, Point] | Sequence[Sequence[float]]


@dataclass(frozen=True, eq=False)
class OccupancyGrid:
    resolution_m: float
    origin_x_m: float  # world x of the outer edge of column 0
    origin_y_m: float  # world y of the outer edge of row 0
    occupied: npt.NDArray[np.bool_]  # shape (rows, cols)

    @property
    def rows(self) -> int:
        return int(self.occupied.shape[0])

    @property
    def cols(self) -> int:
        return int(self.occupied.shape[1])

    def bounds_m(self) -> Bounds:
        return (
            self.origin_x_m,
            self.origin_y_m,
            self.origin_x_m + self.cols * self.resolution_m,
            self.origin_y_m + self.rows * self.resolution_m,
        )

    def world_to_cell(self, x_m: float, y_m: float) -> tuple[int, int]:
        """`(row, col)` of the cell containing the point; may lie outside the grid (see `in_grid`)."""
        col = math.floor((x_m - self.origin_x_m) / self.resolution_m)
        row = math.floor((y_m - self.origin_y_m) / self.resolution_m)
        return row, col

    def cell_to_world(self, row: int, col: int) -> Point:
        """Centre of a cell, in metres."""
        return (
            self.origin_x_m + (col + 0.5) * self.resolution_m,
            self.origin_y_m + (row + 0.5) * self.resolution_m,
        )

    def in_grid(self, row: int, col: int) -> bool:
        return 0 <= row < self.rows and 0 <= col < self.cols

    def is_free(self, x_m: float, y_m: float) -> bool:
        """True inside the grid and not in a wall. Outside the mapped area counts as not free:
        a robot must never plan into the unknown."""
        row, col = self.world_to_cell(x_m, y_m)
        return self.in_grid(row, col) and not bool(self.occupied[row, col])

    def segment_is_free(self, a: Point, b: Point, *, step_m: float | None = None) -> bool:
        """True when every sample along a→b is free (line of sight at grid resolution)."""
        step = step_m if step_m is not None else self.resolution_m / 2
        n = max(2, math.ceil(math.hypot(b[0] - a[0], b[1] - a[1]) / step) + 1)
        t = np.linspace(0.0, 1.0, n)
        cols = np.floor((a[0] + (b[0] - a[0]) * t - self.origin_x_m) / self.resolution_m).astype(np.int64)
        rows = np.floor((a[1] + (b[1] - a[1]) * t - self.origin_y_m) / self.resolution_m).astype(np.int64)
        inside = (rows >= 0) & (rows < self.rows) & (cols >= 0) & (cols < self.cols)
        if not inside.all():
            return False
        return not bool(self.occupied[rows, cols].any())

    def inflated(self, radius_m: float) -> OccupancyGrid:
        """A copy with obstacles grown by `radius_m` (configuration space of a round robot)."""
        radius_cells = max(0, math.ceil(radius_m / self.resolution_m))
        if radius_cells == 0:
            return self
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius_cells + 1, 2 * radius_cells + 1))
        grown = cv2.dilate(self.occupied.astype(np.uint8), kernel) > 0
        return OccupancyGrid(self.resolution_m, self.origin_x_m, self.origin_y_m, grown)

    @classmethod
    def from_walls(
        cls,
        walls: Iterable[WallLike],
        resolution_m: float = 0.1,
        bounds: Bounds | None = None,
        thickness_m: float = 0.2,
    ) -> OccupancyGrid:
        """Rasterise walls. `thickness_m` applies to plain segments; a `Wall` keeps its own.

        `bounds` defaults to the walls' extent plus one metre, so rays leaving the building
        still travel a little before they leave the grid.
        """
        if resolution_m <= 0:
            raise ValueError(f"resolution_m must be > 0, got {resolution_m}")
        wall_list = [_as_wall(w, thickness_m) for w in walls]
        if bounds is None:
            bounds = _walls_bounds(wall_list, margin_m=1.0)
        xmin, ymin, xmax, ymax = bounds
        cols = max(1, math.ceil((xmax - xmin) / resolution_m))
        rows = max(1, math.ceil((ymax - ymin) / resolution_m))
        canvas = np.zeros((rows, cols), dtype=np.uint8)
        for wall in wall_list:
            # Pixel centres sit at integer cv2 coordinates, hence the half-cell shift.
            pa = _to_cv(wall.a, xmin, ymin, resolution_m)
            pb = _to_cv(wall.b, xmin, ymin, resolution_m)
            width_px = max(1, round(wall.thickness_m / resolution_m))
            cv2.line(canvas, pa, pb, 1, thickness=width_px, lineType=cv2.LINE_8, shift=_CV_SHIFT)
        return cls(resolution_m, xmin, ymin, canvas.astype(bool))


def _to_cv(p: Point, xmin: float, ymin: float, resolution_m: float) -> tuple[int, int]:
    return (
        round(((p[0] - xmin) / resolution_m - 0.5) * _CV_SCALE),
        round(((p[1] - ymin) / resolution_m - 0.5) * _CV_SCALE),
    )


def _as_wall(w: WallLike, thickness_m: float) -> Wall:
    if isinstance(w, Wall):
        return w
    a, b = w[0], w[1]
    return Wall((float(a[0]), float(a[1])), (float(b[0]), float(b[1])), thickness_m)


def _walls_bounds(walls: Sequence[Wall], margin_m: float) -> Bounds:
    if not walls:
        return (-margin_m, -margin_m, margin_m, margin_m)
    xs = [p[0] for w in walls for p in (w.a, w.b)]
    ys = [p[1] for w in walls for p in (w.a, w.b)]
    return (min(xs) - margin_m, min(ys) - margin_m, max(xs) + margin_m, max(ys) + margin_m)
