"""From what the robot captured at a checkpoint to findings: category, severity, evidence.

Fire needs flickering flame colours in view; it is *confirmed* when the smoke sensor agrees
(the hospital's fire alarm is raised on a confirmed fire). Smoke without flames (a smouldering
fire, a burning motor) is its own finding. A camera that failed leaves the checks that need it
undone, never passed: `checked` says which categories were really looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hal.air_quality import AirQualityReading
from hal.leak_sensor import LeakReading
from hal.thermal_camera import ThermalFrame
from missions.events import Severity
from missions.security import thermal, vision

Image = npt.NDArray[np.uint8]

SMOKE_ALARM_PCT_PER_M = 2.0  # within UL 268's 1.6-13 %/m sensitivity band, towards the sensitive end
SEVERITY_RANK = {Severity.INFO: 0, Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}
#: a known hazard is reported again when it has grown by this factor
WORSE_FACTOR = 1.5


@dataclass
class Capture:
    frames: list[Image] = field(default_factory=list)
    thermal: ThermalFrame | None = None
    air: AirQualityReading | None = None
    leak: LeakReading | None = None


@dataclass(frozen=True)
class Finding:
    category: str
    severity: Severity
    magnitude: float  # comparable between laps for the same category ("got worse")
    summary: str
    data: dict[str, Any]
    evidence: Image | None = None


def is_worse(severity: Severity, magnitude: float, known_severity: str, known_magnitude: float) -> bool:
    rank, known_rank = SEVERITY_RANK[severity], SEVERITY_RANK.get(Severity(known_severity), 0)
    if rank != known_rank:
        return rank > known_rank
    return known_magnitude > 0 and magnitude >= WORSE_FACTOR * known_magnitude


def assess(cap: Capture, where: str, *, closed: bool, check_door: bool) -> tuple[list[Finding], set[str]]:
    """Findings at this checkpoint, and the categories that were actually checked."""
    findings: list[Finding] = []
    checked: set[str] = set()
    camera = bool(cap.frames)
    still = cap.frames[len(cap.frames) // 2] if camera else None
    if camera or cap.air is not None:
        checked |= {"fire", "smoke"}
        findings.extend(_fire_or_smoke(cap, where, still))
    if camera or cap.leak is not None:
        checked.add("water_leak")
        findings.extend(_leak(cap, where, still))
    if cap.thermal is not None:
        checked.add("hot_spot")
        if not any(f.category == "fire" for f in findings):  # a fire is hot by definition
            findings.extend(_hot_spot(cap.thermal, where))
    if camera and closed:
        checked.add("intrusion")
        box, fraction = vision.motion(cap.frames, ignore=vision.flames(cap.frames).mask)
        if box is not None and still is not None:
            findings.append(Finding(
                "intrusion", Severity.HIGH, 1.0,
                f"Intrusion at {where}: movement in a closed area after hours",
                {"moving_area_fraction": fraction},
                vision.annotate(still, [(box, "movement")]),
            ))
    if camera and check_door and still is not None:
        checked.add("door_open")
        doorway = vision.open_doorway(still)
        if doorway is not None:
            findings.append(Finding(
                "door_open", Severity.MEDIUM, 1.0, f"Door left open at {where}", {},
                vision.annotate(still, [(doorway, "open door")]),
            ))
    return findings, checked


def _fire_or_smoke(cap: Capture, where: str, still: Image | None) -> list[Finding]:
    smoke_pct = cap.air.smoke_obscuration_pct_per_m if cap.air is not None else None
    sensor_alarm = smoke_pct is not None and smoke_pct >= SMOKE_ALARM_PCT_PER_M
    flame = vision.flames(cap.frames)
    hot_c = cap.thermal.max_c if cap.thermal is not None else None
    data: dict[str, Any] = {
        "smoke_obscuration_pct_per_m": smoke_pct,
        "co_ppm": cap.air.co_ppm if cap.air is not None else None,
        "thermal_peak_c": round(hot_c, 1) if hot_c is not None else None,
    }
    if flame.found and still is not None and flame.box is not None:
        confirmed = sensor_alarm
        data |= {"confirmed": confirmed, "flame_area_fraction": flame.area_fraction, "flicker": flame.flicker}
        how = "flames in view and smoke sensor in alarm" if confirmed else "flames in view (smoke sensor clear)"
        return [Finding(
            "fire", Severity.CRITICAL if confirmed else Severity.HIGH, round(flame.area_fraction * 100, 3),
            f"Fire at {where}: {how}", data, vision.annotate(still, [(flame.box, "flames")]),
        )]
    if sensor_alarm and hot_c is not None and hot_c >= thermal.FIRE_MIN_C:
        data |= {"confirmed": False}  # the camera did not see it: staff must look
        return [Finding("fire", Severity.HIGH, 0.0, f"Fire suspected at {where}: smoke and {hot_c:.0f} °C in view",
                        data, still)]
    haze = vision.haze_level(still) if still is not None else None
    hazy = haze is not None and haze >= vision.HAZE_MIN_DARK_LEVEL
    if not (sensor_alarm or hazy):
        return []
    data |= {"haze_level": haze}
    severity = Severity.HIGH if sensor_alarm and hazy else Severity.MEDIUM
    magnitude = smoke_pct if sensor_alarm and smoke_pct is not None else (haze or 0.0) / 10.0
    what = " and ".join(x for x, on in (("smoke sensor in alarm", sensor_alarm), ("haze in view", hazy)) if on)
    return [Finding("smoke", severity, round(magnitude, 2), f"Smoke at {where}: {what}", data, still)]


def _leak(cap: Capture, where: str, still: Image | None) -> list[Finding]:
    box, area = vision.puddle(still) if still is not None else (None, 0.0)
    wet = cap.leak is not None and cap.leak.wet
    if not wet and box is None:
        return []
    data = {"moisture_fraction": cap.leak.moisture_fraction if cap.leak is not None else None,
            "puddle_area_fraction": area, "camera_confirmed": box is not None}
    severity = Severity.MEDIUM if wet else Severity.LOW
    magnitude = area * 100 if box is not None else (cap.leak.moisture_fraction if cap.leak is not None else 0.0)
    evidence = vision.annotate(still, [(box, "water")]) if still is not None and box is not None else still
    summary = f"Water leak at {where}: " + ("floor probe wet" if wet else "water on the floor in view")
    return [Finding("water_leak", severity, round(magnitude, 3), summary, data, evidence)]


def _hot_spot(frame: ThermalFrame, where: str) -> list[Finding]:
    spot = thermal.hot_spot(frame)
    if spot is None:
        return []
    major = spot.rise_c >= thermal.HOT_SPOT_MAJOR_RISE_C
    image = thermal.false_colour(frame)
    sx, sy = image.shape[1] / frame.width_px, image.shape[0] / frame.height_px
    x, y, w, h = spot.box
    box = (int(x * sx), int(y * sy), max(2, int(w * sx)), max(2, int(h * sy)))
    return [Finding(
        "hot_spot", Severity.HIGH if major else Severity.MEDIUM, round(spot.rise_c, 1),
        f"Hot spot at {where}: {spot.peak_c:.0f} °C, {spot.rise_c:.0f} °C over ambient",
        {"peak_c": spot.peak_c, "ambient_c": spot.ambient_c, "rise_c": round(spot.rise_c, 1)},
        vision.annotate(image, [(box, f"{spot.peak_c:.0f} C")]),
    )]


def summaries(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    return [{"category": f.category, "severity": f.severity.value, "magnitude": f.magnitude} for f in findings]
