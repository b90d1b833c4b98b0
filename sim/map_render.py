"""Render a world (and robots' tracks) to an image, for reports and for eyeballing a world file.

Pure OpenCV drawing with fixed colours and no timestamps, so the same input gives the same PNG
bytes: a scenario's map can be diffed between runs. A world of several floors is drawn as one panel
per floor, stacked with the top floor at the top like a section of the building; every panel has the
same frame, so a lift's shaft sits at the same place in each.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from sim.world import World

Image = npt.NDArray[np.uint8]
Color = tuple[int, int, int]  # BGR

# Zone tints by tag (BGR), blended over white: cool for clinical areas, warm for services.
ZONE_COLORS: dict[str, Color] = {
    "ward": (230, 200, 150),
    "isolation": (150, 150, 240),
    "radiology": (220, 170, 220),
    "lab": (170, 220, 170),
    "pharmacy": (160, 230, 230),
    "supply": (190, 210, 230),
    "kitchen": (150, 200, 250),
    "car_park": (200, 200, 200),
    "corridor": (235, 235, 235),
    "outpatient": (210, 235, 200),
    "charging": (80, 220, 250),
}
TRACK_COLORS: tuple[Color, ...] = (
    (200, 60, 30), (30, 140, 30), (20, 20, 210), (160, 30, 160), (0, 140, 220),
    (140, 110, 0), (90, 90, 90), (0, 80, 160), (200, 0, 110), (40, 170, 170),
)
_WALL = (40, 40, 40)
_AUTO_DOOR = (60, 170, 60)
_MANUAL_DOOR = (40, 110, 190)
_BED = (160, 90, 40)
_DOCK = (0, 150, 230)
_PLACE = (90, 90, 90)
_MARKER = (0, 0, 220)
_FIRE_DOOR = (30, 30, 200)
_LIFT = (120, 60, 60)
_LIFT_FILL = (225, 205, 205)
_STAIRS = (110, 110, 110)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class _Frame:
    """Metres → pixels with north up (image rows grow southwards)."""

    def __init__(self, bounds: tuple[float, float, float, float], pixels_per_m: float, margin_px: int) -> None:
        self.xmin, self.ymin, xmax, ymax = bounds
        self.scale = pixels_per_m
        self.margin = margin_px
        self.width = round((xmax - self.xmin) * pixels_per_m) + 2 * margin_px
        self.height = round((ymax - self.ymin) * pixels_per_m) + 2 * margin_px
        self.ymax = ymax

    def px(self, x_m: float, y_m: float) -> tuple[int, int]:
        return (
            round((x_m - self.xmin) * self.scale) + self.margin,
            round((self.ymax - y_m) * self.scale) + self.margin,
        )


def render_map(world: World, *, level: int = 0, pixels_per_m: float = 8.0, labels: bool = True) -> Image:
    """BGR image of one level: zones tinted by tag, walls, doors, lifts, stairs, beds, docks and other
    places."""
    frame = _Frame(world.bounds_m(), pixels_per_m, margin_px=20)
    return _panel(world, level, frame, labels)


def render_floors(world: World, *, pixels_per_m: float = 8.0, labels: bool = True) -> Image:
    """One panel per floor, the top floor at the top (a one-floor world: that floor's `render_map`)."""
    return _render_floors(world, pixels_per_m, labels)[0]


def _render_floors(world: World, pixels_per_m: float, labels: bool) -> tuple[Image, _Frame, dict[int, int]]:
    """The stacked image, the panels' common frame and each level's row offset in pixels."""
    frame = _Frame(world.bounds_m(), pixels_per_m, margin_px=20)
    levels = sorted(world.levels, reverse=True)
    panels = [_panel(world, level, frame, labels) for level in levels]
    offsets = {level: i * frame.height for i, level in enumerate(levels)}
    return (panels[0] if len(panels) == 1 else np.vstack(panels)), frame, offsets


def _title(world: World, level: int) -> str:
    if len(world.levels) == 1:
        return world.name
    name = world.levels.get(level) or f"level {level}"
    return f"{world.name} - {name} (level {level})"


def _panel(world: World, level: int, frame: _Frame, labels: bool) -> Image:
    pixels_per_m = frame.scale
    img = np.full((frame.height, frame.width, 3), 255, dtype=np.uint8)

    # Zones largest first so a charging bay stays visible on top of its ward.
    for zone in sorted(world.zones, key=lambda z: (-z.area_m2, z.name)):
        if zone.level != level:
            continue
        pts = np.array([frame.px(x, y) for x, y in zone.polygon_m], dtype=np.int32)
        cv2.fillPoly(img, [pts], ZONE_COLORS.get(zone.tag, (220, 220, 220)))
    _draw_stairs(img, world, level, frame)
    _draw_lift_cars(img, world, level, frame)
    for wall in world.walls:
        if wall.level == level:
            width = max(1, round(wall.thickness_m * pixels_per_m))
            cv2.line(img, frame.px(*wall.a), frame.px(*wall.b), _WALL, width, cv2.LINE_AA)
    for door in world.doors.values():
        if door.level != level or door.x_m is None or door.y_m is None:
            continue
        a, b = world.routes.pos(door.node_a), world.routes.pos(door.node_b)
        length = max(1e-9, ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5)
        # Draw the leaf across the passage, i.e. along the wall it sits in.
        ux, uy = -(b[1] - a[1]) / length, (b[0] - a[0]) / length
        half = door.width_m / 2
        p1 = frame.px(door.x_m - ux * half, door.y_m - uy * half)
        p2 = frame.px(door.x_m + ux * half, door.y_m + uy * half)
        color = _FIRE_DOOR if door.fire else _AUTO_DOOR if door.auto else _MANUAL_DOOR
        cv2.line(img, p1, p2, color, 3 if door.fire else 2, cv2.LINE_AA)
    font_scale = max(0.25, pixels_per_m / 32)
    for place in sorted(world.places.values(), key=lambda p: p.name):
        if place.level != level:
            continue
        c = frame.px(place.x_m, place.y_m)
        if place.kind == "bed":
            cv2.circle(img, c, 3, _BED, -1, cv2.LINE_AA)
            text = place.bed_id or place.name
        elif place.kind == "dock":
            cv2.rectangle(img, (c[0] - 4, c[1] - 4), (c[0] + 4, c[1] + 4), _DOCK, -1)
            text = place.name
        elif place.kind in ("lift_lobby", "lift_car"):
            cv2.circle(img, c, 2, _LIFT, -1, cv2.LINE_AA)
            text = ""  # the lift's name is written on its shaft
        else:
            cv2.circle(img, c, 2, _PLACE, -1, cv2.LINE_AA)
            text = place.name if place.kind not in ("waypoint", "anteroom") else ""
        if labels and text:
            cv2.putText(img, text, (c[0] + 5, c[1] - 4), _FONT, font_scale, (30, 30, 30), 1, cv2.LINE_AA)
    if labels:
        for lift in sorted(world.lifts.values(), key=lambda lf: lf.name):
            if level in lift.levels:
                x, y = frame.px(lift.x_m, lift.y_m)
                cv2.putText(img, lift.name, (x - 14, y - 6), _FONT, font_scale, _LIFT, 1, cv2.LINE_AA)
        cv2.putText(img, _title(world, level), (frame.margin, frame.margin - 6), _FONT, 0.5, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return img


def _draw_lift_cars(img: Image, world: World, level: int, frame: _Frame) -> None:
    for lift in world.lifts.values():
        car = world.places.get(lift.cars.get(level, ""))
        door = world.doors.get(lift.doors.get(level, ""))
        if car is None or door is None or door.x_m is None or door.y_m is None:
            continue
        # The car's half-extents: the door sits on the shaft wall, so its offset gives one of them.
        half_x = max(abs(door.x_m - car.x_m), 1.0)
        half_y = max(abs(door.y_m - car.y_m), 1.0)
        p1, p2 = frame.px(car.x_m - half_x, car.y_m + half_y), frame.px(car.x_m + half_x, car.y_m - half_y)
        cv2.rectangle(img, p1, p2, _LIFT_FILL, -1)
        cv2.line(img, p1, p2, _LIFT, 1, cv2.LINE_AA)  # a cross marks a shaft, as on architects' plans
        cv2.line(img, (p1[0], p2[1]), (p2[0], p1[1]), _LIFT, 1, cv2.LINE_AA)


def _draw_stairs(img: Image, world: World, level: int, frame: _Frame) -> None:
    for stairs in world.stairs:
        if level not in stairs.levels:
            continue
        x0, x1 = stairs.x_m - stairs.width_m / 2, stairs.x_m + stairs.width_m / 2
        y0, y1 = stairs.y_m - stairs.depth_m / 2, stairs.y_m + stairs.depth_m / 2
        cv2.rectangle(img, frame.px(x0, y1), frame.px(x1, y0), (235, 235, 235), -1)
        # Treads across the longer side, 0.3 m apart like real steps.
        along_y = stairs.depth_m >= stairs.width_m
        n = max(1, int((stairs.depth_m if along_y else stairs.width_m) / 0.3))
        for i in range(1, n):
            if along_y:
                y = y0 + i * stairs.depth_m / n
                cv2.line(img, frame.px(x0, y), frame.px(x1, y), _STAIRS, 1)
            else:
                x = x0 + i * stairs.width_m / n
                cv2.line(img, frame.px(x, y0), frame.px(x, y1), _STAIRS, 1)
        cv2.rectangle(img, frame.px(x0, y1), frame.px(x1, y0), _STAIRS, 1)


TrackPoint = tuple[float, float] | tuple[float, float, int]
Marker = tuple[float, float, str] | tuple[float, float, str, int]


def render_tracks_png(
    world: World,
    tracks: dict[str, Sequence[TrackPoint]],
    path: Path,
    *,
    markers: Sequence[Marker] = (),
    level: int = 0,
    pixels_per_m: float = 8.0,
) -> None:
    """Write a PNG of the map with each robot's track (sorted by robot name for stable colours),
    a legend, and labelled markers such as alerts. Raises OSError if the file cannot be written.

    A world of one floor is drawn as `render_map(level=level)`; a world of several as
    `render_floors`, each track point `(x, y, level)` on its floor's panel (a point without a level
    is on `level`), the track broken where it changes floor."""
    if len(world.levels) == 1:
        img, frame = render_map(world, level=level, pixels_per_m=pixels_per_m), _Frame(
            world.bounds_m(), pixels_per_m, margin_px=20)
        offsets = {lv: 0 for lv in world.levels} | {level: 0}
    else:
        img, frame, offsets = _render_floors(world, pixels_per_m, labels=True)

    def px(x_m: float, y_m: float, on_level: int) -> tuple[int, int] | None:
        if on_level not in offsets:
            return None
        x, y = frame.px(x_m, y_m)
        return (x, y + offsets[on_level])

    names = sorted(tracks)
    for i, name in enumerate(names):
        color = TRACK_COLORS[i % len(TRACK_COLORS)]
        runs: list[list[tuple[int, int]]] = []
        last_level: int | None = None
        for point in tracks[name]:
            on_level = point[2] if len(point) == 3 else level
            p = px(point[0], point[1], on_level)
            if p is None:
                continue
            if on_level != last_level:
                runs.append([])
                last_level = on_level
            runs[-1].append(p)
        for run in runs:
            if len(run) >= 2:
                cv2.polylines(img, [np.array(run, dtype=np.int32)], False, color, 2, cv2.LINE_AA)
        if runs:
            cv2.circle(img, runs[0][0], 5, color, 2, cv2.LINE_AA)  # start: ring
            cv2.circle(img, runs[-1][-1], 5, color, -1, cv2.LINE_AA)  # end: disc
    for marker in markers:
        x_m, y_m, label = marker[0], marker[1], marker[2]
        p = px(x_m, y_m, marker[3] if len(marker) == 4 else level)
        if p is None:
            continue
        cx, cy = p
        triangle = np.array([(cx, cy - 7), (cx - 6, cy + 5), (cx + 6, cy + 5)], dtype=np.int32)
        cv2.fillPoly(img, [triangle], _MARKER, cv2.LINE_AA)
        cv2.putText(img, "!", (cx - 2, cy + 4), _FONT, 0.3, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(img, label, (cx + 8, cy + 4), _FONT, 0.35, _MARKER, 1, cv2.LINE_AA)
    _draw_legend(img, names)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img):
        raise OSError(f"could not write PNG to {path}")


def _draw_legend(img: Image, names: list[str]) -> None:
    if not names:
        return
    row_h, x0, y0 = 16, 30, 34
    width = 40 + 8 * max(len(n) for n in names)
    cv2.rectangle(img, (x0 - 6, y0 - 12), (x0 + width, y0 + row_h * len(names) - 6), (255, 255, 255), -1)
    cv2.rectangle(img, (x0 - 6, y0 - 12), (x0 + width, y0 + row_h * len(names) - 6), (0, 0, 0), 1)
    for i, name in enumerate(names):
        y = y0 + i * row_h
        color = TRACK_COLORS[i % len(TRACK_COLORS)]
        cv2.line(img, (x0, y - 4), (x0 + 20, y - 4), color, 3)
        cv2.putText(img, name, (x0 + 26, y), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
