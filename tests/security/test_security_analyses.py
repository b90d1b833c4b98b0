"""The checkpoint analyses on rendered scenes: each hazard found with the right category, and not
one false alarm on clean scenes over a seeded set of places, hours and seeds."""

from __future__ import annotations

import numpy as np
import pytest
from security_rig import at, hospital

from hal.air_quality import AirQualityReading
from hal.clock import SimClock
from hal.leak_sensor import LeakReading
from hal.thermal_camera import ThermalFrame
from missions.events import Severity
from missions.security import thermal, vision
from missions.security.assess import Capture, assess, is_worse
from missions.security.routes import CHECKPOINTS, ROUTES, route
from sim.environment import SimEnvironment
from sim.patients import PatientCensus
from sim.security_world import Hazard, HazardKind, SecurityWorld, security_world_for


def security(seed: int = 1) -> SecurityWorld:
    world = hospital()
    env = SimEnvironment(world, PatientCensus(seed, world.beds(), at(0)), SimClock(at(0)), seed)
    return security_world_for(env)


def capture(sw: SecurityWorld, place: str, now_s: float, rng: np.random.Generator, frames: int = 10) -> Capture:
    pose = sw.world.places[place].pose
    smoke, co = sw.air(pose, now_s, rng)
    moisture = sw.floor_moisture(pose, now_s)
    return Capture(
        frames=[sw.render_frame(pose, now_s + 0.5 * k, rng) for k in range(frames)],
        thermal=ThermalFrame(sw.render_thermal(pose, now_s, rng), now_s),
        air=AirQualityReading(smoke, co, now_s),
        leak=LeakReading(moisture, moisture >= 0.3, now_s),
    )


@pytest.mark.parametrize(
    ("kind", "place", "category"),
    [
        (HazardKind.FIRE, "kitchen", "fire"),
        (HazardKind.FIRE, "car-park-bay-2", "fire"),
        (HazardKind.SMOKE, "clinical-lab", "smoke"),
        (HazardKind.WATER_LEAK, "radiology-reception", "water_leak"),
        (HazardKind.HOT_SPOT, "central-supply", "hot_spot"),
        (HazardKind.DOOR_OPEN, "pharmacy", "door_open"),
        (HazardKind.INTRUSION, "outpatient-waiting", "intrusion"),
    ],
)
def test_each_hazard_is_found_with_its_category_and_evidence(kind: HazardKind, place: str, category: str) -> None:
    sw = security()
    now_s = at(2.5)  # night: the outpatient hall is closed
    sw.add_hazard(Hazard(kind, place, now_s - 60))
    findings, checked = assess(capture(sw, place, now_s, np.random.default_rng(3)), place,
                               closed=True, check_door=True)
    assert [f.category for f in findings] == [category]
    assert category in checked
    assert findings[0].evidence is not None and findings[0].evidence.ndim == 3


def test_a_fire_is_confirmed_only_when_the_smoke_sensor_agrees() -> None:
    sw = security()
    now_s = at(14)
    sw.add_hazard(Hazard(HazardKind.FIRE, "kitchen", now_s - 60))
    cap = capture(sw, "kitchen", now_s, np.random.default_rng(4))
    fire = assess(cap, "kitchen", closed=False, check_door=False)[0][0]
    assert fire.data["confirmed"] is True and fire.severity is Severity.CRITICAL
    cap.air = AirQualityReading(0.1, 2.0, now_s)  # the sensor does not smell it (yet)
    fire = assess(cap, "kitchen", closed=False, check_door=False)[0][0]
    assert fire.category == "fire" and fire.data["confirmed"] is False and fire.severity is Severity.HIGH


def test_no_false_alarm_on_clean_scenes_over_a_seeded_set() -> None:
    false_alarms = []
    for seed in (1, 2):
        sw = security(seed)
        rng = np.random.default_rng(seed)
        for hour in (2.0, 10.0):
            for name in sorted(set(ROUTES["night"])):
                cp = CHECKPOINTS[name]
                cap = capture(sw, cp.place, at(hour), rng, frames=6)
                findings, _ = assess(cap, cp.place, closed=cp.closed_at(hour), check_door=True)
                false_alarms += [(seed, hour, name, f.category) for f in findings]
    assert false_alarms == []


def test_motion_is_seen_by_day_and_by_night_but_only_a_closed_area_makes_it_an_intrusion() -> None:
    sw = security()
    place = "outpatient-waiting"
    day = capture(sw, place, at(11.0), np.random.default_rng(5))
    sw.add_hazard(Hazard(HazardKind.INTRUSION, place, at(2.0)))
    night = capture(sw, place, at(2.2), np.random.default_rng(5))
    busy_day = next(at(11.0) + 240 * k for k in range(20) if sw._people(sw.world.places[place], {}, at(11.0) + 240 * k))
    day = capture(sw, place, busy_day, np.random.default_rng(5))
    assert vision.motion(day.frames)[0] is not None  # people walking through the open hall
    assert vision.motion(night.frames)[0] is not None
    cp = CHECKPOINTS[place]
    assert not cp.closed_at(11.0) and cp.closed_at(2.2)
    assert assess(day, place, closed=cp.closed_at(11.0), check_door=False)[0] == []
    assert [f.category for f in assess(night, place, closed=cp.closed_at(2.2), check_door=False)[0]] == ["intrusion"]


def test_a_failed_camera_leaves_its_checks_undone_not_passed() -> None:
    sw = security()
    cap = capture(sw, "pharmacy", at(2.0), np.random.default_rng(6))
    cap.frames = []
    _, checked = assess(cap, "pharmacy", closed=True, check_door=True)
    assert "intrusion" not in checked and "door_open" not in checked
    assert {"fire", "smoke", "water_leak", "hot_spot"} <= checked


def test_hot_spot_needs_a_rise_over_ambient_and_an_absolute_heat() -> None:
    temps = np.full((120, 160), 8.0, dtype=np.float32)
    temps[50:58, 70:80] = 40.0  # a car bonnet on a cold night: 32 °C over ambient, still not a fault
    assert thermal.hot_spot(ThermalFrame(temps, 0.0)) is None
    temps[50:58, 70:80] = 75.0
    spot = thermal.hot_spot(ThermalFrame(temps, 0.0))
    assert spot is not None and spot.rise_c == pytest.approx(67.0) and spot.peak_c == 75.0


def test_worse_means_more_severe_or_half_as_big_again() -> None:
    assert is_worse(Severity.HIGH, 1.0, "medium", 5.0)
    assert is_worse(Severity.MEDIUM, 7.5, "medium", 5.0)
    assert not is_worse(Severity.MEDIUM, 7.0, "medium", 5.0)
    assert not is_worse(Severity.MEDIUM, 9.0, "high", 5.0)


def test_routes_name_known_places_and_the_night_route_covers_the_whole_car_park() -> None:
    places = hospital().places
    for name in ROUTES:
        assert all(cp.place in places for cp in route(name))
    assert {"car-park-bay-1", "car-park-bay-2", "car-park-bay-3"} <= set(ROUTES["night"])
    with pytest.raises(ValueError, match="known: day, night"):
        route("weekend")
