"""Conditions of the site that every mission may read (the building's alarms).

The robot owns one `SiteConditions` and updates it from the building (the fire panel via the
fleet manager on hardware; the simulator's incidents in `medbot sim`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SiteConditions:
    fire_alarm_active: bool = False
    fire_alarm_reason: str = ""
