"""What a security patrol robot's sensors see: seeded hazards at named places, and their rendering.

Every place of the world has a scene, drawn with OpenCV from a seed of its name so that it stays
still from frame to frame and lap to lap: a corridor or room (wall, door, electrical panel,
posters, floor) or the car park (pillars, parked cars, painted bays). On top of it, per frame:

- people walking through public areas during opening hours (07:00-20:00), and an intruder in a
  closed area when an intrusion is seeded;
- smoke haze, and flickering flame colours for a fire; a puddle for a water leak; the doorway
  showing the dark room beyond when a door is left open;
- camera noise, and a view that shifts with the distance the robot has driven (so only a robot
  standing still sees a still background, as MOG2 needs).

The thermal frame, the smoke/CO reading and the floor moisture at a pose agree with the same
hazards. Hazards can grow (`growth_per_h`): a leak spreads, a hot spot heats up.

A guided visitor (`add_visitor`) waits at a place, then follows the robot at their own pace and
may lag or wander off; a rear thermal camera sees them at their distance.

One `SecurityWorld` belongs to one `SimEnvironment` (`security_world_for(env)`), so the sim
devices built with the environment and the workload built after them share it.
"""

from __future__ import annotations

import enum
import math
import weakref
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from hal.geometry import Pose2D
from sim.camera_noise import add_sensor_noise
from sim.environment import SimEnvironment
from sim.patients import stable_int
from sim.world import Place, World

Image = npt.NDArray[np.uint8]
Thermal = npt.NDArray[np.float32]

#: a robot within this distance of a place sees that place's scene
SCENE_RADIUS_M = 2.0
OPEN_FROM_H, OPEN_UNTIL_H = 7.0, 20.0
PUBLIC_TAGS = frozenset({"outpatient", "corridor", "car_park"})
INDOOR_AMBIENT_C = 21.0
PERSON_HEIGHT_M = 1.7
VISITOR_MIN_GAP_M = 1.2
VISITOR_SIGHT_M = 12.0


class HazardKind(enum.StrEnum):
    FIRE = "fire"
    SMOKE = "smoke"
    WATER_LEAK = "water_leak"
    INTRUSION = "intrusion"
    HOT_SPOT = "hot_spot"
    DOOR_OPEN = "door_open"


@dataclass(frozen=True, slots=True)
class Hazard:
    kind: HazardKind
    place: str
    from_s: float
    until_s: float | None = None
    #: relative growth per hour (0.5: half as big again after an hour)
    growth_per_h: float = 0.0

    def active(self, now_s: float) -> bool:
        return now_s >= self.from_s and (self.until_s is None or now_s < self.until_s)

    def magnitude(self, now_s: float) -> float:
        return 1.0 + self.growth_per_h * max(0.0, now_s - self.from_s) / 3600.0


@dataclass
class SimVisitor:
    """A visitor to be guided: waits at `meet_place`, then walks after the robot that came for them
    at their own pace, keeping a polite distance; may wander off and never come back."""

    robot_id: str
    meet_place: str
    destination: str
    pace_mps: float
    #: after the robot has led them this far they stop following (None: never)
    wanders_off_after_m: float | None = None
    state: str = "waiting"  # waiting | following | gone
    x_m: float = 0.0
    y_m: float = 0.0
    led_m: float = 0.0
    _last_s: float = 0.0
    _last_odometer_m: float = 0.0


def hour_of_day(now_s: float) -> float:
    """Simulated local time of day (the simulator's day starts at midnight UTC)."""
    return (now_s % 86400.0) / 3600.0


def is_open_hours(now_s: float) -> bool:
    return OPEN_FROM_H <= hour_of_day(now_s) < OPEN_UNTIL_H


@dataclass
class _Layout:
    """The still parts of a place's scene, drawn once."""

    image: Image
    outdoor: bool
    door: tuple[int, int, int, int] | None  # x0, y0, x1, y1 in a 320 x 240 frame
    panel: tuple[int, int, int, int] | None
    warm_spots: list[tuple[int, int, int, int]] = field(default_factory=list)  # car bonnets


class SecurityWorld:
    def __init__(self, env: SimEnvironment) -> None:
        self.env = env
        self.world: World = env.world
        self._hazards: list[Hazard] = []
        self._layouts: dict[tuple[str, int, int], _Layout] = {}
        self.visitors: dict[str, SimVisitor] = {}

    # ---- hazards -----------------------------------------------------------------------------

    def add_hazard(self, hazard: Hazard) -> Hazard:
        self.world.place(hazard.place)  # an unknown place fails here, loudly
        self._hazards.append(hazard)
        return hazard

    def hazards(self) -> list[Hazard]:
        return list(self._hazards)

    def active(self, place: str, now_s: float) -> dict[HazardKind, Hazard]:
        found: dict[HazardKind, Hazard] = {}
        for hazard in self._hazards:
            if hazard.place == place and hazard.active(now_s):
                found[hazard.kind] = hazard
        return found

    def scene_place(self, pose: Pose2D) -> Place | None:
        best: Place | None = None
        best_d = SCENE_RADIUS_M
        for place in self.world.places.values():
            if place.level != pose.level:
                continue
            d = math.hypot(place.x_m - pose.x_m, place.y_m - pose.y_m)
            if d <= best_d:
                best, best_d = place, d
        return best

    def _nearby(self, pose: Pose2D, now_s: float, kinds: set[HazardKind], reach_m: float) -> list[tuple[Hazard, float]]:
        """Active hazards of these kinds within reach, with their distance from the pose."""
        out = []
        for hazard in self._hazards:
            if hazard.kind not in kinds or not hazard.active(now_s):
                continue
            place = self.world.places[hazard.place]
            d = math.hypot(place.x_m - pose.x_m, place.y_m - pose.y_m)
            if place.level == pose.level and d <= reach_m:
                out.append((hazard, d))
        return out

    # ---- point sensors -----------------------------------------------------------------------

    def air(self, pose: Pose2D, now_s: float, rng: np.random.Generator) -> tuple[float, float]:
        """(smoke obscuration %/m, CO ppm) at the pose."""
        smoke = abs(rng.normal(0.0, 0.08))
        co = abs(rng.normal(1.5, 0.8))
        zone = self.world.zone_at(pose.x_m, pose.y_m, pose.level)
        if zone is not None and zone.tag == "car_park" and is_open_hours(now_s):
            co += 8.0 + rng.uniform(0, 6)  # exhaust of cars coming and going
        for hazard, d in self._nearby(pose, now_s, {HazardKind.FIRE, HazardKind.SMOKE}, 15.0):
            falloff = math.exp(-d / 4.0)
            m = hazard.magnitude(now_s)
            if hazard.kind is HazardKind.FIRE:
                smoke += 9.0 * m * falloff
                co += 60.0 * m * falloff
            else:
                smoke += 4.5 * m * falloff
                co += 15.0 * m * falloff
        return round(smoke * (1 + rng.normal(0, 0.05)), 2), round(co, 1)

    def floor_moisture(self, pose: Pose2D, now_s: float) -> float:
        wet = 0.0
        for hazard, d in self._nearby(pose, now_s, {HazardKind.WATER_LEAK}, 6.0):
            radius_m = 1.5 * math.sqrt(hazard.magnitude(now_s))
            wet = max(wet, 1.0 if d <= radius_m else max(0.0, 1.0 - (d - radius_m)))
        return wet

    # ---- visitors ----------------------------------------------------------------------------

    def add_visitor(self, visitor: SimVisitor) -> SimVisitor:
        self.world.place(visitor.meet_place)
        self.world.place(visitor.destination)
        self.visitors[visitor.robot_id] = visitor
        return visitor

    def visitor_gap_m(self, robot_id: str, pose: Pose2D, odometer_m: float, now_s: float) -> float | None:
        """How far behind the robot its visitor walks; None when no visitor is in sight."""
        v = self.visitors.get(robot_id)
        if v is None:
            return None
        if v.state == "waiting":
            meet = self.world.places[v.meet_place]
            if math.hypot(meet.x_m - pose.x_m, meet.y_m - pose.y_m) > 2.5:
                return None
            # they stand a step back from where the robot stops, behind it
            back_m = 1.5
            v.state = "following"
            v.x_m, v.y_m = meet.x_m - back_m * math.cos(meet.yaw_rad), meet.y_m - back_m * math.sin(meet.yaw_rad)
            v._last_s, v._last_odometer_m = now_s, odometer_m
        if v.state != "following":
            return None
        dt_s = max(0.0, now_s - v._last_s)
        v.led_m += max(0.0, odometer_m - v._last_odometer_m)
        v._last_s, v._last_odometer_m = now_s, odometer_m
        if v.wanders_off_after_m is not None and v.led_m >= v.wanders_off_after_m:
            v.state = "gone"  # turned into a side corridor; never comes back
            return None
        gap = math.hypot(pose.x_m - v.x_m, pose.y_m - v.y_m)
        walk = min(v.pace_mps * dt_s, max(0.0, gap - VISITOR_MIN_GAP_M))
        if gap > 0 and walk > 0:
            v.x_m += (pose.x_m - v.x_m) * walk / gap
            v.y_m += (pose.y_m - v.y_m) * walk / gap
            gap -= walk
        return gap if gap <= VISITOR_SIGHT_M else None

    # ---- camera frames -----------------------------------------------------------------------

    def render_frame(
        self, pose: Pose2D, now_s: float, rng: np.random.Generator, *, width_px: int = 320, height_px: int = 240,
        shift_px: int = 0, noise_sigma: float = 3.0,
    ) -> Image:
        place = self.scene_place(pose)
        name = place.name if place is not None else f"transit-{round(pose.x_m / 4)}-{round(pose.y_m / 4)}"
        layout = self._layout(name, place, width_px, height_px)
        img = np.roll(layout.image, shift_px % width_px, axis=1) if shift_px else layout.image.copy()
        hazards = self.active(place.name, now_s) if place is not None else {}
        w, h = width_px, height_px
        if HazardKind.DOOR_OPEN in hazards and layout.door is not None:
            x0, y0, x1, y1 = layout.door
            cv2.rectangle(img, (x0, y0), (x1, y1), (22, 20, 20), -1)  # the unlit room beyond
            cv2.rectangle(img, (x0 + 3, int(y1 - 0.12 * (y1 - y0))), (x1 - 3, y1), (34, 32, 30), -1)
        if HazardKind.WATER_LEAK in hazards:
            m = math.sqrt(hazards[HazardKind.WATER_LEAK].magnitude(now_s))
            centre = (int(0.5 * w), int(0.86 * h))
            axes = (int(min(0.45, 0.2 * m) * w), int(min(0.12, 0.05 * m) * h))
            cv2.ellipse(img, centre, axes, 0, 0, 360, (150, 112, 72), -1)  # the sky-lit window in water
            cv2.ellipse(img, (centre[0] - axes[0] // 3, centre[1]), (axes[0] // 3, 2), 0, 0, 360, (225, 215, 205), -1)
        people = self._people(place, hazards, now_s)
        for i, speed in enumerate(people):
            _draw_person(img, _walk_x(now_s, speed, w, phase=0.37 * i), h, rng)
        if HazardKind.FIRE in hazards or HazardKind.SMOKE in hazards:
            alpha = 0.45 if HazardKind.FIRE in hazards else 0.35
            img = np.asarray(cv2.addWeighted(img, 1.0 - alpha, np.full_like(img, 175), alpha, 0.0), dtype=np.uint8)
        if HazardKind.FIRE in hazards:
            _draw_flames(img, w, h, rng, hazards[HazardKind.FIRE].magnitude(now_s))
        return add_sensor_noise(img, rng, noise_sigma)

    def _people(self, place: Place | None, hazards: dict[HazardKind, Hazard], now_s: float) -> list[float]:
        """Walking speeds (px/s, signed) of the people in view."""
        speeds: list[float] = []
        if HazardKind.INTRUSION in hazards:
            speeds.append(-38.0)
        if place is not None and is_open_hours(now_s):
            zone = self.world.zone_at(place.x_m, place.y_m, place.level)
            if zone is not None and zone.tag in PUBLIC_TAGS:
                # how many walk by changes every few minutes, deterministically
                n = stable_int(place.name, int(now_s // 240)) % 3
                speeds.extend([42.0, -30.0][:n])
        return speeds

    def _layout(self, name: str, place: Place | None, w: int, h: int) -> _Layout:
        key = (name, w, h)
        if key not in self._layouts:
            zone = self.world.zone_at(place.x_m, place.y_m, place.level) if place is not None else None
            rng = np.random.default_rng(stable_int("scene", self.env.seed, name))
            if zone is not None and zone.tag == "car_park":
                self._layouts[key] = _car_park_layout(rng, w, h)
            else:
                self._layouts[key] = _indoor_layout(rng, w, h)
        return self._layouts[key]

    # ---- thermal frames ----------------------------------------------------------------------

    def render_thermal(
        self, pose: Pose2D, now_s: float, rng: np.random.Generator, *, width_px: int = 160, height_px: int = 120,
        noise_sigma_c: float = 0.15,
    ) -> Thermal:
        place = self.scene_place(pose)
        name = place.name if place is not None else f"transit-{round(pose.x_m / 4)}-{round(pose.y_m / 4)}"
        layout = self._layout(name, place, 320, 240)
        sx, sy = width_px / 320.0, height_px / 240.0
        ambient = _outdoor_c(now_s) if layout.outdoor else INDOOR_AMBIENT_C
        yy = np.linspace(-0.6, 0.6, height_px, dtype=np.float32)[:, None]
        frame = np.full((height_px, width_px), ambient, dtype=np.float32) - yy  # warmer air near the ceiling

        def fill(box: tuple[int, int, int, int], temp_c: float) -> None:
            x0, y0, x1, y1 = box
            frame[int(y0 * sy):int(y1 * sy), int(x0 * sx):int(x1 * sx)] = temp_c

        if layout.panel is not None:
            fill(layout.panel, ambient + 4.0)  # a loaded distribution board runs a little warm
        if is_open_hours(now_s):
            for box in layout.warm_spots:
                fill(box, ambient + 12.0)  # bonnets of cars parked recently
        hazards = self.active(place.name, now_s) if place is not None else {}
        if HazardKind.HOT_SPOT in hazards and layout.panel is not None:
            x0, y0, x1, y1 = layout.panel
            cx, cy = int((x0 + x1) / 2 * sx), int((y0 + 0.35 * (y1 - y0)) * sy)
            peak = ambient + 38.0 * hazards[HazardKind.HOT_SPOT].magnitude(now_s)
            cv2.circle(frame, (cx, cy), max(2, int(5 * sx * 2)), float(ambient + 0.6 * (peak - ambient)), -1)
            cv2.circle(frame, (cx, cy), max(1, int(3 * sx * 2)), float(peak), -1)
        for i, speed in enumerate(self._people(place, hazards, now_s)):
            x = int(_walk_x(now_s, speed, 320, phase=0.37 * i) * sx)
            cv2.ellipse(frame, (x, int(0.58 * height_px)), (int(0.04 * width_px), int(0.22 * height_px)),
                        0, 0, 360, 31.0, -1)
        if HazardKind.FIRE in hazards:
            cv2.ellipse(frame, (int(0.62 * width_px), int(0.7 * height_px)),
                        (int(0.08 * width_px), int(0.14 * height_px)), 0, 0, 360, 320.0, -1)
        frame += rng.normal(0.0, noise_sigma_c, frame.shape).astype(np.float32)
        return frame

    def render_rear_thermal(
        self, robot_id: str, pose: Pose2D, odometer_m: float, now_s: float, rng: np.random.Generator,
        *, width_px: int = 160, height_px: int = 120, hfov_deg: float = 50.0, noise_sigma_c: float = 0.15,
    ) -> Thermal:
        """The view behind the robot: its visitor as a warm figure of the size their distance gives."""
        frame = np.full((height_px, width_px), INDOOR_AMBIENT_C, dtype=np.float32)
        gap = self.visitor_gap_m(robot_id, pose, odometer_m, now_s)
        if gap is not None:
            focal_px = (width_px / 2) / math.tan(math.radians(hfov_deg) / 2)
            tall_px = focal_px * PERSON_HEIGHT_M / max(gap, VISITOR_MIN_GAP_M)
            top, bottom = int(height_px / 2 - 0.55 * tall_px), int(height_px / 2 + 0.45 * tall_px)
            half_w = max(1, int(0.13 * tall_px))
            cx = width_px // 2
            cv2.rectangle(frame, (cx - half_w, max(0, top)), (cx + half_w, min(height_px - 1, bottom)), 31.5, -1)
        frame += rng.normal(0.0, noise_sigma_c, frame.shape).astype(np.float32)
        return frame


_WORLDS: weakref.WeakKeyDictionary[SimEnvironment, SecurityWorld] = weakref.WeakKeyDictionary()


def security_world_for(env: SimEnvironment) -> SecurityWorld:
    """The security layer of this environment (made on first use, kept as long as the env)."""
    found = _WORLDS.get(env)
    if found is None:
        found = _WORLDS[env] = SecurityWorld(env)
    return found


# ---- drawing ----------------------------------------------------------------------------------


def _outdoor_c(now_s: float) -> float:
    """A January day: 4 °C before dawn, 10 °C mid-afternoon."""
    return 7.0 - 3.0 * math.cos(2 * math.pi * (hour_of_day(now_s) - 3.0) / 24.0)


def _walk_x(now_s: float, speed_px_s: float, w: int, phase: float) -> int:
    span = w + 80
    pos = (abs(speed_px_s) * now_s + phase * span) % span - 40
    return int(pos if speed_px_s > 0 else w - pos)


def _draw_person(img: Image, x: int, h: int, rng: np.random.Generator) -> None:
    feet, tall = int(0.9 * h), int(0.55 * h)
    head_r = max(3, tall // 9)
    coat = (74, 78, 84)  # charcoal: neither puddle-blue nor doorway-black
    cv2.ellipse(img, (x, feet - tall // 2 + head_r), (tall // 7, tall // 2 - head_r), 0, 0, 360, coat, -1)
    cv2.circle(img, (x, feet - tall + head_r), head_r, (120, 140, 175), -1)
    step = int(rng.integers(-3, 4))
    cv2.line(img, (x - 4, feet - tall // 4), (x - 6 + step, feet), (60, 50, 45), 4)
    cv2.line(img, (x + 4, feet - tall // 4), (x + 6 - step, feet), (60, 50, 45), 4)


def _draw_flames(img: Image, w: int, h: int, rng: np.random.Generator, magnitude: float) -> None:
    base_x, base_y = int(0.62 * w), int(0.84 * h)
    size = min(1.8, magnitude) * 0.16 * h
    for colour, scale in (((0, 90, 240), 1.0), ((20, 170, 255), 0.7), ((140, 235, 255), 0.4)):
        pts = []
        for k in range(9):  # a flickering tongue: a new outline every frame
            a = math.pi * k / 8
            r = size * scale * (0.35 if k in (0, 8) else rng.uniform(0.6, 1.25))
            stretch = 1.0 + 1.4 * math.sin(a)
            pts.append((int(base_x + r * math.cos(a) * 0.7), int(base_y - r * math.sin(a) * stretch)))
        cv2.fillPoly(img, [np.array(pts, dtype=np.int32)], colour)


def _muted(rng: np.random.Generator) -> tuple[int, int, int]:
    """A poster colour that is neither flame-like nor puddle-like (low saturation)."""
    grey = int(rng.integers(110, 200))
    return tuple(int(np.clip(grey + rng.integers(-25, 26), 0, 255)) for _ in range(3))  # type: ignore[return-value]


def _indoor_layout(rng: np.random.Generator, w: int, h: int) -> _Layout:
    img = np.empty((h, w, 3), dtype=np.uint8)
    horizon = int(0.6 * h)
    wall = np.array([200, 212, 218]) + rng.integers(-12, 12, 3)
    img[:horizon] = wall.clip(0, 255)
    floor = np.array([148, 152, 150]) + rng.integers(-10, 10, 3)
    img[horizon:] = floor.clip(0, 255)
    for y in range(horizon + 6, h, 14):  # vinyl seams
        cv2.line(img, (0, y), (w, y), (int(floor[0]) - 14, int(floor[1]) - 14, int(floor[2]) - 14), 1)
    cv2.rectangle(img, (0, horizon - 5), (w, horizon), (60, 62, 64), -1)  # skirting
    cv2.rectangle(img, (int(0.3 * w), 4), (int(0.55 * w), 12), (250, 252, 252), -1)  # ceiling light
    dx = int(rng.integers(10, int(0.2 * w)))
    door = (dx, int(0.18 * h), dx + int(0.17 * w), horizon)
    cv2.rectangle(img, (door[0] - 3, door[1] - 3), (door[2] + 3, door[3]), (90, 95, 100), -1)  # frame
    cv2.rectangle(img, door[:2], door[2:], (70, 110, 160), -1)  # closed leaf (wood)
    cv2.circle(img, (door[2] - 7, (door[1] + door[3]) // 2), 2, (200, 200, 200), -1)
    px = int(rng.integers(int(0.72 * w), int(0.85 * w)))
    panel = (px, int(0.25 * h), px + int(0.1 * w), int(0.5 * h))
    cv2.rectangle(img, panel[:2], panel[2:], (175, 178, 180), -1)  # distribution board
    cv2.rectangle(img, panel[:2], panel[2:], (90, 90, 90), 1)
    for _ in range(2):
        x = int(rng.integers(int(0.3 * w), int(0.65 * w)))
        y = int(rng.integers(int(0.15 * h), int(0.3 * h)))
        cv2.rectangle(img, (x, y), (x + int(0.08 * w), y + int(0.12 * h)), _muted(rng), -1)
    # a red fire-extinguisher sign: red but not flame-coloured, and it never flickers
    sx = int(0.62 * w)
    cv2.rectangle(img, (sx, int(0.36 * h)), (sx + 10, int(0.44 * h)), (30, 30, 200), -1)
    return _Layout(img, outdoor=False, door=door, panel=panel)


def _car_park_layout(rng: np.random.Generator, w: int, h: int) -> _Layout:
    img = np.empty((h, w, 3), dtype=np.uint8)
    horizon = int(0.5 * h)
    img[:horizon] = (150, 152, 150)  # concrete deck above
    img[horizon:] = (72, 72, 74)  # asphalt
    for x in range(-40, w + 40, 70):  # painted bays: yellow lines that must not pass for flames
        cv2.line(img, (x + 30, horizon), (x, h), (40, 200, 230), 3)
    for x in (int(0.2 * w), int(0.75 * w)):
        cv2.rectangle(img, (x, 0), (x + 18, horizon + 10), (165, 168, 170), -1)  # pillars
    warm: list[tuple[int, int, int, int]] = []
    for i in range(int(rng.integers(1, 3))):
        x = int(0.08 * w + i * 0.5 * w + rng.integers(0, 30))
        body = (x, int(0.52 * h), x + int(0.3 * w), int(0.72 * h))
        colour = [(40, 40, 170), (190, 190, 195), (35, 35, 38)][int(rng.integers(0, 3))]
        cv2.rectangle(img, body[:2], body[2:], colour, -1)
        cv2.rectangle(img, (body[0] + 8, body[1] - 14), (body[2] - 8, body[1]), (50, 48, 46), -1)  # windows
        warm.append((body[0], body[1], body[0] + int(0.1 * w), body[1] + int(0.08 * h)))
    return _Layout(img, outdoor=True, door=None, panel=None, warm_spots=warm)
