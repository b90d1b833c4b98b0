"""The building around the robots: the fire panel's scheduled drills, and the fire team that
clears an alarm a robot's confirmed fire set off.

What the fleet does about an alarm (park every robot, hold the work, resume) is the fleet's
(`fleet/alarm.py`); the simulator only plays the panel: it rings at the drill times and, after a
robot confirmed a fire, is cleared by the fire team `fire_alarm_clear_after_min` later. The
building's own systems hear the panel too: `add_listener(fn)` (the building model's
`set_fire_alarm`: fire doors close, lifts go to fire service).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleet.demand.daily import DAY_S, minute_of_day
from missions.events import MissionEvent
from sim.hospital import FirePanel
from sim.scenario import BuildingSettings


def _time_of_day_s(day_start_s: float, run_start_s: float, hh_mm: str) -> float:
    """`hh_mm` on the sim's day (`day_start_s`, as the runner's happenings), or the next day's
    when that is before the run's start."""
    at_s = day_start_s + minute_of_day(hh_mm) * 60.0
    return at_s + DAY_S if at_s < run_start_s else at_s


class FirePanelSim:
    def __init__(self, settings: BuildingSettings, day_start_s: float, run_start_s: float,
                 fire_panel: FirePanel) -> None:
        self._panel = fire_panel
        self._clear_after_s = settings.fire_alarm_clear_after_min * 60.0
        #: (start, end, reason): drills, and fires once a robot confirms one
        self._windows: list[tuple[float, float, str]] = sorted(
            (start, start + alarm.duration_min * 60.0, alarm.reason)
            for alarm in settings.fire_alarms
            for start in [_time_of_day_s(day_start_s, run_start_s, alarm.at)]
        )
        self._ringing = False
        self._listeners: list[Callable[[bool], None]] = []

    def add_listener(self, listener: Callable[[bool], None]) -> None:
        """Called with True when the alarm rings and False when it is cleared (after the fleet's
        panel callback), e.g. `add_listener(building_model(env).set_fire_alarm)`."""
        self._listeners.append(listener)

    def on_event(self, event: MissionEvent) -> None:
        """A confirmed fire: the fleet raises the alarm itself on the robot's alert; the fire team
        arrives and clears it after its time."""
        confirmed = event.kind == "alert" and event.data.get("category") == "fire" and event.data.get("confirmed")
        already = any(start <= event.stamp_s < end for start, end, _ in self._windows)
        if confirmed and not already:
            self._windows.append((event.stamp_s, event.stamp_s + self._clear_after_s,
                                  f"fire confirmed by {event.robot_id}"))
            self._windows.sort()

    def step(self, now_s: float) -> None:
        window = next((w for w in self._windows if w[0] <= now_s < w[1]), None)
        if window is not None and not self._ringing:
            self._ringing = True
            self._panel(True, window[2])
            for listener in self._listeners:
                listener(True)
        elif window is None and self._ringing:
            self._ringing = False
            self._panel(False, "cleared by the fire team")
            for listener in self._listeners:
                listener(False)

    def information(self) -> dict[str, Any]:
        return {}

    def summary(self) -> dict[str, Any]:
        return {}
